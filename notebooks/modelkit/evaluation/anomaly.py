"""How good is an anomaly detector on labelled held-out data: per point, per event, per alarm.

An event is a run of consecutive labelled points; it is detected when any point inside
it is flagged. An alarm is a run of consecutive flagged points (what pages an operator);
a false alarm touches no labelled point.

For an entity model (rows grouped by entity, an entity key per row) events and alarms never
span two entities, and "per day" means per entity-day: the rows' total duration over all
entities, so a rate does not grow with the size of the fleet. `per_entity` and
`worst_entities` give the same figures for each entity.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

from .events import count_touching, entity_starts, runs

SECONDS_PER_DAY = 86400
DEFAULT_FALSE_ALARMS_PER_DAY = 6.0


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _point_scores(labels: np.ndarray, flags: np.ndarray) -> tuple[float, float, float]:
    """Point precision, recall and F1 (0 where undefined; as scikit-learn's with zero_division=0, without
    its input checks, which took most of a calibration's time on a fleet's rows)."""
    hits = int(np.count_nonzero(labels & flags))
    precision = hits / max(int(np.count_nonzero(flags)), 1)
    recall = hits / max(int(np.count_nonzero(labels)), 1)
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def evaluate_flags(labels: np.ndarray, flags: np.ndarray, step_seconds: float,
                   entities: np.ndarray | None = None) -> dict[str, float | int | None]:
    """Point, event and alarm metrics of `flags` (True = flagged) against `labels`.

    None marks a metric that cannot be computed (for example event recall when the
    slice holds no labelled event); a threshold on it then counts as not met.
    `entities`: the entity key of each row of a panel (module docstring).
    """
    labels = np.asarray(labels, dtype=bool)
    flags = np.asarray(flags, dtype=bool)
    days = len(labels) * step_seconds / SECONDS_PER_DAY
    precision, recall, f1 = _point_scores(labels, flags)
    events = runs(labels, entities)
    alarms = runs(flags, entities)
    detected = count_touching(events, flags)
    true_alarms = count_touching(alarms, labels)
    event_recall = _ratio(detected, len(events))
    alarm_precision = _ratio(true_alarms, len(alarms))
    return {
        "point_precision": float(precision) if flags.any() else None,
        "point_recall": float(recall) if labels.any() else None,
        "point_f1": float(f1) if labels.any() else None,
        "events": len(events),
        "events_detected": detected,
        "event_recall": event_recall,
        "alarms": len(alarms),
        "false_alarms": len(alarms) - true_alarms,
        "alarm_precision": alarm_precision,
        "event_f1": _f1(alarm_precision, event_recall),
        "alarms_per_day": len(alarms) / days,
        "false_alarms_per_day": (len(alarms) - true_alarms) / days,
        "evaluated_days": days,
    }


def pr_auc(labels: np.ndarray, anomaly_scores: np.ndarray) -> float | None:
    """Area under the precision-recall curve (average precision); higher scores = more anomalous."""
    labels = np.asarray(labels, dtype=bool)
    if not labels.any() or labels.all():
        return None
    return float(average_precision_score(labels, anomaly_scores))



def recall_by_kind(kinds: np.ndarray, flags: np.ndarray, entities: np.ndarray | None = None) -> dict[str, float]:
    """event_recall_<kind>: the share of events of each anomaly kind ("" = normal row) with a flagged point."""
    kinds = np.asarray(kinds, dtype=object)
    flags = np.asarray(flags, dtype=bool)
    edges = np.union1d(np.flatnonzero(kinds[1:] != kinds[:-1]) + 1, entity_starts(entities))
    totals: dict[str, list[int]] = {}
    for start, end in zip(np.r_[0, edges], np.r_[edges, len(kinds)]):
        if kinds[start]:
            counts = totals.setdefault(str(kinds[start]), [0, 0])
            counts[0] += int(flags[start:end].any())
            counts[1] += 1
    return {f"event_recall_{kind}": detected / total for kind, (detected, total) in sorted(totals.items())}


WORST_ENTITIES = 5


def per_entity(entities: np.ndarray, labels: np.ndarray, flags: np.ndarray, untouched_flags: np.ndarray,
               step_seconds: float, own_labels: bool = False) -> dict[str, dict[str, float | int | None]]:
    """For each entity: its held-out days, events, event recall (on the rows with injected events)
    and false alarms per day (alarms on its untouched rows, where every alarm is false; with the
    data's `own_labels`, nothing injected, the alarms touching no labelled row)."""
    entities = np.asarray(entities, dtype=object)
    bounds = np.r_[0, entity_starts(entities), len(entities)]
    report = {}
    for start, end in zip(bounds[:-1], bounds[1:]):
        judged = evaluate_flags(labels[start:end], flags[start:end], step_seconds)
        alarms = judged["false_alarms"] if own_labels else len(runs(untouched_flags[start:end]))
        report[str(entities[start])] = {"days": judged["evaluated_days"], "events": judged["events"],
                                        "event_recall": judged["event_recall"], "false_alarms": alarms,
                                        "false_alarms_per_day": alarms / judged["evaluated_days"]}
    return report


def worst_entities(report: dict[str, dict], count: int = WORST_ENTITIES) -> list[dict[str, float | str | None]]:
    """The `count` entities with the most false alarms per day, then the lowest event recall
    (an entity without events in the slice counts as recall 1: nothing was missed there)."""
    def badness(item):
        _, figures = item
        recall = figures["event_recall"]
        return (-figures["false_alarms_per_day"], 1.0 if recall is None else recall)

    return [{"entity": key, "false_alarms_per_day": figures["false_alarms_per_day"], "event_recall": figures["event_recall"]}
            for key, figures in sorted(report.items(), key=badness)[:count]]


def false_alarm_limit(thresholds: dict) -> float:
    """False alarms per day a version may raise on untouched held-out rows: the registry's, else the default."""
    for key in ("maxFalseAlarmsPerDay", "maxAlarmsPerDay"):
        if key in thresholds:
            return float(thresholds[key])
    return DEFAULT_FALSE_ALARMS_PER_DAY
