"""The anomaly detector: StandardScaler + whitening PCA + IsolationForest, with a calibrated threshold.

A fixed `contamination` would flag the same share of points on every cluster. Instead
the decision threshold is chosen on a validation slice that follows the training slice
in time: the one that detects the most labelled (injected) events while raising at most
CALIBRATION_SHARE of the allowed false alarms per day (ties, and with no event in the
slice: the most sensitive threshold within that budget, more warning for the same cost).
False alarms are counted on the untouched values of the same slice (every alarm there is
false), so an alarm that happens to touch an injected event never hides one. A budget
that allows less than one false alarm on the slice cannot be measured there: it is then
taken as "no false alarm at all". It is
baked into the fitted IsolationForest's `offset_`, so the pickled object is plain
scikit-learn: `predict` returns -1 (anomaly) / +1 (normal) with that threshold and
`score_samples` / `decision_function` give the scores (lower = more anomalous;
decision_function < 0 means flagged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import ConfigError
from ..evaluation.anomaly import SECONDS_PER_DAY, evaluate_flags, false_alarm_limit
from ..evaluation.events import runs

CALIBRATION_SHARE = 0.3
MAX_SAMPLES = 2048
MARGIN = 2.0  # standard deviation of the jitter around training rows, in whitened units
CANDIDATE_QUANTILES = np.concatenate((np.linspace(0.0005, 0.02, 40), np.linspace(0.021, 0.3, 120)))


def build_pipeline(seed: int, training_rows: int, n_estimators: int = 100) -> Pipeline:
    """Whitened principal components make a point that breaks the usual correlation of
    the metrics (one metric spiking alone) as easy to isolate as one far from the mean;
    on raw scaled metrics the forest mostly isolated the daily peaks. Subsamples larger
    than the default 256 gave steadier scores on a week of data; they are capped so the
    pickled forest stays small for the predictor (about 5 MB at 720 h)."""
    return Pipeline([
        ("scale", StandardScaler()),
        ("whiten", PCA(whiten=True, random_state=seed)),
        ("forest", IsolationForest(n_estimators=n_estimators, max_samples=min(MAX_SAMPLES, training_rows), random_state=seed)),
    ])


def fit(features: pd.DataFrame, labels: pd.Series, pipeline: Pipeline, seed: int = 0) -> Pipeline:
    """Fit on the rows not labelled anomalous (known injected anomalies would teach it they are normal).

    `pipeline` is unfitted and ends in an IsolationForest (or an estimator with the same
    score_samples / offset_ contract); fitted on a plain array so the served model
    needs no column names. The forest sees the transformed rows plus a copy jittered by
    MARGIN: a forest scores every point beyond the edge of its training data like the
    edge itself, so without a margin a normal value slightly beyond anything the
    training days held (a busier hour, a restart more) scores like a tenfold spike.
    With it, rare normal values lie inside the forest's range and only values well
    beyond it reach the top scores.
    """
    if not hasattr(pipeline[-1], "score_samples"):
        raise ConfigError(f"the detector's last step {type(pipeline[-1]).__name__} has no score_samples; use an IsolationForest")
    normal = features[~labels.to_numpy(dtype=bool)].to_numpy(dtype=float)
    if len(normal) < 2:
        raise ConfigError("the training slice has fewer than 2 rows not labelled anomalous; use more TRAINING_HOURS")
    rows = pipeline[:-1].fit_transform(normal) if len(pipeline) > 1 else normal
    jittered = rows + np.random.default_rng(seed).normal(0.0, MARGIN, rows.shape)
    pipeline[-1].fit(np.vstack((rows, jittered)))
    return pipeline


@dataclass(frozen=True)
class Calibration:
    threshold: float  # flagged when score_samples < threshold
    false_alarm_budget_per_day: float
    effective_budget_per_day: float  # 0 when the budget allows less than one false alarm on the slice
    within_budget: bool
    validation: dict  # evaluate_flags at the chosen threshold
    curve: pd.DataFrame  # one row per candidate threshold


def calibrate(scores: np.ndarray, labels: np.ndarray, step_seconds: float, budget_per_day: float,
              untouched_scores: np.ndarray | None = None, entities: np.ndarray | None = None) -> Calibration:
    """Choose the score threshold on a validation slice (see module docstring).

    `untouched_scores`: the scores of the slice's values without injected events; false alarms
    per day are counted on them (every alarm there is false). Without them (data without
    injections), an alarm touching no labelled point is false. `entities` (an entity model's
    key per row): alarms and events stay inside one entity, days are entity-days."""
    days = len(scores) * step_seconds / SECONDS_PER_DAY
    if entities is not None:
        entities = pd.factorize(entities)[0]  # integer codes: each candidate compares them twice
    effective_budget = budget_per_day if budget_per_day * days >= 1 else 0.0
    # min(scores) flags nothing (flagged: score < threshold), so a threshold within the budget always exists
    candidates = np.unique(np.append(np.quantile(scores, CANDIDATE_QUANTILES), scores.min()))
    results = []
    for t in candidates:
        metrics = evaluate_flags(labels, scores < t, step_seconds, entities)
        if untouched_scores is not None:
            metrics["false_alarms"] = len(runs(untouched_scores < t, entities))
            metrics["false_alarms_per_day"] = metrics["false_alarms"] / days
        results.append((float(t), metrics))
    feasible = [r for r in results if r[1]["false_alarms_per_day"] <= effective_budget]
    within_budget = bool(feasible)
    if not within_budget:
        fewest = min(m["false_alarms_per_day"] for _, m in results)
        feasible = [r for r in results if r[1]["false_alarms_per_day"] == fewest]
    if labels.any():
        threshold, chosen = max(feasible, key=lambda r: (r[1]["event_recall"], r[0]))
    else:
        threshold, chosen = max(feasible, key=lambda r: r[0])
    curve = pd.DataFrame([{"threshold": t, **m} for t, m in results])
    return Calibration(threshold, budget_per_day, effective_budget, within_budget, chosen, curve)


def set_threshold(model: Pipeline, threshold: float) -> Pipeline:
    """Make `predict` flag exactly the points with score_samples < threshold."""
    model[-1].offset_ = float(threshold)
    return model


def false_alarm_budget(thresholds: dict) -> float:
    """The budget calibration works to: CALIBRATION_SHARE of the false-alarm limit.

    Well inside the limit, because the validation and test slices are different days: a
    threshold chosen right at the limit on one exceeds it on the next about half the time.
    """
    return CALIBRATION_SHARE * false_alarm_limit(thresholds)
