"""The latest window of a model's metrics from Prometheus, with the training data's queries.

Queries come from `data.promql.feature_query` (the PromQL training sends) and go through the data
module's client (chunking, retries, bearer token, CA bundle). A window is refused, with the cause
the scorer counts, when the newest grid point of any metric has no sample (its series go stale
rather than showing an old value) or, where older rows feed lags or drift, a metric covers less
than half of them; gaps are filled as training fills them.
"""

from __future__ import annotations

import pandas as pd

from ..data.grid import make_grid
from ..data.prometheus import PrometheusBadAnswer, PrometheusClient, PrometheusQueryError, PrometheusUnavailable
from ..data.promql import feature_query
from ..data.real import MIN_COVERAGE
from ..errors import DataError
from ..registry import ModelSpec


class WindowError(Exception):
    """The window cannot be scored; `cause` is the label of modelkit_scoring_errors_total."""

    def __init__(self, cause: str, message: str):
        super().__init__(message)
        self.cause = cause


def fetch_window(client: PrometheusClient, spec: ModelSpec, seconds: int, step_seconds: int, end: float) -> pd.DataFrame:
    """The metrics of `spec` on the grid of `seconds` ending at `end` (floored to the step), gaps left as NaN.
    Refused when the newest grid point of any metric has no sample."""
    grid = make_grid(hours=seconds / 3600, step_seconds=step_seconds, end=end)
    queries = {m.name: feature_query(m, step_seconds) for m in spec.metrics}
    try:
        frame = pd.DataFrame(client.fetch(queries, grid), index=grid.index())
    except PrometheusUnavailable as exc:
        raise WindowError("prometheus_unreachable", str(exc)) from exc
    except (PrometheusBadAnswer, PrometheusQueryError) as exc:
        raise WindowError("prometheus_bad_answer", str(exc)) from exc
    except DataError as exc:
        raise WindowError("other", str(exc)) from exc
    missing = [name for name in frame.columns if pd.isna(frame[name].iloc[-1])]
    if missing:
        raise WindowError("prometheus_empty", f"{spec.name}: no recent samples for {', '.join(missing)} "
                                              f"({', '.join(queries[m] for m in missing)}) at {client.url}")
    return frame


def complete_window(frame: pd.DataFrame, model: str, min_coverage: float = MIN_COVERAGE) -> pd.DataFrame:
    """`frame` with gaps filled as training fills them; refused when a metric covers less than
    `min_coverage` of it (0 when only the newest row is used)."""
    thin = [f"{name} ({share:.0%})" for name, share in frame.notna().mean().items() if share < min_coverage]
    if thin:
        raise WindowError("prometheus_empty", f"{model}: too little data in the last {len(frame)} rows for "
                                              f"{', '.join(thin)}; need {min_coverage:.0%}")
    return frame.interpolate(method="linear", limit_area="inside").ffill().bfill()
