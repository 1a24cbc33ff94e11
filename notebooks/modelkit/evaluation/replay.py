"""A recent real window, recorded with a trained version, that the gate replays through the
candidate and the served version alike: both are judged on the same rows, whatever data and
hours each was trained on.

The window is the candidate's held-out test slice (never used to fit or calibrate it), as the
untouched metric values plus the history the features need; for a detector also the same rows
with the injected, labelled events. Each version turns it into inputs with its own feature
contract (modelkit.features) and predicts in a fresh process (probe.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..features import model_inputs
from .anomaly import evaluate_flags
from .forecast import evaluate
from .forecast_targets import build_targets, seasonal_naive_change
from .probe import probe_in_fresh_process

KEY = "replay"
DIGITS = 7  # significant digits kept per value


def _values(frame: pd.DataFrame) -> dict[str, list[float]]:
    return {name: [float(f"{v:.{DIGITS}g}") for v in frame[name].to_numpy(dtype=float)] for name in frame.columns}


def record_window(untouched: pd.DataFrame, judged_from: pd.Timestamp, step_seconds: int, history_minutes: int,
                  injected: pd.DataFrame | None = None, labels: pd.Series | None = None) -> dict[str, Any]:
    """The metadata block: metric values from `history_minutes` before `judged_from` to the end."""
    start = judged_from - pd.Timedelta(minutes=history_minutes)
    window = untouched.loc[untouched.index >= start]
    block: dict[str, Any] = {"start": window.index[0].isoformat(), "step_seconds": step_seconds,
                             "judged_from": judged_from.isoformat(), "untouched": _values(window)}
    if injected is not None and labels is not None:
        block["injected"] = _values(injected.loc[window.index, list(untouched.columns)])
        block["labels"] = labels.loc[window.index].astype(int).tolist()
    return block


def _frame(block: dict[str, Any], part: str) -> pd.DataFrame:
    values = block[part]
    rows = len(next(iter(values.values())))
    index = pd.date_range(pd.Timestamp(block["start"]), periods=rows, freq=f"{block['step_seconds']}s", name="timestamp")
    return pd.DataFrame(values, index=index)


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
    untouched = _frame(block, "untouched")
    judged = untouched.index >= pd.Timestamp(block["judged_from"])
    try:
        inputs = model_inputs(untouched, names, step)
    except (ConfigError, KeyError) as exc:  # a contract naming other metrics or steps: a reason, not a crash
        return f"its features cannot be computed from the window: {exc}"
    if kind == "forecaster":
        metrics_in = tuple(untouched.columns)
        targets = build_targets(untouched, metrics_in, horizon_minutes, step)
        seasonal = seasonal_naive_change(untouched, metrics_in, horizon_minutes, step)
        usable = judged & inputs.notna().all(axis=1) & targets.notna().all(axis=1) & seasonal.notna().all(axis=1)
        if not usable.any():
            return "no row of the window has complete inputs and a known future"
        predicted = _predict(version_path, inputs[usable])
        if isinstance(predicted, str):
            return predicted
        predictions = {"model": predicted.reshape(int(usable.sum()), -1), "last_value": np.zeros((int(usable.sum()), len(metrics_in))),
                       "seasonal_naive": seasonal[usable].to_numpy(dtype=float)}
        return evaluate(untouched.loc[usable], targets[usable], predictions)
    injected = _frame(block, "injected")
    labels = np.asarray(block["labels"], dtype=bool)
    injected_inputs = model_inputs(injected, names, step)
    usable = judged & inputs.notna().all(axis=1) & injected_inputs.notna().all(axis=1)
    rows = int(usable.sum())
    if not rows:
        return "no row of the window has complete inputs"
    predicted = _predict(version_path, pd.concat([inputs[usable], injected_inputs[usable]]))  # one fresh process
    if isinstance(predicted, str):
        return predicted
    flags = predicted == -1
    metrics = evaluate_flags(labels[usable], flags[rows:], step)
    untouched_alarms = evaluate_flags(np.zeros(rows, dtype=bool), flags[:rows], step)
    metrics["false_alarms"], metrics["false_alarms_per_day"] = untouched_alarms["alarms"], untouched_alarms["alarms_per_day"]
    return metrics
