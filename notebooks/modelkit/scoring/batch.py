"""Users' own data and backtests: read a metrics file, train a registry model on values in hand,
score values with a version, through the same feature code as training (modelkit.features).

    from modelkit.scoring import read_metrics_file, score_values, train_on_values
    values, labels = read_metrics_file("metrics.csv", spec.metric_names, step_seconds=60)
    result = train_on_values("anomaly-detector", values, step_seconds=60, models_root="models")
    scored = score_values(version_path, values, step_seconds=60)

`modelkit score --model M [--run-id ID] (--data-file F | --hours H) --output OUT` does the last
step from the command line (default version: the served one) and prints a summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import artifacts
from ..errors import ConfigError, DataError
from ..features import model_inputs
from ..model_loading import load_model
from ..registry import ModelSpec, get_model
from ..settings import Settings, source_and_hours
from ..training.anomaly_evaluation import SECONDS_PER_DAY, evaluate_flags
from ..training.events import runs

LABEL_COLUMN = "is_anomaly"
READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet}
WRITERS = {".csv": lambda frame, path: frame.to_csv(path), ".parquet": lambda frame, path: frame.to_parquet(path)}


def read_metrics_file(path: Path | str, metric_names: tuple[str, ...], step_seconds: int,
                      timestamp_column: str = "timestamp") -> tuple[pd.DataFrame, pd.Series | None]:
    """(values on a regular UTC grid of `step_seconds`, labels or None) from a CSV or Parquet file.

    One column per metric; irregular timestamps are put on the grid (mean per step, gaps inside
    the series filled linearly). Errors name the file, column and row."""
    path = Path(path)
    if path.suffix not in READERS:
        raise ConfigError(f"{path}: unknown file type {path.suffix!r}; use .csv or .parquet")
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    raw = READERS[path.suffix](path)
    missing = [c for c in (timestamp_column, *metric_names) if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: no column {', '.join(map(repr, missing))} (has {', '.join(map(str, raw.columns))})")
    stamps = pd.to_datetime(raw[timestamp_column], errors="coerce", utc=True)
    if stamps.isna().any():
        row = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise DataError(f"{path}: row {row + 1}, column {timestamp_column!r}: {raw[timestamp_column].iloc[row]!r} is not a time")
    columns = {}
    for name in metric_names:
        numbers = pd.to_numeric(raw[name], errors="coerce")
        bad = numbers.isna() & raw[name].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}: row {row + 1}, column {name!r}: {raw[name].iloc[row]!r} is not a number")
        columns[name] = numbers.to_numpy(dtype=float)
    values = pd.DataFrame(columns, index=pd.DatetimeIndex(stamps, name="timestamp")).sort_index()
    grid = values.resample(f"{step_seconds}s", origin="epoch").mean().interpolate(limit_area="inside")
    labels = None
    if LABEL_COLUMN in raw.columns:
        flags = pd.Series(raw[LABEL_COLUMN].astype(bool).to_numpy(), index=values.index)
        labels = flags.resample(f"{step_seconds}s", origin="epoch").max().reindex(grid.index).fillna(False).astype(bool)
    return grid, labels


def train_on_values(model: str | ModelSpec, values: pd.DataFrame, step_seconds: int, *, models_root: Path | str,
                    run_id: str | None = None, seed: int = 42, hours: int | None = None):
    """Train a registry model on real values in hand (DATA_SOURCE=prometheus semantics, the values
    standing in for Prometheus): the window is the last `hours` (default: all) of `values`. The values are
    one series per metric, so a per-entity entry (the default detector) is trained as one series."""
    from ..entities import cluster_wide
    from ..recorded_source import RecordedSeries
    from ..training import anomaly_workflow, forecast_workflow
    from ..training.run_context import TrainingRun

    spec = cluster_wide(get_model(model) if isinstance(model, str) else model)
    workflow = forecast_workflow if spec.kind == "forecaster" else anomaly_workflow
    span_hours = int((values.index[-1] - values.index[0]).total_seconds() // 3600)
    settings = Settings.from_env({"MODEL_NAME": spec.name, "MODELS_ROOT": str(models_root), "DATA_SOURCE": "prometheus",
                                  "TRAINING_HOURS": str(hours or span_hours), "PROMETHEUS_STEP_SECONDS": str(step_seconds),
                                  "SEED": str(seed)})
    run = TrainingRun(settings, spec, artifacts.run_id_or_new(run_id), *source_and_hours(settings, spec))
    return workflow.train(run, end=values.index[-1].to_pydatetime(), client=RecordedSeries(values, "values in hand"))


def score_values(version_path: Path | str, values: pd.DataFrame, step_seconds: int) -> pd.DataFrame:
    """Per row: the detector's score and flag, or the forecaster's predicted change and level per metric;
    rows whose features lack history are left out."""
    version_path = Path(version_path)
    metadata = artifacts.read_metadata(version_path)
    model = load_model(version_path / artifacts.MODEL_FILE, metadata)
    inputs = model_inputs(values, metadata["feature_contract"]["names"], step_seconds).dropna()
    rows = inputs.to_numpy(dtype=float)
    if metadata["kind"] == "forecaster":
        change = np.asarray(model.predict(rows)).reshape(len(rows), -1)
        names = metadata["outputs"]["names"]
        out = pd.DataFrame(change, index=inputs.index, columns=names)
        for column, name in enumerate(names):
            metric = name.rsplit("_change_", 1)[0]
            out[f"{metric}_forecast"] = values.loc[inputs.index, metric].to_numpy() + change[:, column]
        return out
    return pd.DataFrame({"score": model.score_samples(rows), "flagged": model.predict(rows) == -1}, index=inputs.index)


def summarise(scored: pd.DataFrame, labels: pd.Series | None, step_seconds: int) -> dict[str, Any]:
    """Rows, days and, for a detector, alarms per day; with labels, event recall and alarm precision."""
    days = len(scored) * step_seconds / SECONDS_PER_DAY
    summary: dict[str, Any] = {"rows": len(scored), "days": round(days, 3),
                               "start": scored.index[0].isoformat(), "end": scored.index[-1].isoformat()}
    if "flagged" in scored.columns:
        flags = scored["flagged"].to_numpy(dtype=bool)
        summary["alarms"] = len(runs(flags))
        summary["alarms_per_day"] = summary["alarms"] / days if days else None
        if labels is not None:
            judged = evaluate_flags(labels.reindex(scored.index).fillna(False).to_numpy(dtype=bool), flags, step_seconds)
            summary.update({key: judged[key] for key in ("events", "events_detected", "event_recall", "alarm_precision", "event_f1")})
    return summary


def _version_path(root: Path, spec: ModelSpec, run_id: str | None) -> Path:
    from ..served_state import served_version

    if run_id is None:
        run_id, _ = served_version(artifacts.model_dir(root, spec.name))
        if run_id is None:
            raise ConfigError(f"no version of {spec.name!r} is served under {root}; pass --run-id")
    path = artifacts.version_dir(root, spec.name, run_id)
    if not path.is_dir():
        raise ConfigError(f"--run-id {run_id!r}: no version {path}")
    return path


def _run(args: argparse.Namespace) -> int:
    if args.output.suffix not in WRITERS:
        raise ConfigError(f"--output {args.output}: unknown file type {args.output.suffix!r}; use .csv or .parquet")
    spec = get_model(args.model)
    settings = Settings.from_env(options={"MODEL_NAME": ("--model", spec.name)})
    path = _version_path(settings.models_root, spec, args.run_id)
    step = args.step or settings.prometheus_step_seconds
    if args.data_file:
        values, labels = read_metrics_file(args.data_file, spec.metric_names, step)
    else:
        from .data import load_training_frame

        window = dataclasses.replace(settings, data_source="prometheus", training_hours=args.hours, prometheus_step_seconds=step)
        values, labels = load_training_frame(spec, window).untouched, None
    scored = score_values(path, values, step)
    if scored.empty:
        raise DataError(f"no row of the data has the history its features need ({path.name}'s contract)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    WRITERS[args.output.suffix](scored, args.output)
    print(json.dumps({"model": spec.name, "version": path.name, "output": str(args.output), **summarise(scored, labels, step)}, indent=2))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("score", help="score a metrics file or a Prometheus window with a version")
    parser.add_argument("--model", required=True, help="model name from the registry")
    parser.add_argument("--run-id", help="version to use (default: the served one)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data-file", type=Path, help="CSV or Parquet: a timestamp column, one column per registry metric, optional is_anomaly")
    source.add_argument("--hours", type=int, help="the last H hours from Prometheus (PROMETHEUS_URL)")
    parser.add_argument("--step", type=int, help="grid step in seconds (default: $PROMETHEUS_STEP_SECONDS or 60)")
    parser.add_argument("--output", type=Path, required=True, help="per-row scores and flags, or forecasts: .csv or .parquet")
    parser.set_defaults(handler=_run)
