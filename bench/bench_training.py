"""Training cost of the two default models, and what running them as notebooks adds.

    .venv/bin/python bench/bench_training.py [--hours 24 168 720] [--repeat 2] [--quick]

For each model and window: wall time and peak memory (max RSS) of one complete training
run called directly from Python (load synthetic data, fit, evaluate, write the version),
each in a fresh process. Then the same 24 h run through `modelkit run-notebook` (kernel,
plots, HTML report). Ratios are against named baselines: the 24 h direct run for the
window sweep, the direct call for the notebook overhead. --quick (run by `make test`):
24 and 48 h, one run each, the notebook overhead of the anomaly detector only.
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

MODELS = {"anomaly-detector": "anomaly_workflow", "predictive-analytics": "forecast_workflow"}
PROJECT = Path(__file__).resolve().parents[1]

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
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB of the largest process) of one command run to completion."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *command], env=env, cwd=PROJECT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    max_rss_kib, code = done.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return wall, int(max_rss_kib) / 1024


def run_env(model: str, hours: int, root: str, run_id: str) -> dict[str, str]:
    return {**os.environ, "MODEL_NAME": model, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": str(hours),
            "MODELS_ROOT": root, "RUN_ID": run_id, "MPLBACKEND": "Agg"}


def best(command: list[str], env_for, repeat: int) -> tuple[float, float]:
    results = [measure(command, env_for(n)) for n in range(repeat)]
    return min(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, nargs="+", default=[24, 168, 720])
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest is reported")
    parser.add_argument("--quick", action="store_true", help="24 and 48 h, one run each, one notebook (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.hours, args.repeat = [24, 48], 1
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
    print(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
