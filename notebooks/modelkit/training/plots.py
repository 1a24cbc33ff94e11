"""Figures the notebooks show: what the data looked like and where the model was right or wrong."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve

from ..entities import entity_columns
from ..features import entity_rows, row_entities
from .anomaly_workflow import AnomalyResult
from ..evaluation.events import runs
from .forecast_workflow import ForecastResult

MAX_DRAWN_ENTITIES = 5


def _shade(ax, index, flags, color, label):
    """Shade each run of True in `flags` over the time axis."""
    for n, (start, end) in enumerate(runs(flags)):
        ax.axvspan(index[start], index[min(end, len(index) - 1)], color=color, alpha=0.25, label=label if n == 0 else None)


def _drawn_entities(frame, entity_labels) -> tuple[list[tuple[str, np.ndarray]], int]:
    """(key, row positions) of the entities to draw, those with the most labelled rows first, and how many there are."""
    if not entity_labels:
        return [("", np.arange(len(frame)))], 1
    groups = entity_rows(frame, entity_labels)
    labelled = frame["is_anomaly"].to_numpy(bool)
    ranked = sorted(groups.items(), key=lambda item: -np.count_nonzero(labelled[item[1]]))
    return ranked[:MAX_DRAWN_ENTITIES], len(groups)


def training_data(frame, columns, title: str, entity_labels: list[str] | tuple[str, ...] = ()):
    """Every metric over the whole window, labelled anomalies shaded.

    An entity model's panel (`entity_labels`: its label columns) is drawn one line per entity, at
    most MAX_DRAWN_ENTITIES of them (those hit by the most labelled anomalies), with each entity's
    labelled points in red: one line through every node's rows would zigzag between them."""
    drawn, total = _drawn_entities(frame, entity_labels)
    fig, axes = plt.subplots(len(columns), 1, figsize=(12, 1.8 * len(columns)), sharex=True)
    for ax, column in zip(np.atleast_1d(axes), columns):
        for key, rows in drawn:
            part = frame.iloc[rows]
            ax.plot(part.index, part[column], linewidth=0.6, label=key or None)
            labelled = part["is_anomaly"].to_numpy(bool)
            if entity_labels:
                ax.scatter(part.index[labelled], part[column][labelled], s=3, color="red")
            else:
                _shade(ax, part.index, labelled, "red", "labelled anomaly")
        ax.set_ylabel(column, rotation=0, ha="right", fontsize=8)
    first = np.atleast_1d(axes)[0]
    if entity_labels:
        first.legend(loc="upper right", fontsize=7, title=f"{len(drawn)} of {total} entities; red: labelled", title_fontsize=7)
    first.set_title(title)
    fig.tight_layout()
    return fig


def _worst_entity(result: AnomalyResult) -> tuple[np.ndarray, str]:
    """Rows of the held-out slice to draw: an entity model's worst entity (one timeline), else all."""
    worst = result.metrics.get("worst_entities")
    if not worst:
        return np.ones(len(result.split.test), dtype=bool), ""
    keys = row_entities(result.split.test, entity_columns(result.run.spec))
    return keys == worst[0]["entity"], f", entity {worst[0]['entity']} (the worst)"


def anomaly_test_slice(result: AnomalyResult):
    """Held-out slice: labelled events (red) against flagged points (black) and the score."""
    rows, which = _worst_entity(result)
    test, flags, scores, untouched_flags = (result.split.test[rows], result.test_flags[rows], result.test_scores[rows],
                                            result.untouched_test_flags[rows])
    names = result.feature_names
    fig, axes = plt.subplots(len(names) + 1, 1, figsize=(12, 1.6 * (len(names) + 1)), sharex=True)
    for ax, column in zip(axes, names):
        ax.plot(test.index, test[column], linewidth=0.6)
        _shade(ax, test.index, test["is_anomaly"].to_numpy(bool), "red", "labelled")
        ax.scatter(test.index[flags], test[column][flags], s=4, color="black", label="flagged")
        ax.set_ylabel(column, rotation=0, ha="right", fontsize=8)
    axes[-1].plot(test.index, scores, linewidth=0.6, color="purple")
    axes[-1].axhline(result.calibration.threshold, color="black", linestyle="--", label="threshold")
    if result.provenance.get("labelled_events") is None:  # with the data's own labels every row is untouched
        _shade(axes[-1], test.index, untouched_flags, "orange", "alarm on the untouched values (false)")
    axes[-1].legend(loc="lower right", fontsize=7)
    axes[-1].set_ylabel("score_samples", rotation=0, ha="right", fontsize=8)
    axes[0].legend(loc="upper right", fontsize=7)
    axes[0].set_title(f"Held-out test slice{which}: labelled anomalies (red) and flagged points (black)")
    fig.tight_layout()
    return fig


def anomaly_calibration(result: AnomalyResult):
    """Validation trade-off the threshold was chosen on, and the test precision-recall curve."""
    curve = result.calibration.curve
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    left.plot(curve["false_alarms_per_day"], curve["event_recall"], marker=".", linewidth=0.8)
    chosen = result.calibration.validation
    left.scatter([chosen["false_alarms_per_day"]], [chosen["event_recall"] or 0], color="red", zorder=3, label="chosen threshold")
    left.axvline(result.calibration.false_alarm_budget_per_day, color="grey", linestyle="--", label="false-alarm budget")
    left.set(xlabel="false alarms per day (validation)", ylabel="event recall (validation)", title="Threshold calibration")
    left.legend(fontsize=8)
    labels = result.split.test["is_anomaly"].to_numpy(bool)
    if labels.any():
        precision, recall, _ = precision_recall_curve(labels, -result.test_scores)
        right.plot(recall, precision)
    right.set(xlabel="recall (points)", ylabel="precision (points)", title=f"Test PR curve (PR-AUC {result.metrics['pr_auc'] or 0:.3f})")
    fig.tight_layout()
    return fig


def forecast_test_slice(result: ForecastResult):
    """Actual level at t + horizon against the model's and the baselines' forecasts."""
    test = result.split.test
    fig, axes = plt.subplots(len(result.metric_names), 1, figsize=(12, 2.6 * len(result.metric_names)), sharex=True)
    when = test.index + np.timedelta64(result.horizon_minutes, "m")
    for column, (ax, metric) in enumerate(zip(np.atleast_1d(axes), result.metric_names)):
        current = test[f"current:{metric}"].to_numpy()
        ax.plot(when, current + test[result.target_names[column]].to_numpy(), color="black", linewidth=0.8, label="actual")
        for method in result.predictions:
            ax.plot(when, current + result.predictions[method][:, column], linewidth=0.6, label=method)
        ax.set_ylabel(metric, rotation=0, ha="right", fontsize=8)
    np.atleast_1d(axes)[0].legend(loc="upper right", fontsize=7)
    np.atleast_1d(axes)[0].set_title(f"Held-out test slice: level {result.horizon_minutes} min ahead")
    fig.tight_layout()
    return fig


def forecast_errors(result: ForecastResult):
    """MAE per metric: model against the two baselines."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(result.predictions)
    for n, method in enumerate(result.predictions):
        prefix = "" if method == "model" else f"{method}_"
        values = [result.metrics[f"{prefix}mae_{m}"] for m in result.metric_names]
        ax.bar(np.arange(len(values)) + n * width, values, width, label=method)
    ax.set_xticks(np.arange(len(result.metric_names)) + width, result.metric_names, fontsize=8)
    ax.set(ylabel="MAE (metric unit)", title="Held-out error: lower is better")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
