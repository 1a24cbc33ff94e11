"""Train and evaluate the anomaly detector of one run; the notebook shows and publishes the result.

An entity model (registry `entity:`) is one detector trained on every entity's rows, each
row's features taken from that entity's own history (modelkit.features), split at the same
times for every entity; its held-out figures are per entity-day overall, and per entity in
`details.per_entity` and `metrics.worst_entities`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from .. import features as feature_module
from ..data import load_training_frame
from ..data.prometheus import PrometheusClient
from ..entities import entity_columns
from ..evaluation.anomaly import (SECONDS_PER_DAY, evaluate_flags, false_alarm_limit, per_entity, pr_auc, recall_by_kind,
                                  worst_entities)
from ..evaluation.events import runs
from ..evaluation.replay import record_window
from ..recorded_source import RecordedSeries
from . import anomaly_detector
from . import warmup
from .frame_checks import check_frame
from .metadata import build_metadata
from .run_context import TrainingRun
from .splits import TimeSplit, split_by_time

KINDS = ("anomaly-detector",)
PROBE_ROWS = 4
UNTOUCHED = "untouched:"  # prefix of a row's feature values computed from the untouched metric values
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
    untouched: pd.DataFrame  # the loaded values without injected events, row for row with `frame`
    per_entity: dict[str, dict] | None = None  # an entity model's held-out figures per entity

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
            reference_inputs=self.split.train.loc[~self.split.train["is_anomaly"].to_numpy(dtype=bool), self.feature_names],
            details={
                "algorithm": " + ".join(type(step).__name__ for step in self.model) + ", threshold calibrated on validation data",
                "threshold": self.calibration.threshold,
                "false_alarm_budget_per_day": self.calibration.false_alarm_budget_per_day,
                "effective_false_alarm_budget_per_day": self.calibration.effective_budget_per_day,
                "calibrated_within_budget": self.calibration.within_budget,
                "validation_metrics": self.calibration.validation,
                "split": self.split.describe(),
                "per_entity": self.per_entity,
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
    labels_in = entity_columns(run.spec)
    features = feature_module.parse_features(names, run.spec.metric_names)
    warmup_hours = warmup.warmup_hours(run.spec)
    loaded = load_training_frame(run.spec, run.data_settings(extra_hours=warmup_hours), end=end, client=client)
    step = check_frame(loaded.frame, run.spec.metric_names, labels_in)
    injected = feature_module.build_features(loaded.frame, features, step, labels_in)
    untouched = feature_module.build_features(loaded.untouched, features, step, labels_in)[names].add_prefix(UNTOUCHED)
    rows = pd.concat([injected.reset_index(drop=True), untouched.reset_index(drop=True),
                      loaded.frame[["is_anomaly", "anomaly_kind"]].reset_index(drop=True)], axis=1).set_axis(loaded.frame.index)
    rows = rows[rows[names + list(untouched.columns)].notna().all(axis=1).to_numpy()]
    limit = false_alarm_limit(run.spec.thresholds)
    entity_count = len(feature_module.entity_rows(rows, labels_in)) if labels_in else 1
    split = split_by_time(rows, events=rows["is_anomaly"].to_numpy(), panel=bool(labels_in),
                          min_test_rows=math.ceil(SECONDS_PER_DAY / (limit * step * entity_count)))
    untouched_names = list(untouched.columns)

    def entities(part: pd.DataFrame) -> np.ndarray | None:
        return feature_module.row_entities(part, labels_in)

    if pipeline is None:
        pipeline = anomaly_detector.build_pipeline(run.settings.seed, training_rows=len(split.train))
    real_labels = loaded.labels_from_data
    train_rows = split.train[untouched_names].set_axis(names, axis=1)
    train_labels = split.train["is_anomaly"] if real_labels else pd.Series(False, index=train_rows.index)
    model = anomaly_detector.fit(train_rows, train_labels, pipeline, seed=run.settings.seed)
    validation_scores = model.score_samples(split.validation[names].to_numpy(dtype=float))
    budget = anomaly_detector.false_alarm_budget(run.spec.thresholds)
    untouched_scores = None if real_labels else model.score_samples(split.validation[untouched_names].to_numpy(dtype=float))
    fold_scores, folds = anomaly_detector.out_of_fold_scores(train_rows, train_labels, pipeline, run.settings.seed)
    fold_keys = folds if not labels_in else entities(split.train) + "#" + folds.astype(str)
    calibration = anomaly_detector.calibrate(validation_scores, split.validation["is_anomaly"].to_numpy(dtype=bool), step, budget,
                                             untouched_scores=untouched_scores, entities=entities(split.validation),
                                             extra_normal=(fold_scores, fold_keys))
    anomaly_detector.set_threshold(model, calibration.threshold)

    test, test_entities = split.test, entities(split.test)
    test_inputs = test[names].to_numpy(dtype=float)
    test_labels = test["is_anomaly"].to_numpy(dtype=bool)
    test_scores = model.score_samples(test_inputs)
    test_flags = model.predict(test_inputs) == -1
    metrics = evaluate_flags(test_labels, test_flags, step, test_entities)
    metrics["pr_auc"] = pr_auc(test_labels, -test_scores)
    metrics["lowest_held_out_score"] = float(test_scores.min())
    metrics.update(recall_by_kind(test["anomaly_kind"].to_numpy(), test_flags, test_entities))
    metrics["injected_slice_false_alarms_per_day"] = metrics["false_alarms_per_day"]
    untouched_flags = model.predict(test[untouched_names].to_numpy(dtype=float)) == -1
    own_labels = test_labels if real_labels else None
    metrics.update(untouched_false_alarms(untouched_flags, step, limit, test_entities, labels=own_labels))
    metrics["judged_on"] = ("the data's own is_anomaly labels (nothing injected)" if real_labels else
                            "injected events for recall; untouched rows for false alarms")
    by_entity = None
    if labels_in:
        by_entity = per_entity(test_entities, test_labels, test_flags, untouched_flags, step, own_labels=real_labels)
        metrics.update(entity_summary(by_entity, metrics, test.index.unique().size * step / SECONDS_PER_DAY))
    replay = record_window(loaded.untouched, test.index.min(), step, feature_module.lookback_minutes(features),
                           injected=loaded.frame, labels=loaded.frame["is_anomaly"], entity_columns=labels_in,
                           labels_from_data=real_labels)
    return AnomalyResult(run, loaded.frame, loaded.provenance, step, split, model, calibration, test_scores, test_flags,
                         untouched_flags, metrics, replay, loaded.untouched, by_entity)


def entity_summary(by_entity: dict[str, dict], metrics: dict[str, Any], span_days: float) -> dict[str, Any]:
    """An entity model's extra held-out figures: false_alarms_per_day is then per entity-day (what the
    gate limits); fleet_false_alarms_per_day is what the whole fleet raises in a day of the slice."""
    recalls = [e["event_recall"] for e in by_entity.values() if e["event_recall"] is not None]
    return {"entities": len(by_entity), "false_alarms_per_entity_day": metrics["false_alarms_per_day"],
            "fleet_false_alarms_per_day": metrics["false_alarms"] / span_days if span_days else None,
            "min_entity_event_recall": min(recalls) if recalls else None, "worst_entities": worst_entities(by_entity)}


def untouched_false_alarms(flags: np.ndarray, step_seconds: int, limit_per_day: float,
                           entities: np.ndarray | None = None, labels: np.ndarray | None = None) -> dict[str, Any]:
    """false_alarms(_per_day) on untouched rows (every alarm there is false; with the data's own
    `labels`, every alarm touching no labelled point), over false_alarm_days (entity-days for an
    entity model); false_alarm_time_share, the share of those rows in false alarm (a detector
    always in alarm raises few alarm runs, but is in false alarm all the time); and whether the
    limit allows at least one false alarm on them (else it cannot be checked there)."""
    days = len(flags) * step_seconds / SECONDS_PER_DAY
    false_runs = [(start, stop) for start, stop in runs(flags, entities) if labels is None or not labels[start:stop].any()]
    count = len(false_runs)
    return {"false_alarms": count, "false_alarms_per_day": count / days, "false_alarm_days": days,
            "false_alarm_time_share": sum(stop - start for start, stop in false_runs) / len(flags) if len(flags) else None,
            "false_alarm_limit_per_day": limit_per_day, "false_alarm_limit_checkable": limit_per_day * days >= 1}
