"""The anomaly detector: StandardScaler + whitening PCA + IsolationForest, with a calibrated threshold.

A fixed `contamination` would flag the same share of points on every cluster. Instead
the decision threshold is the most sensitive one expected to raise at most
CALIBRATION_SHARE of the allowed false alarms per day: read from the fitted tail of the
scores of normal rows the model did not see (the validation slice that follows the
training slice in time, and the training rows scored out of fold; `tail_threshold`), since
at about one false alarm a day no slice of a normal run is long enough to count the budget.
When the validation slice is long enough (budget x its days >= 1), the threshold is also
kept within the budget by count there: the one detecting the most labelled (injected)
events, ties by the most sensitive. False alarms are counted on the untouched values of
the slice (every alarm there is false), so an alarm that happens to touch an injected
event never hides one. The threshold is baked into the fitted IsolationForest's
`offset_`, so the pickled object is plain scikit-learn: `predict` returns -1 (anomaly) / +1 (normal) with that threshold and
`score_samples` / `decision_function` give the scores (lower = more anomalous;
decision_function < 0 means flagged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
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
FOLDS = 3  # time spans of the training rows for out-of-fold scores
TAIL_SHARES = (0.1, 0.2, 0.3, 0.5)  # top shares of the normal scores tried as the tail's start, in order
MIN_CLUSTERS = 10  # runs of exceeding rows (alarms) the tail is fitted on, at least
EMPIRICAL_STRIDE = 5  # a budget within the scores' own range: every 5th score tried as the threshold (runs are counted at each)


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


def out_of_fold_scores(features: pd.DataFrame, labels: pd.Series, pipeline: Pipeline, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the training rows by detectors that did not see them, and each row's fold.

    The rows are cut into FOLDS consecutive time spans of their time index (a panel's
    entities are cut at the same times); each span is scored by a copy of `pipeline`
    fitted on the other spans. Rows labelled anomalous get NaN. These are what the detector
    scores on normal days it has not seen, more of them than the validation slice alone holds:
    the tail of normal scores is fitted on both (see `tail_threshold`)."""
    times = pd.DatetimeIndex(features.index).asi8
    fold = np.searchsorted(np.quantile(times, np.linspace(0, 1, FOLDS + 1)[1:-1]), times, side="right")
    normal = ~labels.to_numpy(dtype=bool)
    scores = np.full(len(features), np.nan)
    values = features.to_numpy(dtype=float)
    for k in range(FOLDS):
        held_out, fitting = fold == k, (fold != k) & normal
        if not held_out.any() or fitting.sum() < 2:
            continue
        copy = clone(pipeline)
        if isinstance(copy[-1], IsolationForest) and isinstance(copy[-1].max_samples, int):
            copy[-1].set_params(max_samples=min(copy[-1].max_samples, int(fitting.sum())))
        model = fit(pd.DataFrame(values[fitting]), pd.Series(np.zeros(int(fitting.sum()), dtype=bool)), copy, seed)
        scores[held_out & normal] = model.score_samples(values[held_out & normal])
    return scores, fold


def tail_threshold(normal_scores: np.ndarray, step_seconds: float, alarms_per_day: float,
                   segments: np.ndarray | None = None) -> float:
    """The score threshold at which scores like `normal_scores` (no anomaly in them) raise about
    `alarms_per_day` alarm runs a day, also where that rate is rarer than the scores can show.

    Peaks over threshold with runs declustering (as SPOT, Siffer et al., KDD 2017, and the
    classic POT practice for dependent data): above a high start (the top TAIL_SHARE of the
    scores, lowered until MIN_CLUSTERS runs of exceeding rows lie above it) each run of
    exceeding rows is one alarm, and its peak's excess over the start is fitted with the
    generalized Pareto distribution of shape 0, the exponential. Runs per day above the start
    times the chance that a peak exceeds z gives the alarms per day at z; the threshold is the
    z where that is the budget, so one alarm in three days is met from two days of scores.
    The shape is fixed: fitted on a dozen peaks it is noise (a free shape gave twice the asked
    rate on the days after 2-day samples, tests/training/test_models.py), and the forest's
    scores are bounded (score_samples >= -1), so their true tail is shorter than the
    exponential: the threshold errs on the quiet side. A budget above the start's rate is
    read from the scores themselves. `segments` keys rows that are not consecutive (other
    folds or entities): a run never spans two."""
    anomaly = -np.asarray(normal_scores, dtype=float)
    days = len(anomaly) * step_seconds / SECONDS_PER_DAY
    ordered = np.sort(anomaly)
    for share in TAIL_SHARES:
        start = ordered[min(int((1 - share) * len(anomaly)), len(anomaly) - 1)]
        clusters = runs(anomaly > start, segments)
        if len(clusters) >= MIN_CLUSTERS:
            break
    if not clusters:  # the top scores all equal: nothing rarer can be told apart
        return -float(start)
    if len(clusters) / days <= alarms_per_day:
        levels = ordered[int((1 - share) * len(anomaly)):][::-1]  # from the rarest down to the start
        rates = [len(runs(anomaly > level, segments)) / days for level in levels[::EMPIRICAL_STRIDE]]
        within = [level for level, rate in zip(levels[::EMPIRICAL_STRIDE], rates) if rate <= alarms_per_day]
        return -float(within[-1]) if within else -float(start)
    peaks = np.array([anomaly[a:b].max() for a, b in clusters]) - start
    return -float(start + peaks.mean() * np.log(len(clusters) / days / alarms_per_day))


@dataclass(frozen=True)
class Calibration:
    threshold: float  # flagged when score_samples < threshold
    false_alarm_budget_per_day: float
    effective_budget_per_day: float  # what the slice's count allowed; 0 when it allows less than one false alarm there
    within_budget: bool
    validation: dict  # evaluate_flags at the chosen threshold
    curve: pd.DataFrame  # one row per candidate threshold
    tail_threshold: float  # the threshold the fitted tail of normal scores gives for the budget


def calibrate(scores: np.ndarray, labels: np.ndarray, step_seconds: float, budget_per_day: float,
              untouched_scores: np.ndarray | None = None, entities: np.ndarray | None = None,
              extra_normal: tuple[np.ndarray, np.ndarray] | None = None) -> Calibration:
    """Choose the score threshold on a validation slice (see module docstring).

    `untouched_scores`: the scores of the slice's values without injected events; false alarms
    per day are counted on them (every alarm there is false). Without them (data without
    injections), an alarm touching no labelled point is false. `entities` (an entity model's
    key per row): alarms and events stay inside one entity, days are entity-days.
    `extra_normal`: more scores of normal rows the detector did not see (out_of_fold_scores)
    and their segment keys, pooled with the slice's for the tail fit."""
    days = len(scores) * step_seconds / SECONDS_PER_DAY
    if entities is not None:
        entities = pd.factorize(entities)[0]  # integer codes: each candidate compares them twice
    countable = budget_per_day * days >= 1
    effective_budget = budget_per_day if countable else 0.0
    normal, keys = (untouched_scores, entities) if untouched_scores is not None else (scores[~labels], entities if entities is None else entities[~labels])
    keys = np.zeros(len(normal), dtype=int) if keys is None else keys
    if extra_normal is not None:
        kept = ~np.isnan(extra_normal[0])
        normal = np.concatenate((normal, extra_normal[0][kept]))
        keys = np.concatenate((keys, pd.factorize(extra_normal[1][kept])[0] + keys.max() + 1))
    by_tail = tail_threshold(normal, step_seconds, budget_per_day, keys)
    # a threshold at or below every score flags nothing (flagged: score < threshold): always a candidate
    candidates = np.unique(np.append(np.quantile(scores, CANDIDATE_QUANTILES), [by_tail, min(scores.min(), by_tail)]))
    results = []
    for t in candidates:
        metrics = evaluate_flags(labels, scores < t, step_seconds, entities)
        if untouched_scores is not None:
            metrics["false_alarms"] = len(runs(untouched_scores < t, entities))
            metrics["false_alarms_per_day"] = metrics["false_alarms"] / days
        results.append((float(t), metrics))
    feasible = [r for r in results if r[0] <= by_tail and (not countable or r[1]["false_alarms_per_day"] <= effective_budget)]
    within_budget = bool(feasible)
    if not within_budget:
        fewest = min(m["false_alarms_per_day"] for t, m in results if t <= by_tail)
        feasible = [r for r in results if r[0] <= by_tail and r[1]["false_alarms_per_day"] == fewest]
    if labels.any():
        threshold, chosen = max(feasible, key=lambda r: (r[1]["event_recall"], r[0]))
    else:
        threshold, chosen = max(feasible, key=lambda r: r[0])
    curve = pd.DataFrame([{"threshold": t, **m} for t, m in results])
    return Calibration(threshold, budget_per_day, effective_budget, within_budget, chosen, curve, by_tail)


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
