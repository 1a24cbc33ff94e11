"""Forecast errors of the model and of naive baselines on the same held-out rows.

Methods predict the change of each metric over the horizon; the implied level is
current value + change. MAE is in the metric's unit (the same for change and level);
MAPE is relative to the actual level at t + horizon, skipping rows where that level is
~0 (a ratio metric at exactly 0 would make it infinite). The baselines are "last value"
(change 0), "same time yesterday" and, when the window holds a week of history, "same
time last week". The model is judged by MAE ratios: its MAE over each baseline's, per
metric; `mae_ratio` is the worst of them, so mae_ratio < 1 means it beats every baseline
on every metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAPE_MIN_LEVEL = 1e-6
MIN_BASELINE_MAE = 1e-12  # a baseline that is exactly right makes any error an infinitely worse ratio


def errors(current: np.ndarray, actual_change: np.ndarray, predicted_change: np.ndarray) -> tuple[float, float | None]:
    """(MAE, MAPE) of one method for one metric."""
    error = np.abs(predicted_change - actual_change)
    actual_level = np.abs(current + actual_change)
    usable = actual_level > MAPE_MIN_LEVEL
    mape = float(np.mean(error[usable] / actual_level[usable])) if usable.any() else None
    return float(np.mean(error)), mape


def evaluate(current: pd.DataFrame, actual_change: pd.DataFrame, predictions: dict[str, np.ndarray]) -> dict:
    """Flat metrics: mae_<metric>, mape_<metric> (model), last_value_mae_<metric>, ...,
    mae_ratio_<baseline>_<metric> (model MAE / baseline MAE), mae_ratio (the worst of those),
    mape (mean over metrics), beats_baselines (model MAE below every baseline's for every metric).

    `current` and `actual_change` hold one column per metric in the same order as the
    columns of each array in `predictions` ("model" and one key per baseline).
    """
    metrics: dict = {}
    beats_all = True
    ratios = []
    for column, metric in enumerate(current.columns):
        maes = {}
        for method, predicted in predictions.items():
            mae, mape = errors(current[metric].to_numpy(), actual_change.iloc[:, column].to_numpy(), predicted[:, column])
            prefix = "" if method == "model" else f"{method}_"
            metrics[f"{prefix}mae_{metric}"] = mae
            metrics[f"{prefix}mape_{metric}"] = mape
            maes[method] = mae
        for method in (m for m in predictions if m != "model"):
            ratio = maes["model"] / max(maes[method], MIN_BASELINE_MAE)
            metrics[f"mae_ratio_{method}_{metric}"] = ratio
            ratios.append(ratio)
        beats = maes["model"] < min(mae for method, mae in maes.items() if method != "model")
        metrics[f"beats_baselines_{metric}"] = bool(beats)
        beats_all = beats_all and beats
    for method in predictions:
        prefix = "" if method == "model" else f"{method}_"
        values = [metrics[f"{prefix}mape_{m}"] for m in current.columns]
        metrics[f"{prefix}mape"] = float(np.mean(values)) if None not in values else None
    metrics["mae_ratio"] = float(max(ratios))
    metrics["beats_baselines"] = bool(beats_all)
    metrics["evaluated_rows"] = len(current)
    return metrics
