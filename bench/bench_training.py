"""Training cost of the two default models, what running them as notebooks adds, and a per-entity model.

    .venv/bin/python bench/bench_training.py [--hours 24 168 720] [--repeat 2] [--quick]
                                             [--entities 300] [--entity-hours 168]

For each model and window: wall time and peak memory (max RSS) of one complete training
run called directly from Python (load synthetic data, fit, evaluate, write the version),
each in a fresh process. Then the same 24 h run through `modelkit run-notebook` (kernel,
plots, HTML report). Ratios are against named baselines: the 24 h direct run for the
window sweep, the direct call for the notebook overhead. --quick (run by `make test`):
24 and 48 h, one run each, the notebook overhead of the anomaly detector only.

The entity case trains a per-node variant of the default detector (`entity: [instance]`, its
pod CPU/request metric broadcast, the registry example in docs/ARCHITECTURE.md) on synthetic
data of --entities nodes over --entity-hours (issue 13's target: 300 nodes x 5 metrics, 168 h
at 60 s, under 3 min and 4 GiB on 2 cores). Baseline: the cluster-wide default detector on the
same window (its rows are one node's); the ratio per row shows what the panel itself costs.
--quick: 30 nodes over 48 h.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

MODELS = {"anomaly-detector": "anomaly_workflow", "predictive-analytics": "forecast_workflow"}
PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "notebooks"))

from modelkit.entities import cluster_wide_entry  # noqa: E402
CLUSTER_DETECTOR = "cluster-anomaly-detector"

DIRECT = """
import importlib, sys
from modelkit.training.publish import publish_version
from modelkit.training.run_context import start_run
workflow = importlib.import_module("modelkit.training." + sys.argv[1])
run = start_run(workflow.KINDS)
result = workflow.train(run)
publish_version(run, result.model, result.metadata())
"""


# Runs the command as its child and reports the largest RSS among its own descendants only
# (the notebook kernel is a grandchild of the measured command).
PEAK_WRAPPER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(usage.ru_maxrss, code, usage.ru_utime + usage.ru_stime)
"""


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MiB of the largest process, CPU seconds) of one command run to completion.
    On a shared machine the CPU seconds say more than the wall time."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *command], env=env, cwd=PROJECT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    max_rss_kib, code, cpu = done.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return wall, int(max_rss_kib) / 1024, float(cpu)


def run_env(model: str, hours: int, root: str, run_id: str) -> dict[str, str]:
    return {**os.environ, "MODEL_NAME": model, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": str(hours),
            "MODELS_ROOT": root, "RUN_ID": run_id, "MPLBACKEND": "Agg"}


def cluster_detector_registry(path: Path) -> Path:
    """The project's registry plus the baseline of the entity case: the default detector (per node) made
    cluster-wide (its entity fields dropped), the model the defaults were before issue 13."""
    models = yaml.safe_load((PROJECT / "charts/hub/values.yaml").read_text())["models"]
    cluster = {**cluster_wide_entry(next(m for m in models if m["name"] == "anomaly-detector")), "name": CLUSTER_DETECTOR}
    path.write_text(yaml.safe_dump({"models": [*models, cluster]}))
    return path


def entity_case(root: str, entities: int, hours: int) -> None:
    registry = cluster_detector_registry(Path(root) / "registry.yaml")
    command = [sys.executable, "-c", DIRECT, "anomaly_workflow"]
    cluster_env = {**run_env(CLUSTER_DETECTOR, hours, root, f"cluster-{hours}"), "MODELKIT_REGISTRY": str(registry)}
    cluster_wall, cluster_peak, cluster_cpu = measure(command, cluster_env)
    env = {**run_env("anomaly-detector", hours, root, f"nodes-{entities}-{hours}"), "SYNTHETIC_ENTITIES": str(entities)}
    wall, peak, cpu = measure(command, env)
    print(f"\nper-entity detector, {entities} nodes x 5 metrics, {hours} h at 60 s "
          f"(baseline: the cluster-wide detector on the same {hours} h)")
    print(f"{'case':<28}{'wall s':>9}{'CPU s':>8}{'peak MiB':>10}{'CPU x baseline':>16}{'per row':>9}")
    print(f"{'cluster-wide (baseline)':<28}{cluster_wall:>9.1f}{cluster_cpu:>8.1f}{cluster_peak:>10.0f}{1:>16.2f}{1:>9.2f}")
    print(f"{f'per node, {entities} nodes':<28}{wall:>9.1f}{cpu:>8.1f}{peak:>10.0f}{cpu / cluster_cpu:>16.2f}"
          f"{cpu / cluster_cpu / entities:>9.2f}", flush=True)


def best(command: list[str], env_for, repeat: int) -> tuple[float, float]:
    results = [measure(command, env_for(n)) for n in range(repeat)]
    return min(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, nargs="+", default=[24, 168, 720])
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest is reported")
    parser.add_argument("--quick", action="store_true", help="24 and 48 h, one run each, one notebook, 30 nodes (seconds)")
    parser.add_argument("--entities", type=int, default=300, help="nodes of the per-entity case")
    parser.add_argument("--entity-hours", type=int, default=168, help="hours of the per-entity case")
    args = parser.parse_args()
    if args.quick:
        args.hours, args.repeat, args.entities, args.entity_hours = [24, 48], 1, 30, 48
    notebook_models = ["anomaly-detector"] if args.quick else list(MODELS)
    with tempfile.TemporaryDirectory() as root:
        print(f"{'model':<22}{'hours':>6}{'wall s':>9}{'peak MiB':>10}{'x 24 h wall':>13}")
        direct_24h = {}
        for model, workflow in MODELS.items():
            for hours in args.hours:
                wall, peak = best([sys.executable, "-c", DIRECT, workflow],
                                  lambda n: run_env(model, hours, root, f"direct-{hours}-{n}"), args.repeat)
                direct_24h.setdefault(model, wall if hours == args.hours[0] else None)
                baseline = direct_24h[model]
                print(f"{model:<22}{hours:>6}{wall:>9.1f}{peak:>10.0f}{wall / baseline:>13.2f}", flush=True)
        print(f"\nnotebook overhead at {args.hours[0]} h (baseline: the direct module call above)")
        print(f"{'model':<22}{'notebook s':>11}{'peak MiB':>10}{'x direct':>10}")
        for model in notebook_models:
            wall, peak = best([sys.executable, "-m", "modelkit.cli", "run-notebook"],
                              lambda n: run_env(model, args.hours[0], root, f"notebook-{n}"), args.repeat)
            print(f"{model:<22}{wall:>11.1f}{peak:>10.0f}{wall / direct_24h[model]:>10.2f}", flush=True)
        entity_case(root, args.entities, args.entity_hours)
    print(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
