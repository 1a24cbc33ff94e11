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
from threadpoolctl import threadpool_limits

from .. import artifacts
from ..data.file_source import read_metrics_file, read_metrics_table
from ..errors import ConfigError, DataError
from ..features import model_inputs
from ..model_loading import load_model
from ..registry import ModelSpec, get_model
from ..settings import Settings, source_and_hours
from ..evaluation.anomaly import SECONDS_PER_DAY, _f1, evaluate_flags
from ..evaluation.events import runs
from .entity_summary import per_entity_summary

WRITERS = {".csv": lambda frame, path: frame.to_csv(path), ".parquet": lambda frame, path: frame.to_parquet(path)}


def train_on_values(model: str | ModelSpec, values: pd.DataFrame, step_seconds: int, *, models_root: Path | str,
                    run_id: str | None = None, seed: int = 42, hours: int | None = None):
    """Train a registry model on real values in hand (DATA_SOURCE=prometheus semantics, the values
    standing in for Prometheus): the window is the last `hours` (default: all) of `values`. For a
    per-entity entry (the default detector), `values` with the entry's entity label columns are a
    panel (one timeline per node or namespace, as `read_metrics_file(..., entity=...)` returns) and
    train the per-entity model; values without them are one series and train it as one series."""
    from ..entities import cluster_wide
    from ..recorded_source import RecordedSeries
    from ..training import anomaly_workflow, forecast_workflow
    from ..training.run_context import TrainingRun

    spec = get_model(model) if isinstance(model, str) else model
    entity = tuple(label for label in spec.entity if label in values.columns)
    if entity != tuple(spec.entity) and entity:
        missing = [label for label in spec.entity if label not in entity]
        raise ConfigError(f"values for {spec.name!r} have its entity column(s) {', '.join(entity)} but not {', '.join(missing)}: "
                          "a panel needs every entity label, values of one series none")
    spec = spec if entity else cluster_wide(spec)
    workflow = forecast_workflow if spec.kind == "forecaster" else anomaly_workflow
    span_hours = int((values.index.max() - values.index.min()).total_seconds() // 3600)
    settings = Settings.from_env({"MODEL_NAME": spec.name, "MODELS_ROOT": str(models_root), "DATA_SOURCE": "prometheus",
                                  "TRAINING_HOURS": str(hours or span_hours), "PROMETHEUS_STEP_SECONDS": str(step_seconds),
                                  "SEED": str(seed)})
    run = TrainingRun(settings, spec, artifacts.run_id_or_new(run_id), *source_and_hours(settings, spec))
    return workflow.train(run, end=values.index.max().to_pydatetime(), client=RecordedSeries(values, "values in hand", entity))


def score_values(version_path: Path | str, values: pd.DataFrame, step_seconds: int, entity: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per row: the detector's score and flag, or the forecaster's predicted change and level per metric;
    rows whose features lack history are left out. With `entity` label columns (a panel frame), each
    entity is scored on its own history and its rows keep the label columns."""
    version_path = Path(version_path)
    metadata = artifacts.read_metadata(version_path)
    model = load_model(version_path / artifacts.MODEL_FILE, metadata)
    # One OpenMP thread: the forecaster's trees predict in OpenMP threads that spin-wait, and on a
    # shared node (2 cores, other jobs) two of them took 4 x as long as one (bench/bench_score_file.py).
    with threadpool_limits(limits=1, user_api="openmp"):
        if not entity:
            return _score_series(model, metadata, values, step_seconds)
        parts = [_score_series(model, metadata, part.drop(columns=list(entity)), step_seconds).assign(**dict(zip(entity, key)))
                 for key, part in _entity_parts(values, entity)]
    scored = pd.concat(parts)
    return scored[[*entity, *(c for c in scored.columns if c not in entity)]]


def _entity_parts(values: pd.DataFrame, entity: tuple[str, ...]):
    for key, part in values.groupby(list(entity), sort=True):
        yield (key if isinstance(key, tuple) else (key,)), part


def _score_series(model, metadata: dict[str, Any], values: pd.DataFrame, step_seconds: int) -> pd.DataFrame:
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


def summarise(scored: pd.DataFrame, labels: pd.Series | pd.DataFrame | None, step_seconds: int,
              entity: tuple[str, ...] = ()) -> dict[str, Any]:
    """Rows, days and, for a detector, alarms per day; with labels, event recall and alarm precision.
    A panel (`entity` columns; `labels` then a frame of the entity columns and is_anomaly, see
    panel_labels) is judged entity by entity, the counts added up."""
    days = len(scored) * step_seconds / SECONDS_PER_DAY
    summary: dict[str, Any] = {"rows": len(scored), "days": round(days, 3),
                               "start": scored.index.min().isoformat(), "end": scored.index.max().isoformat()}
    if entity:
        summary["entities"] = int(scored.groupby(list(entity)).ngroups)
    if "flagged" not in scored.columns:
        return summary
    pieces = list(_flags_and_truth(scored, labels, entity))
    summary["alarms"] = sum(len(runs(flags)) for flags, _ in pieces)
    summary["alarms_per_day"] = summary["alarms"] / days if days else None
    if labels is not None:
        judged = [evaluate_flags(truth, flags, step_seconds) for flags, truth in pieces]
        events, detected = sum(j["events"] for j in judged), sum(j["events_detected"] for j in judged)
        alarms = sum(j["alarms"] for j in judged)
        true_alarms = alarms - sum(j["false_alarms"] for j in judged)
        recall = detected / events if events else None
        precision = true_alarms / alarms if alarms else None
        summary.update(events=events, events_detected=detected, event_recall=recall, alarm_precision=precision,
                       event_f1=_f1(precision, recall))
    return summary


def panel_labels(values: pd.DataFrame, labels: pd.Series | None, entity: tuple[str, ...]) -> pd.Series | pd.DataFrame | None:
    """The labels as summarise takes them: as read for a cluster-wide file, with each row's entity for a panel."""
    if labels is None or not entity:
        return labels
    return values[list(entity)].assign(is_anomaly=labels.to_numpy(dtype=bool))


def _flags_and_truth(scored: pd.DataFrame, labels: pd.Series | None, entity: tuple[str, ...]):
    """(flags, labels on the same rows or None) of the series, or of each entity of a panel."""
    if not entity:
        truth = None if labels is None else labels.reindex(scored.index, fill_value=False).to_numpy(dtype=bool)
        yield scored["flagged"].to_numpy(dtype=bool), truth
        return
    for key, part in _entity_parts(scored, entity):
        truth = None
        if labels is not None:
            own = (labels[list(entity)] == key).all(axis=1)
            truth = labels.loc[own, "is_anomaly"].reindex(part.index, fill_value=False).to_numpy(dtype=bool)
        yield part["flagged"].to_numpy(dtype=bool), truth


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
    entity, one_entity = tuple(spec.entity), None
    if args.data_file:
        table = read_metrics_table(args.data_file, spec.metric_names, step, entity)
        values, labels, one_entity = table.filled(), table.labels, table.one_entity
    else:
        from ..data import load_training_frame

        window = dataclasses.replace(settings, data_source="prometheus", training_hours=args.hours, prometheus_step_seconds=step)
        values, labels = load_training_frame(spec, window).untouched, None
    scored = score_values(path, values, step, entity)
    if scored.empty:
        raise DataError(f"no row of the data has the history its features need ({path.name}'s contract)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    WRITERS[args.output.suffix](scored, args.output)
    summary = {"model": spec.name, "version": path.name, "output": str(args.output),
               **({"one_entity": one_entity} if one_entity else {}),
               **summarise(scored, panel_labels(values, labels, entity), step, entity), **per_entity_summary(scored, entity, step)}
    print(json.dumps(summary, indent=2))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("score", help="score a metrics file or a Prometheus window with a version")
    parser.add_argument("--model", required=True, help="model name from the registry")
    parser.add_argument("--run-id", help="version to use (default: the served one)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data-file", type=Path,
                        help="CSV or Parquet: a timestamp column, one column per registry metric, optional is_anomaly; "
                             "for a per-entity model its label columns (none: the file is one entity)")
    source.add_argument("--hours", type=int, help="the last H hours from Prometheus (PROMETHEUS_URL)")
    parser.add_argument("--step", type=int, help="grid step in seconds (default: $PROMETHEUS_STEP_SECONDS or 60)")
    parser.add_argument("--output", type=Path, required=True, help="per-row scores and flags, or forecasts: .csv or .parquet")
    parser.set_defaults(handler=_run)
