"""Forecast errors of the model and of two naive baselines on the same held-out rows.

Methods predict the change of each metric over the horizon; the implied level is
current value + change. MAE is in the metric's unit (the same for change and level);
MAPE is relative to the actual level at t + horizon, skipping rows where that level is
~0 (a ratio metric at exactly 0 would make it infinite).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METHODS = ("model", "last_value", "seasonal_naive")
MAPE_MIN_LEVEL = 1e-6


def errors(current: np.ndarray, actual_change: np.ndarray, predicted_change: np.ndarray) -> tuple[float, float | None]:
    """(MAE, MAPE) of one method for one metric."""
    error = np.abs(predicted_change - actual_change)
    actual_level = np.abs(current + actual_change)
    usable = actual_level > MAPE_MIN_LEVEL
    mape = float(np.mean(error[usable] / actual_level[usable])) if usable.any() else None
    return float(np.mean(error)), mape


def evaluate(current: pd.DataFrame, actual_change: pd.DataFrame, predictions: dict[str, np.ndarray]) -> dict:
    """Flat metrics: mae_<metric>, mape_<metric> (model), last_value_mae_<metric>, ...,
    mape (mean over metrics), beats_baselines (model MAE below both baselines' for every metric).

    `current` and `actual_change` hold one column per metric in the same order as the
    columns of each array in `predictions` (keyed by METHODS).
    """
    metrics: dict = {}
    beats_all = True
    for column, metric in enumerate(current.columns):
        maes = {}
        for method in METHODS:
            mae, mape = errors(current[metric].to_numpy(), actual_change.iloc[:, column].to_numpy(), predictions[method][:, column])
            prefix = "" if method == "model" else f"{method}_"
            metrics[f"{prefix}mae_{metric}"] = mae
            metrics[f"{prefix}mape_{metric}"] = mape
            maes[method] = mae
        beats = maes["model"] < min(maes["last_value"], maes["seasonal_naive"])
        metrics[f"beats_baselines_{metric}"] = bool(beats)
        beats_all = beats_all and beats
    for method in METHODS:
        prefix = "" if method == "model" else f"{method}_"
        values = [metrics[f"{prefix}mape_{m}"] for m in current.columns]
        metrics[f"{prefix}mape"] = float(np.mean(values)) if None not in values else None
    metrics["beats_baselines"] = bool(beats_all)
    metrics["evaluated_rows"] = len(current)
    return metrics
