"""Train and evaluate the anomaly detector of one run; the notebook shows and publishes the result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ..data import load_training_frame
from . import anomaly_detector
from .anomaly_evaluation import evaluate_flags, pr_auc, recall_by_kind
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
    metrics: dict[str, Any]

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
            reference_inputs=self.split.train.loc[~self.split.train["is_anomaly"].astype(bool), self.feature_names],
            details={
                "algorithm": " + ".join(type(step).__name__ for step in self.model) + ", threshold calibrated on validation data",
                "threshold": self.calibration.threshold,
                "false_alarm_budget_per_day": self.calibration.false_alarm_budget_per_day,
                "calibrated_within_budget": self.calibration.within_budget,
                "validation_metrics": self.calibration.validation,
                "split": self.split.describe(),
                "params": {k: v for k, v in self.model[-1].get_params().items() if isinstance(v, (int, float, str, bool, type(None)))},
            },
        )


def train(run: TrainingRun, pipeline: Pipeline | None = None, end: datetime | None = None) -> AnomalyResult:
    """`pipeline`: an unfitted detector (default anomaly_detector.build_pipeline); `end`: last
    time of the data window (default now; tests pin it)."""
    loaded = load_training_frame(run.spec, run.data_settings(), end=end)
    names = list(run.spec.features)
    step = check_frame(loaded.frame, names)
    split = split_by_time(loaded.frame, events=loaded.frame["is_anomaly"].to_numpy())
    if pipeline is None:
        pipeline = anomaly_detector.build_pipeline(run.settings.seed, training_rows=len(split.train))
    model = anomaly_detector.fit(split.train[names], split.train["is_anomaly"], pipeline, seed=run.settings.seed)
    validation_scores = model.score_samples(split.validation[names].to_numpy(dtype=float))
    budget = anomaly_detector.false_alarm_budget(run.spec.thresholds)
    calibration = anomaly_detector.calibrate(validation_scores, split.validation["is_anomaly"].to_numpy(dtype=bool), step, budget)
    anomaly_detector.set_threshold(model, calibration.threshold)

    test_inputs = split.test[names].to_numpy(dtype=float)
    test_labels = split.test["is_anomaly"].to_numpy(dtype=bool)
    test_scores = model.score_samples(test_inputs)
    test_flags = model.predict(test_inputs) == -1
    metrics = evaluate_flags(test_labels, test_flags, step)
    metrics["pr_auc"] = pr_auc(test_labels, -test_scores)
    metrics.update(recall_by_kind(split.test["anomaly_kind"].to_numpy(), test_flags))
    return AnomalyResult(run, loaded.frame, loaded.provenance, step, split, model, calibration, test_scores, test_flags, metrics)
