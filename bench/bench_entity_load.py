"""Load a per-entity model's panel frame from a real Prometheus: 300 entities x 5 metrics, 168 h at
60 s (15.1 M samples), against the time Prometheus itself takes for the same queries.

A Prometheus (Debian's) is started on a TSDB backfilled with promtool: 5 gauges `bench:metric_k`,
one series per `instance`. Measured, each in a fresh child process (wall time; peak resident
memory added by the load, peak RSS minus RSS before it):

  http       baseline: the loader's 5 grouped query_range requests (`avg by (instance) (...)`),
             same concurrency (4 in flight), each body read whole; nothing parsed
  panel      `fetch_real_panel`: the requests, parsing, splitting by entity onto the grid, gap
             filling: the real values per entity
  training   `load_training_frame` (DATA_SOURCE=prometheus): the panel plus the per-entity quality
             checks, injected events and the long frame with `untouched` and `row_source`

Goals (issue 13): panel/http time <= 2, panel memory <= 2 x the frame's float64 size
(rows x metrics x 8 bytes). Prints the median of --repeat runs. `training` returns, besides the
frame's floats, `untouched` (a second copy), per row the entity labels twice, anomaly_kind and
row_source (8-byte references each), is_anomaly and the index: 121 bytes a row with 5 metrics,
3.0 x the float64 size, before anything held while it is built.

    .venv/bin/python bench/bench_entity_load.py [--repeat 3] [--quick]

--quick (run by `make test`): 30 entities x 24 h, one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from memory import peak_rss_mb, rss_mb  # bench/memory.py: the script's folder is on sys.path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STEP = 60
METRICS = 5
MODEL = "bench-entities"


def registry(folder: Path) -> Path:
    import yaml

    metrics = [{"name": f"metric_{k}", "query": f"bench:metric_{k}", "aggregate": "mean", "unit": "ratio"} for k in range(METRICS)]
    entry = {"name": MODEL, "kind": "anomaly-detector", "notebook": "notebooks/bench.ipynb", "schedule": "0 2 * * 0",
             "dataSource": "prometheus", "trainingHours": 168, "entity": ["instance"], "metrics": metrics,
             "features": [m["name"] for m in metrics], "thresholds": {"minEvents": 1}}
    path = folder / "registry.yaml"
    path.write_text(yaml.safe_dump({"models": [entry]}))
    return path


def backfill(folder: Path, entities: int, hours: int, end: int) -> None:
    """`hours` of every series up to `end` into folder/data, one OpenMetrics file per day, in parallel."""
    import numpy as np

    def day_file(day: int) -> Path:
        start = end - hours * 3600 + STEP + day * 86400
        stop = min(start + 86400, end + STEP)
        seconds = np.arange(start, stop, STEP)
        stamps = seconds.astype(str)
        path = folder / f"day-{day}.om"
        with path.open("w") as out:
            for k in range(METRICS):
                out.write(f"# TYPE bench:metric_{k} gauge\n")
                for entity in range(entities):
                    values = 0.3 + 0.01 * entity % 0.4 + 0.1 * np.sin(seconds / 86400 * 2 * np.pi + k) + 0.01 * np.cos(seconds * (entity + 1))
                    prefix = f'bench:metric_{k}{{instance="node-{entity:04d}"}} '
                    out.write("".join(f"{prefix}{v:.6f} {t}\n" for v, t in zip(values.tolist(), stamps)))
            out.write("# EOF\n")
        return path

    def convert(day: int) -> None:
        path = day_file(day)
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(path), str(folder / "data")],
                       check=True, capture_output=True)
        path.unlink()

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(convert, range(-(-hours // 24))))


def start_prometheus(folder: Path) -> tuple[subprocess.Popen, str]:
    sys.path.insert(0, str(PROJECT_ROOT / "tests"))
    from fixtures.prometheus import free_port
    from fixtures.readiness import wait_ready

    (folder / "prometheus.yml").write_text("global: {}\n")
    port = free_port()
    process = subprocess.Popen(["prometheus", f"--config.file={folder / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{port}",
                                f"--storage.tsdb.path={folder / 'data'}", "--storage.tsdb.retention.time=90d",
                                "--storage.tsdb.max-block-duration=2h",  # no background compaction of the backfilled blocks
                                "--log.level=warn"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, f"{url}/-/ready", "the bench's Prometheus", timeout=120)
    return process, url


def child(approach: str, url: str, registry_path: str, end: int, hours: int) -> None:
    import numpy  # noqa: F401  (imports outside the measured load, the same for every approach)
    import pandas  # noqa: F401
    import requests

    from modelkit.data import load_training_frame
    from modelkit.data.grid import make_grid
    from modelkit.data.promql import feature_query
    from modelkit.data.real import fetch_real_panel
    from modelkit.registry import load_registry
    from modelkit.settings import Settings

    spec = load_registry(Path(registry_path))[MODEL]
    settings = Settings.from_env({"MODEL_NAME": MODEL, "DATA_SOURCE": "prometheus", "TRAINING_HOURS": str(hours), "PROMETHEUS_URL": url,
                                 "PROMETHEUS_TIMEOUT_SECONDS": "300"})  # a week of 300 series: Prometheus computes it whole first
    grid = make_grid(hours, STEP, end)
    before = rss_mb()
    began = time.perf_counter()
    if approach == "http":
        session = requests.Session()
        form = lambda m: {"query": feature_query(m, STEP, spec.entity), "start": str(grid.start_seconds),  # noqa: E731
                          "end": str(grid.end_seconds), "step": f"{STEP}s"}
        with ThreadPoolExecutor(max_workers=4) as pool:
            sizes = list(pool.map(lambda m: len(session.post(f"{url}/api/v1/query_range", data=form(m), timeout=300).content), spec.metrics))
        rows, detail = 0, {"body_mb": round(sum(sizes) / 2**20, 1)}
    elif approach == "panel":
        entities = fetch_real_panel(spec, settings, "prometheus", grid, None, None, {"fallbacks": []})
        rows, detail = sum(len(e.values) for e in entities), {"entities": len(entities)}
    else:
        loaded = load_training_frame(spec, settings, end=end)
        rows, detail = len(loaded.frame), {"entities": loaded.provenance["entities"]["count"]}
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "peak_added_mb": peak_rss_mb() - before, "rows": rows, **detail}))


def run_child(approach: str, url: str, registry_path: Path, end: int, hours: int) -> dict:
    command = [sys.executable, __file__, "--child", approach, "--url", url, "--registry", str(registry_path), "--end", str(end), "--hours", str(hours)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"{approach} run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


APPROACHES = ("http", "panel", "training")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--entities", type=int, default=300)
    parser.add_argument("--hours", type=int, default=168)
    parser.add_argument("--quick", action="store_true", help="30 entities x 24 h, one run")
    parser.add_argument("--child", choices=APPROACHES)
    parser.add_argument("--url")
    parser.add_argument("--registry")
    parser.add_argument("--end", type=int)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.registry, args.end, args.hours)
        return
    if args.quick:
        args.entities, args.hours, args.repeat = 30, 24, 1
    end = int(time.time()) // 3600 * 3600 - 3600
    with tempfile.TemporaryDirectory(prefix="bench-entities-") as name:
        folder = Path(name)
        began = time.perf_counter()
        backfill(folder, args.entities, args.hours, end)
        process, url = start_prometheus(folder)
        print(f"Prometheus with {args.entities} entities x {METRICS} metrics x {args.hours} h ready in {time.perf_counter() - began:.0f} s")
        try:
            path = registry(folder)
            results: dict[str, list[dict]] = {name: [] for name in APPROACHES}
            for _ in range(args.repeat):
                for approach in APPROACHES:  # alternate, so each sees the same server state
                    results[approach].append(run_child(approach, url, path, end, args.hours))
        finally:
            process.terminate()
            process.wait(timeout=30)
    rows = results["panel"][0]["rows"]
    float_mb = rows * METRICS * 8 / 2**20
    print(f"\n{results['panel'][0]['entities']} entities x {METRICS} metrics x {args.hours} h at {STEP} s = {rows} rows, "
          f"float64 size {float_mb:.1f} MB; {results['http'][0]['body_mb']} MB of JSON; median of {args.repeat} runs")
    print(f"{'approach':<10} {'wall s':>8} {'peak MB added':>14}")
    summary = {}
    for approach, runs in results.items():
        summary[approach] = (statistics.median(r["seconds"] for r in runs), statistics.median(r["peak_added_mb"] for r in runs))
        print(f"{approach:<10} {summary[approach][0]:>8.2f} {summary[approach][1]:>14.1f}")
    http_s = summary["http"][0]
    for approach in ("panel", "training"):
        seconds, megabytes = summary[approach]
        print(f"{approach}: time {seconds / http_s:.2f}x the raw HTTP queries (baseline: http; goal <= 2), "
              f"memory {megabytes / float_mb:.2f}x the frame's float64 size (goal <= 2)")


if __name__ == "__main__":
    main()
