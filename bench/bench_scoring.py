"""The live scorer's cost (`modelkit watch`): scoring cycles against the test Prometheus
(tests/fixtures: real Prometheus with 31 days of history, TLS and the bearer-token proxy), with
the two default models trained on synthetic data and promoted in a temporary models root, then
20 and 200 models (registry copies of the two, served files hard-linked, each loaded on its own).

Figures: cycle wall time p50 (Prometheus queries, drift windows included), the scorer's CPU per
cycle as a share of one core at the 60 s interval, and the peak RSS of a
`modelkit watch --once` process for 2 and 200 models. Baseline:
the 2-model cycle p50; the 20- and 200-model cycles are given as ratios to it (linear = 10x, 100x).
Targets: 2-model p50 < 200 ms, CPU < 1 % of a core, about linear, RSS < 300 MiB.

Per-entity case (issue 13): one per-node detector over a fleet of 1,000 nodes (bench/entity_fleet.py:
three gauges per node in a second real Prometheus), one row per node per cycle: cycle p50 (the
grouped queries, the panel's completion, features per node, one batched prediction, 3,000+ series
exported) against the same 2-model baseline, and against a 10-node fleet of the same model.
Target: < 2 s for 1,000 nodes.

    .venv/bin/python bench/bench_scoring.py [--cycles 20] [--entities 1000] [--quick]

--quick (run by `make test`): 5 cycles of 2 models, 2 of 20, 1 of 200; 3 of each fleet.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
INTERVAL = 60


def copies(base: Path, root: Path, registry: Path, count: int) -> tuple[Path, Path]:
    """A registry of `count` models (copies of the two trained ones) and their models root."""
    entries = yaml.safe_load(registry.read_text())["models"]
    target_root, target_entries = base / f"models-{count}", []
    for i in range(count):
        entry = dict(json.loads(json.dumps(entries[i % 2])), name=f"{entries[i % 2]['name'][:20]}-{i}")  # no shared objects: no YAML aliases
        target_entries.append(entry)
        shutil.copytree(root / entries[i % 2]["name"], target_root / entry["name"], copy_function=os.link)
    target = base / f"registry-{count}.yaml"
    target.write_text(yaml.safe_dump({"models": target_entries}))
    return target_root, target


def scorer_peak_rss_mib(server, root: Path, registry: Path) -> float:
    """Peak RSS of a real `modelkit watch --once` process (one cycle, every model loaded)."""
    from datetime import datetime, timezone

    end = datetime.fromtimestamp(server.history_end, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "MODELKIT_"))}, **server.env(),
           "MODELKIT_REGISTRY": str(registry), "DATA_END": end}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "modelkit.cli", "watch", "--once", "--models-root", str(root)], env=env,
                   check=True, capture_output=True, timeout=600)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        raise SystemExit("could not measure the scorer's RSS: an earlier child used more")
    return peak / 1024


def measure(prometheus_env: dict[str, str], end: float, root: Path, registry: Path, cycles: int) -> tuple[float, float]:
    """(p50 wall seconds, CPU seconds per cycle) of steady-state cycles (after one warm-up cycle that loads the models)."""
    from modelkit.registry import load_registry
    from modelkit.scoring.cli import prometheus_source
    from modelkit.scoring.scorer import Scorer, ScorerConfig
    from modelkit.settings import Settings

    settings = Settings.from_env({**prometheus_env, "MODEL_NAME": "bench"})
    scorer = Scorer(list(load_registry(registry).values()), ScorerConfig(root), prometheus_source(settings), clock=lambda: end)
    scorer.cycle()
    walls, cpu_began = [], time.process_time()
    for _ in range(cycles):
        began = time.perf_counter()
        scorer.cycle()
        walls.append(time.perf_counter() - began)
    errors = [line for line in scorer.metrics.text().splitlines() if line.startswith("modelkit_scoring_errors_total")]
    if errors:
        raise SystemExit(f"scoring errors during the bench: {errors[:3]}")
    return statistics.median(walls), (time.process_time() - cpu_began) / cycles


def measure_fleet(folder: Path, nodes: int, cycles: int) -> tuple[float, float]:
    """(p50 wall seconds, CPU seconds) of a cycle of the per-node detector over `nodes` nodes."""
    from entity_fleet import backfill, promote_detector, write_registry
    from fixtures.prometheus import start_prometheus
    from fixtures.tls import make_pki

    folder.mkdir(parents=True)
    end = int(time.time()) // 60 * 60
    backfill(folder / "prometheus" / "data", folder / "input", nodes, end)
    pki = make_pki(folder)
    process, url = start_prometheus(folder / "prometheus", pki)
    try:
        registry = write_registry(folder / "registry.yaml")
        os.environ["MODELKIT_REGISTRY"] = str(registry)
        promote_detector(folder / "models", nodes)
        return measure({"PROMETHEUS_URL": url, "PROMETHEUS_CA_BUNDLE": str(pki.ca_cert)}, end, folder / "models", registry, cycles)
    finally:
        process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--entities", type=int, default=1000, help="nodes of the per-entity case (default 1000)")
    args = parser.parse_args()
    plan = {2: 5, 20: 2, 200: 1} if args.quick else {2: args.cycles, 20: max(3, args.cycles // 4), 200: 3}

    sys.path[:0] = [str(PROJECT_ROOT / "tests"), str(PROJECT_ROOT / "bench")]
    from fixtures.prometheus import missing_binaries, start_server
    from lifecycle.factory import DETECTOR, FORECASTER, write_test_registry
    from scoring.conftest import train_and_promote

    if missing_binaries():
        raise SystemExit(f"needs {', '.join(missing_binaries())} (Debian packages)")
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as folder:
        base = Path(folder)
        server = start_server(base)
        try:
            registry = write_test_registry(base / "registry.yaml")
            os.environ["MODELKIT_REGISTRY"] = str(registry)
            root = base / "models"
            for model in (DETECTOR, FORECASTER):
                train_and_promote(root, registry, model, "v1")
            results, rss = {}, {}
            for count, cycles in plan.items():
                model_root, model_registry = (root, registry) if count == 2 else copies(base, root, registry, count)
                results[count] = measure(server.env(), server.history_end, model_root, model_registry, cycles)
                if count in (2, 200):  # ru_maxrss of children is a maximum over all of them: smallest first
                    rss[count] = scorer_peak_rss_mib(server, model_root, model_registry)
            fleets = {nodes: measure_fleet(base / f"fleet-{nodes}", nodes, 3 if args.quick else args.cycles)
                      for nodes in (10, args.entities)}
        finally:
            server.stop()
    wall_2, cpu_2 = results[2]
    print(f"baseline: 2-model cycle p50 {wall_2 * 1000:.0f} ms (target < 200 ms)")
    print(f"  CPU per cycle {cpu_2 * 1000:.0f} ms = {100 * cpu_2 / INTERVAL:.2f} % of a core at a {INTERVAL} s interval (target < 1 %)")
    for count in (20, 200):
        wall, cpu = results[count]
        print(f"  {count} models: cycle p50 {wall * 1000:.0f} ms = {wall / wall_2:.1f}x baseline (linear {count // 2}x), "
              f"CPU {100 * cpu / INTERVAL:.2f} % of a core")
    print(f"  scorer peak RSS (`modelkit watch --once`): 2 models {rss[2]:.0f} MiB (target < 300 MiB), "
          f"200 models {rss[200]:.0f} MiB (every served model stays loaded)")
    small, large = fleets[10], fleets[args.entities]
    print(f"  per-node detector, {args.entities} nodes: cycle p50 {large[0] * 1000:.0f} ms (target < 2000 ms) = "
          f"{large[0] / wall_2:.1f}x baseline, {large[0] / small[0]:.1f}x the 10-node fleet ({small[0] * 1000:.0f} ms; "
          f"linear {args.entities // 10}x), CPU {100 * large[1] / INTERVAL:.2f} % of a core")


if __name__ == "__main__":
    main()
