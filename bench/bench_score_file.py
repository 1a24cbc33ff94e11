"""Scoring a user's file (`modelkit score --data-file`): wall time of the whole command (a fresh
process: imports, reading the file onto the grid, the serving features, the model, writing the
output) on a 720 h file at 60 s (43,200 rows of the model's metrics, with is_anomaly labels),
CSV and Parquet, for the two default models trained on synthetic data. The default detector is
per node: its one-series file is one node's (no `instance` column), and a panel of the
synthetic nodes (their `instance` column, 43,200 rows each) is timed beside it, without target.

Baseline: a fresh process that only reads the same file with pandas (`pandas.read_csv` /
`read_parquet`), from the same run; the figures are given as ratios to it. Target (issue 11):
the 720 h file scored in under 5 s.

    .venv/bin/python bench/bench_score_file.py [--hours 720] [--repeat 3] [--quick]

--quick (run by `make test`): a 48 h file, one run of each case.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "notebooks"))

from modelkit.data import load_training_frame  # noqa: E402
from modelkit.entities import cluster_wide  # noqa: E402
from modelkit.registry import get_model  # noqa: E402
from modelkit.settings import Settings  # noqa: E402
from modelkit.training import anomaly_workflow, forecast_workflow  # noqa: E402
from modelkit.training.publish import publish_version  # noqa: E402
from modelkit.training.run_context import start_run  # noqa: E402

END = datetime(2026, 3, 1, tzinfo=timezone.utc)
TARGET_SECONDS = 5.0
WORKFLOWS = {"anomaly-detector": anomaly_workflow, "predictive-analytics": forecast_workflow}
# as modelkit's reader does it: Parquet without Arrow's thread pool (data/file_source.py READERS)
READ_ONLY = ("import sys, pandas; path = sys.argv[1]; "
             "pandas.read_parquet(path, use_threads=False) if path.endswith('.parquet') else pandas.read_csv(path)")


def train(model: str, root: Path) -> str:
    """A version of `model` trained on 48 h of synthetic data; its run id."""
    env = {"MODEL_NAME": model, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": "48", "MODELS_ROOT": str(root),
           "RUN_ID": "bench", "SEED": "42"}
    result = WORKFLOWS[model].train(start_run(WORKFLOWS[model].KINDS, env), end=END)
    publish_version(result.run, result.model, result.metadata())
    return "bench"


def write_files(model: str, hours: int, base: Path) -> list[tuple[str, Path]]:
    """The model's metrics over `hours` at 60 s, labelled, as CSV and as Parquet: one series (for a
    per-entity model one entity's, without its label columns), and for a per-entity model its panel."""
    settings = Settings.from_env({"MODEL_NAME": model, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": str(hours), "SEED": "7"})
    spec = get_model(model)
    cases = [("1 series", cluster_wide(spec))] + ([(f"{spec.synthetic_entities} nodes", spec)] if spec.entity else [])
    files = []
    for label, case in cases:
        frame = load_training_frame(case, settings, end=END).frame.drop(columns="anomaly_kind")
        table = frame.rename_axis("timestamp").reset_index()
        stem = base / f"{model}-{hours}h-{label.replace(' ', '-')}"
        table.to_csv(stem.with_suffix(".csv"), index=False)
        table.to_parquet(stem.with_suffix(".parquet"))
        files += [(label, stem.with_suffix(".csv")), (label, stem.with_suffix(".parquet"))]
    return files


def wall(command: list[str], env: dict[str, str], repeat: int) -> float:
    """Fastest of `repeat` runs, in seconds."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the fastest is reported")
    parser.add_argument("--quick", action="store_true", help="a 48 h file, one run per case")
    args = parser.parse_args()
    if args.quick:
        args.hours, args.repeat = 48, 1
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "MODELKIT_", "DATA_"))}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        env["MODELS_ROOT"] = str(base / "models")
        run_ids = {model: train(model, base / "models") for model in WORKFLOWS}
        print(f"\n{args.hours} h at 60 s ({args.hours * 60} rows a series); baseline: a fresh process reading the file with pandas alone")
        print(f"{'model':<22}{'rows of':>9}{'file':>9}{'MiB':>7}{'baseline s':>12}{'score s':>9}{'x baseline':>12}{'< 5 s':>7}")
        for model, run_id in run_ids.items():
            for label, path in write_files(model, args.hours, base):
                baseline = wall([sys.executable, "-c", READ_ONLY, str(path)], env, args.repeat)
                score = wall([sys.executable, "-m", "modelkit.cli", "score", "--model", model, "--run-id", run_id,
                              "--data-file", str(path), "--output", str(base / f"out-{model}.parquet")], env, args.repeat)
                meets = ("yes" if score < TARGET_SECONDS else "NO") if label == "1 series" else "-"
                print(f"{model:<22}{label:>9}{path.suffix[1:]:>9}{path.stat().st_size / 2**20:>7.1f}{baseline:>12.2f}{score:>9.2f}"
                      f"{score / baseline:>12.2f}{meets:>7}", flush=True)
    print(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count(), "target_seconds": TARGET_SECONDS}))


if __name__ == "__main__":
    main()
