"""The PromQL actually sent for a registry metric: counters become per-second rates and
several series become one by the metric's `aggregate` (one per entity for a per-entity model),
both done by Prometheus."""

from __future__ import annotations

import re

from ..registry import GROUP, MetricSpec

AGGREGATORS = {"sum": "sum", "mean": "avg", "max": "max", "min": "min"}
MIN_RATE_WINDOW_SECONDS = 300  # matches the synthetic restart rate window (hints.rate_window_minutes)
_SELECTOR = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})?$")


def rate_window_seconds(step_seconds: int) -> int:
    """Wide enough to hold several scrapes at any step (Prometheus' advice: >= 4 scrape intervals)."""
    return max(MIN_RATE_WINDOW_SECONDS, 4 * step_seconds)


def feature_query(metric: MetricSpec, step_seconds: int, entity: tuple[str, ...] = ()) -> str:
    """The PromQL of a metric; for a per-entity model (`entity` labels) a `group` metric keeps them:
    `avg by (instance) (...)`, one series per entity."""
    query = metric.query.strip()
    if metric.type == "counter":
        window = f"{rate_window_seconds(step_seconds)}s"
        # A bare selector takes a range directly; any other expression needs a subquery.
        query = f"rate({query}[{window}])" if _SELECTOR.match(query) else f"rate(({query})[{window}:{step_seconds}s])"
    if entity and metric.entity_join == GROUP:
        return f"{AGGREGATORS[metric.aggregate]} by ({', '.join(entity)}) ({query})"
    return f"{AGGREGATORS[metric.aggregate]}({query})"
