"""Train and evaluate the anomaly detector of one run; the notebook shows and publishes the result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from .. import features as feature_module
from ..data import load_training_frame
from ..data.prometheus import PrometheusClient
from ..lifecycle.replay import record_window
from ..recorded_source import RecordedSeries
from . import anomaly_detector
from . import warmup
from .anomaly_evaluation import SECONDS_PER_DAY, evaluate_flags, pr_auc, recall_by_kind
from .events import runs
from .frame_checks import check_frame
from .metadata import build_metadata
from .run_context import TrainingRun
from .splits import TimeSplit, split_by_time

KINDS = ("anomaly-detector",)
PROBE_ROWS = 4
OUTPUTS = {
    "names": ["anomaly"],
    "meaning": (
        "predict returns one value per input row: -1 = anomaly, 1 = normal, using the threshold calibrated on "
        "validation data (details.threshold). score_samples returns the anomaly score (lower = more anomalous); "
        "decision_function = score_samples - threshold, negative when flagged."
    ),
}


@dataclass
class AnomalyResult:
    run: TrainingRun
    frame: pd.DataFrame
    provenance: dict[str, Any]
    step_seconds: int
    split: TimeSplit
    model: Pipeline
    calibration: anomaly_detector.Calibration
    test_scores: np.ndarray  # score_samples on the test slice
    test_flags: np.ndarray  # predict == -1 on the test slice
    untouched_test_flags: np.ndarray  # predict == -1 on the test slice's untouched values (all false alarms)
    metrics: dict[str, Any]
    replay: dict[str, Any]  # the test slice for the gate's replay

    @property
    def feature_names(self) -> list[str]:
        return list(self.run.spec.features)

    def probe_input(self) -> list[list[float]]:
        """A few real held-out rows: evenly spaced ones and the most anomalous one."""
        rows = self.split.test[self.feature_names].to_numpy(dtype=float)
        picks = sorted({*np.linspace(0, len(rows) - 1, PROBE_ROWS - 1).astype(int).tolist(), int(np.argmin(self.test_scores))})
        return rows[picks].tolist()

    def metadata(self) -> dict[str, Any]:
        return build_metadata(
            self.run,
            metrics=self.metrics,
            outputs=OUTPUTS,
            provenance=self.provenance,
            probe_input=self.probe_input(),
            replay=self.replay,
            reference_inputs=self.split.train.loc[~self.split.train["is_anomaly"].astype(bool), self.feature_names],
            details={
                "algorithm": " + ".join(type(step).__name__ for step in self.model) + ", threshold calibrated on validation data",
                "threshold": self.calibration.threshold,
                "false_alarm_budget_per_day": self.calibration.false_alarm_budget_per_day,
                "effective_false_alarm_budget_per_day": self.calibration.effective_budget_per_day,
                "calibrated_within_budget": self.calibration.within_budget,
                "validation_metrics": self.calibration.validation,
                "split": self.split.describe(),
                "params": {k: v for k, v in self.model[-1].get_params().items() if isinstance(v, (int, float, str, bool, type(None)))},
            },
        )


def train(run: TrainingRun, pipeline: Pipeline | None = None, end: datetime | None = None,
          client: PrometheusClient | RecordedSeries | None = None) -> AnomalyResult:
    """`pipeline`: an unfitted detector (default anomaly_detector.build_pipeline); `end`: last
    time of the data window (default now; tests pin it); `client`: where real values come from
    (default: the run's Prometheus).

    The forest is fitted on the untouched values of the training slice (no injected event in
    a row or in the history its features read). Injected events on the validation and test
    slices measure what it detects; false alarms are counted on the untouched values of the
    same slices, where every alarm is false. On data with its own labels (a labelled file) nothing
    is injected: the forest is fitted on the training rows not labelled, and an alarm is false
    when it touches no labelled point."""
    names = list(run.spec.features)
    features = feature_module.parse_features(names, run.spec.metric_names)
    warmup_hours = warmup.warmup_hours(run.spec)
    loaded = load_training_frame(run.spec, run.data_settings(extra_hours=warmup_hours), end=end, client=client)
    step = check_frame(loaded.frame, run.spec.metric_names)
    injected = feature_module.build_features(loaded.frame, features, step)
    untouched = feature_module.build_features(loaded.untouched, features, step)
    complete = injected.notna().all(axis=1) & untouched.notna().all(axis=1)
    rows = pd.concat([injected, loaded.frame[["is_anomaly", "anomaly_kind"]]], axis=1)[complete]
    untouched = untouched[complete]
    split = split_by_time(rows, events=rows["is_anomaly"].to_numpy())

    def clean(part: pd.DataFrame) -> np.ndarray:
        return untouched.loc[part.index, names].to_numpy(dtype=float)

    if pipeline is None:
        pipeline = anomaly_detector.build_pipeline(run.settings.seed, training_rows=len(split.train))
    train_rows = untouched.loc[split.train.index, names]
    real_labels = loaded.labels_from_data
    train_labels = split.train["is_anomaly"] if real_labels else pd.Series(False, index=train_rows.index)
    model = anomaly_detector.fit(train_rows, train_labels, pipeline, seed=run.settings.seed)
    validation_scores = model.score_samples(split.validation[names].to_numpy(dtype=float))
    budget = anomaly_detector.false_alarm_budget(run.spec.thresholds)
    calibration = anomaly_detector.calibrate(validation_scores, split.validation["is_anomaly"].to_numpy(dtype=bool), step, budget,
                                             untouched_scores=None if real_labels else model.score_samples(clean(split.validation)))
    anomaly_detector.set_threshold(model, calibration.threshold)

    test_inputs = split.test[names].to_numpy(dtype=float)
    test_labels = split.test["is_anomaly"].to_numpy(dtype=bool)
    test_scores = model.score_samples(test_inputs)
    test_flags = model.predict(test_inputs) == -1
    metrics = evaluate_flags(test_labels, test_flags, step)
    metrics["pr_auc"] = pr_auc(test_labels, -test_scores)
    metrics.update(recall_by_kind(split.test["anomaly_kind"].to_numpy(), test_flags))
    metrics["injected_slice_false_alarms_per_day"] = metrics["false_alarms_per_day"]
    untouched_flags = model.predict(clean(split.test)) == -1
    metrics.update(untouched_false_alarms(untouched_flags, step, anomaly_detector.false_alarm_limit(run.spec.thresholds),
                                          labels=test_labels if real_labels else None))
    metrics["judged_on"] = ("the data's own is_anomaly labels (nothing injected)" if real_labels else
                            "injected events for recall; untouched rows for false alarms")
    replay = record_window(loaded.untouched, split.test.index[0], step, feature_module.lookback_minutes(features),
                           injected=loaded.frame, labels=loaded.frame["is_anomaly"])
    return AnomalyResult(run, loaded.frame, loaded.provenance, step, split, model, calibration, test_scores, test_flags,
                         untouched_flags, metrics, replay)


def untouched_false_alarms(flags: np.ndarray, step_seconds: int, limit_per_day: float,
                           labels: np.ndarray | None = None) -> dict[str, Any]:
    """false_alarms(_per_day) on untouched rows (every alarm there is false; with the data's own
    `labels`, every alarm touching no labelled point), over false_alarm_days, and whether the limit
    allows at least one false alarm on them (else it cannot be checked there)."""
    days = len(flags) * step_seconds / SECONDS_PER_DAY
    count = len(runs(flags)) if labels is None else evaluate_flags(labels, flags, step_seconds)["false_alarms"]
    return {"false_alarms": count, "false_alarms_per_day": count / days, "false_alarm_days": days,
            "false_alarm_limit_per_day": limit_per_day, "false_alarm_limit_checkable": limit_per_day * days >= 1}
