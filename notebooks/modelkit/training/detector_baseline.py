"""The naive detector the Model Evaluation section compares the model with: a static threshold
alert at each metric's training range (flag a row when any metric lies outside the min..max of
the training slice's unlabelled rows), the rule an SRE would write by hand; for an entity model
each entity's own range (a busy node's normal load is not an alert), the fleet's for an entity
with no training rows. It is judged on the model's held-out times: false alarms on the untouched
real rows, recall on the injected (or, for a labelled file, the file's own) events, per
entity-day for an entity model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..entities import entity_columns
from ..evaluation.anomaly import evaluate_flags, false_alarm_limit
from ..features import entity_rows, row_entities
from .anomaly_workflow import AnomalyResult, untouched_false_alarms

NAME = "static thresholds at the training range"


def _ranges(values: np.ndarray, normal_train: np.ndarray, groups: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the low and high end of its entity's training range (the fleet's when it has none)."""
    low, high = np.empty_like(values), np.empty_like(values)
    fleet = values[normal_train]
    for rows in groups.values():
        own = values[rows][normal_train[rows]]
        reference = own if len(own) else fleet
        low[rows], high[rows] = np.nanmin(reference, axis=0), np.nanmax(reference, axis=0)
    return low, high


def static_threshold_baseline(result: AnomalyResult) -> dict[str, Any]:
    """The baseline's figures on the held-out slice."""
    names, labels_in = list(result.run.spec.metric_names), entity_columns(result.run.spec)
    frame, untouched = result.frame, result.untouched
    labelled = frame["is_anomaly"].to_numpy(dtype=bool)
    normal_train = frame.index.isin(result.split.train.index) & ~labelled
    test = frame.index.isin(result.split.test.index)
    groups = entity_rows(frame, labels_in) if labels_in else {"": np.arange(len(frame))}
    injected_values = frame[names].to_numpy(dtype=float)
    low, high = _ranges(injected_values, normal_train, groups)

    def flags(values: pd.DataFrame) -> np.ndarray:
        rows = values[names].to_numpy(dtype=float)[test]
        return ((rows < low[test]) | (rows > high[test])).any(axis=1)

    labels, step = labelled[test], result.step_seconds
    entities = None if not labels_in else row_entities(frame, labels_in)[test]
    labelled_file = result.provenance.get("labelled_events") is not None
    real = untouched_false_alarms(flags(untouched), step, false_alarm_limit(result.run.spec.thresholds), entities,
                                  labels=labels if labelled_file else None)
    events = evaluate_flags(labels, flags(frame), step, entities)
    return {"name": NAME, "false_alarms": real["false_alarms"], "false_alarms_per_day": real["false_alarms_per_day"],
            "events": events["events"], "events_detected": events["events_detected"], "event_recall": events["event_recall"],
            "alarms_per_day": events["alarms_per_day"]}
