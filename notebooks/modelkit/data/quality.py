"""Refuse a training window a model cannot learn from: per metric, before anomalies are injected.

A metric whose values do not vary carries no information, and the models fail silently on it:
a tree ensemble never splits on a constant column (so an anomaly in that metric is never
flagged), a scaler divides by a spread of ~0 (so any later change is an extreme outlier). The
rules, all relative to the metric's own values (so they hold for ratios, bytes and rates alike):

  all gaps           no finite sample in the window.
  constant           one distinct value (e.g. the PromQL `x) or vector(1)`, or a counter with
                     no event in the window: its model could not flag the events).
  nearly constant    max - min below MIN_RELATIVE_RANGE (one part per million) of the largest
                     magnitude: below what exporters resolve (a 4 KiB page of 64 GiB is 6e-8,
                     a percentage to 0.01 % is 1e-4), the values differ by rounding, not behaviour.
  too few distinct   gauges only: one value in more than MAX_TOP_VALUE_SHARE (99 %) of the rows,
  values             i.e. the metric moves for less than 15 min a day; the model learns that one
                     value. Counters (event rates) are exempt: 0 is their normal state, and each
                     event shows in a rate window of rows, so a mostly-zero restart rate trains.

The figures of every metric go into the provenance (`input_checks`).

A per-entity model is trained across its entities, on each entity's deviation from its own
history: a metric is refused when it is degenerate over all entities' rows together (then no
entity could teach the model anything about it). One entity whose metric does not move (an idle
node's CPU stays at 0, a drained node's load is constant) is not a reason to refuse the model:
it is listed under `degenerate_entities` with the reason, and its rows stay in the frame.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..registry import BROADCAST, ModelSpec

MIN_RELATIVE_RANGE = 1e-6
MAX_TOP_VALUE_SHARE = 0.99


class DegenerateFeature(DataError):
    """A metric's training window is constant, nearly constant, almost always one value, or all gaps."""


def value_figures(column: np.ndarray) -> dict[str, Any]:
    """What the rules look at, for one metric's values (NaN = gap)."""
    finite = column[np.isfinite(column)]
    if not len(finite):
        return {"rows": len(column), "finite_share": 0.0, "distinct_values": 0}
    values, counts = np.unique(finite, return_counts=True)
    low, high = float(finite.min()), float(finite.max())
    scale = max(abs(low), abs(high))
    return {
        "rows": len(column),
        "finite_share": round(len(finite) / len(column), 6),
        "distinct_values": len(values),
        "top_value": float(values[counts.argmax()]),
        "top_value_share": round(float(counts.max() / len(finite)), 6),
        "min": low,
        "max": high,
        "relative_range": (high - low) / scale if scale else 0.0,
    }


def problem(figures: dict[str, Any], metric_type: str) -> str | None:
    """Why a model cannot learn from a metric with these figures, or None."""
    if figures["distinct_values"] == 0:
        return "has no finite sample in the window (all gaps)"
    if figures["distinct_values"] == 1:
        what = "no event in the window" if metric_type == "counter" and figures["top_value"] == 0 else "the same value in every row"
        return f"is constant at {figures['top_value']:g} ({what})"
    if figures["relative_range"] < MIN_RELATIVE_RANGE:
        return (f"is nearly constant: it varies by {figures['relative_range']:.1e} of its magnitude "
                f"({figures['min']:g} to {figures['max']:g}; at least {MIN_RELATIVE_RANGE:g} needed)")
    if metric_type != "counter" and figures["top_value_share"] > MAX_TOP_VALUE_SHARE:
        return (f"has too few distinct values: {figures['top_value']:g} in {figures['top_value_share']:.2%} of the rows "
                f"(at most {MAX_TOP_VALUE_SHARE:.0%} allowed for a gauge)")
    return None


def check_training_values(values: pd.DataFrame, spec: ModelSpec, source: str, window: dict[str, Any]) -> dict[str, Any]:
    """The figures per metric; raise DegenerateFeature naming the first metric no model can learn from."""
    figures = {m.name: value_figures(values[m.name].to_numpy(dtype=float)) for m in spec.metrics}
    _refuse_degenerate(figures, spec, source, window)
    return {
        "rules": {"min_relative_range": MIN_RELATIVE_RANGE, "max_top_value_share_gauge": MAX_TOP_VALUE_SHARE},
        "metrics": figures,
    }


def check_panel_values(entities: Sequence, spec: ModelSpec, source: str, window: dict[str, Any]) -> dict[str, Any]:
    """The figures per metric over all entities (refused as above), and the entities whose own values are degenerate."""
    figures = {m.name: value_figures(np.concatenate([e.values[m.name].to_numpy(dtype=float) for e in entities]))
               for m in spec.metrics}
    _refuse_degenerate(figures, spec, source, window, f" of all {len(entities)} entities")
    degenerate: dict[str, dict[str, str]] = {}
    for entity in entities:
        for metric in spec.metrics:
            if metric.entity_join == BROADCAST:
                continue
            reason = problem(value_figures(entity.values[metric.name].to_numpy(dtype=float)), metric.type)
            if reason:
                degenerate.setdefault(entity.key, {})[metric.name] = reason
    return {
        "rules": {"min_relative_range": MIN_RELATIVE_RANGE, "max_top_value_share_gauge": MAX_TOP_VALUE_SHARE},
        "metrics": figures,
        "degenerate_entities": degenerate,
    }


def _refuse_degenerate(figures: dict[str, dict[str, Any]], spec: ModelSpec, source: str, window: dict[str, Any], scope: str = "") -> None:
    for metric in spec.metrics:
        reason = problem(figures[metric.name], metric.type)
        if reason:
            raise DegenerateFeature(
                f"model {spec.name!r} metric {metric.name!r} ({metric.type}, query {metric.query!r}) {reason} in the {source} "
                f"data{scope} from {window['start']} to {window['end']}: a model trained on it would never flag it. Check the query "
                "returns the metric you mean, train on a longer window (TRAINING_HOURS), or drop the metric from the registry entry"
            )
