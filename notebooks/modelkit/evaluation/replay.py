"""A recent real window, recorded with a trained version, that the gate replays through the
candidate and the served version alike: both are judged on the same rows, whatever data and
hours each was trained on.

The window is the candidate's held-out test slice (never used to fit or calibrate it), as the
untouched metric values plus the history the features need; for a detector also the same rows
with the injected, labelled events. Each version turns it into inputs with its own feature
contract (modelkit.features) and predicts in a fresh process (probe.py).

An entity model's window is a panel: `entities` lists its segments (label values, first
timestamp, rows) in the order of the value lists. At most REPLAY_ENTITIES entities are kept,
evenly spread over the sorted keys, so the metadata of a fleet stays small (both versions are
still judged on the same rows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..features import entity_rows, model_inputs, row_entities
from .anomaly import evaluate_flags
from .forecast import evaluate
from .forecast_targets import build_targets, seasonal_naive_change
from .probe import probe_in_fresh_process

KEY = "replay"
DIGITS = 7  # significant digits kept per value
REPLAY_ENTITIES = 20


def _values(frame: pd.DataFrame) -> dict[str, list[float]]:
    return {name: [float(f"{v:.{DIGITS}g}") for v in frame[name].to_numpy(dtype=float)] for name in frame.columns}


def _kept_entities(untouched: pd.DataFrame, entity_columns: list[str]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Row positions of the recorded entities and their segments."""
    groups = list(entity_rows(untouched, entity_columns).values())
    picks = np.unique(np.linspace(0, len(groups) - 1, min(REPLAY_ENTITIES, len(groups))).astype(int))
    segments = [{"labels": untouched.iloc[groups[i][0]][entity_columns].astype(str).tolist(),
                 "start": untouched.index[groups[i][0]].isoformat(), "rows": len(groups[i])} for i in picks]
    return np.concatenate([groups[i] for i in picks]), segments


def record_window(untouched: pd.DataFrame, judged_from: pd.Timestamp, step_seconds: int, history_minutes: int,
                  injected: pd.DataFrame | None = None, labels: pd.Series | None = None,
                  entity_columns: list[str] | tuple[str, ...] = (), labels_from_data: bool = False) -> dict[str, Any]:
    """The metadata block: metric values from `history_minutes` before `judged_from` to the end
    (`injected` and `labels` in the row order of `untouched`). `labels_from_data`: the labels are
    the data's own (a labelled file): the untouched values hold those incidents, so an alarm on
    them is not false."""
    start = judged_from - pd.Timedelta(minutes=history_minutes)
    positions = np.flatnonzero(untouched.index >= start)
    metric_columns = [c for c in untouched.columns if c not in entity_columns]
    block: dict[str, Any] = {"step_seconds": step_seconds, "judged_from": judged_from.isoformat()}
    if entity_columns:
        kept, segments = _kept_entities(untouched.iloc[positions], list(entity_columns))
        positions = positions[kept]
        block["entities"] = {"labels": list(entity_columns), "segments": segments}
    window = untouched.iloc[positions]
    block["start"] = window.index.min().isoformat()
    block["untouched"] = _values(window[metric_columns])
    if injected is not None and labels is not None:
        block["injected"] = _values(injected.iloc[positions][metric_columns])
        block["labels"] = labels.iloc[positions].astype(int).tolist()
        block["labels_from_data"] = labels_from_data
    return block


def _frame(block: dict[str, Any], part: str) -> pd.DataFrame:
    values, step = block[part], f"{block['step_seconds']}s"
    if "entities" not in block:
        rows = len(next(iter(values.values())))
        return pd.DataFrame(values, index=pd.date_range(pd.Timestamp(block["start"]), periods=rows, freq=step, name="timestamp"))
    entities = block["entities"]
    segments = entities["segments"]
    index = pd.DatetimeIndex(np.concatenate([pd.date_range(pd.Timestamp(s["start"]), periods=s["rows"], freq=step)
                                             for s in segments]), name="timestamp")
    labels = {label: np.repeat([s["labels"][i] for s in segments], [s["rows"] for s in segments])
              for i, label in enumerate(entities["labels"])}
    return pd.DataFrame({**labels, **values}, index=index)


def _predict(version_path: Path, inputs: pd.DataFrame) -> np.ndarray | str:
    result = probe_in_fresh_process(version_path, inputs.to_numpy(dtype=float).tolist())
    if "error" in result or "predictions" not in result:
        return result.get("error", f"model expects {result.get('n_features_in')} inputs, its contract has {inputs.shape[1]}")
    return np.asarray(result["predictions"], dtype=float)


def replay_metrics(kind: str, metadata: dict[str, Any], version_path: Path, block: dict[str, Any],
                   horizon_minutes: int | None) -> dict[str, Any] | str:
    """The version's metrics on the window (same names as its training metrics), or why it cannot be replayed."""
    names = (metadata.get("feature_contract") or {}).get("names") or []
    step = int(block["step_seconds"])
    labels_in = (block.get("entities") or {}).get("labels", [])
    untouched = _frame(block, "untouched")
    judged = untouched.index >= pd.Timestamp(block["judged_from"])
    try:
        inputs = model_inputs(untouched, names, step, labels_in)[names]
    except (ConfigError, KeyError) as exc:  # a contract naming other metrics or steps: a reason, not a crash
        return f"its features cannot be computed from the window: {exc}"
    entities = row_entities(untouched, labels_in)
    if kind == "forecaster":
        metrics_in = tuple(c for c in untouched.columns if c not in labels_in)
        targets = build_targets(untouched, metrics_in, horizon_minutes, step, labels_in).drop(columns=labels_in)
        seasonal = seasonal_naive_change(untouched, metrics_in, horizon_minutes, step, entity_columns=labels_in).drop(columns=labels_in)
        usable = (judged & inputs.notna().all(axis=1) & targets.notna().all(axis=1) & seasonal.notna().all(axis=1)).to_numpy()
        if not usable.any():
            return "no row of the window has complete inputs and a known future"
        predicted = _predict(version_path, inputs[usable])
        if isinstance(predicted, str):
            return predicted
        rows = int(usable.sum())
        predictions = {"model": predicted.reshape(rows, -1), "last_value": np.zeros((rows, len(metrics_in))),
                       "seasonal_naive": seasonal[usable].to_numpy(dtype=float)}
        return evaluate(untouched[usable][list(metrics_in)], targets[usable], predictions)
    injected = _frame(block, "injected")
    labels = np.asarray(block["labels"], dtype=bool)
    injected_inputs = model_inputs(injected, names, step, labels_in)[names]
    usable = (judged & inputs.notna().all(axis=1) & injected_inputs.notna().all(axis=1)).to_numpy()
    rows = int(usable.sum())
    if not rows:
        return "no row of the window has complete inputs"
    predicted = _predict(version_path, pd.concat([inputs[usable], injected_inputs[usable]]))  # one fresh process
    if isinstance(predicted, str):
        return predicted
    flags = predicted == -1
    judged_entities = None if entities is None else entities[usable]
    metrics = evaluate_flags(labels[usable], flags[rows:], step, judged_entities)
    own_labels = labels[usable] if block.get("labels_from_data") else np.zeros(rows, dtype=bool)
    untouched_alarms = evaluate_flags(own_labels, flags[:rows], step, judged_entities)
    metrics["false_alarms"], metrics["false_alarms_per_day"] = untouched_alarms["false_alarms"], untouched_alarms["false_alarms_per_day"]
    return metrics
