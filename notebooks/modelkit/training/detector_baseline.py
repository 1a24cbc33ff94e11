"""The naive detector the Model Evaluation section compares the model with: a static threshold
alert at each metric's training range (flag a row when any metric lies outside the min..max of
the training slice's unlabelled rows), the rule an SRE would write by hand. It is judged on
exactly the model's held-out rows: false alarms on the untouched real rows, recall on the
injected (or, for a labelled file, the file's own) events."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..evaluation.anomaly import evaluate_flags, false_alarm_limit
from .anomaly_workflow import AnomalyResult, untouched_false_alarms

NAME = "static thresholds at the training range"


def _untouched_test_values(result: AnomalyResult, names: list[str]) -> pd.DataFrame:
    """The untouched values of the held-out rows, from the replay block the version records."""
    block = result.replay
    values = block["untouched"]
    rows = len(next(iter(values.values())))
    index = pd.date_range(pd.Timestamp(block["start"]), periods=rows, freq=f"{block['step_seconds']}s", name="timestamp")
    return pd.DataFrame(values, index=index).loc[result.split.test.index, names]


def static_threshold_baseline(result: AnomalyResult) -> dict[str, Any] | None:
    """The baseline's figures on the held-out slice; None for a panel frame (one range per entity is
    another rule)."""
    if not result.frame.index.is_unique:
        return None
    names = list(result.run.spec.metric_names)
    train = result.frame.loc[result.split.train.index]
    normal = train.loc[~train["is_anomaly"].to_numpy(dtype=bool), names]
    low, high = normal.min().to_numpy(), normal.max().to_numpy()

    def flags(values: pd.DataFrame) -> np.ndarray:
        rows = values.to_numpy(dtype=float)
        return ((rows < low) | (rows > high)).any(axis=1)

    labels = result.split.test["is_anomaly"].to_numpy(dtype=bool)
    labelled_file = result.provenance.get("labelled_events") is not None
    real = untouched_false_alarms(flags(_untouched_test_values(result, names)), result.step_seconds,
                                  false_alarm_limit(result.run.spec.thresholds), labels=labels if labelled_file else None)
    events = evaluate_flags(labels, flags(result.frame.loc[result.split.test.index, names]), result.step_seconds)
    return {"name": NAME, "false_alarms": real["false_alarms"], "false_alarms_per_day": real["false_alarms_per_day"],
            "events": events["events"], "events_detected": events["events_detected"], "event_recall": events["event_recall"],
            "alarms_per_day": events["alarms_per_day"]}
