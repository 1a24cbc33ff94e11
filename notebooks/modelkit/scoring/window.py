"""The latest window of a model's metrics from Prometheus, with the training data's queries.

Queries come from `data.promql.feature_query` (the PromQL training sends) and go through the data
module's client (chunking, retries, bearer token, CA bundle). A window is refused, with the cause
the scorer counts, when the newest grid point of any metric has no sample (its series go stale
rather than showing an old value) or, where older rows feed lags or drift, a metric covers less
than half of them; gaps are filled as training fills them.

A per-entity model's window (registry `entity:`) is a panel (ENTITY_CONTRACT, modelkit/entities.py):
the registry's PromQL grouped by the entity labels, as training sends it, one block of rows per
entity seen in the window, each on the whole grid. `complete_panel` then keeps only the entities
with a sample of every grouped metric at the newest grid point and enough history: a node that
vanished is left out of the cycle (its series go stale), never scored on old or made-up values. A
broadcast metric (one cluster value) without a recent sample refuses the whole window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.grid import TimeGrid, fill_gaps, make_grid
from ..data.prometheus import PrometheusBadAnswer, PrometheusClient, PrometheusQueryError, PrometheusUnavailable
from ..data.promql import feature_query
from ..data.real import MIN_COVERAGE
from ..entities import KEY_SEPARATOR, entity_columns, is_entity_model
from ..errors import DataError
from ..registry import BROADCAST, ModelSpec


class WindowError(Exception):
    """The window cannot be scored; `cause` is the label of modelkit_scoring_errors_total."""

    def __init__(self, cause: str, message: str):
        super().__init__(message)
        self.cause = cause


def fetch_window(client: PrometheusClient, spec: ModelSpec, seconds: int, step_seconds: int, end: float) -> pd.DataFrame:
    """The metrics of `spec` on the grid of `seconds` ending at `end` (floored to the step), gaps left as NaN.
    Refused when the newest grid point of any metric has no sample."""
    grid = make_grid(hours=seconds / 3600, step_seconds=step_seconds, end=end)
    queries = {m.name: feature_query(m, step_seconds, spec.entity) for m in spec.metrics}
    try:
        if not is_entity_model(spec):
            frame = pd.DataFrame(client.fetch(queries, grid), index=grid.index())
        else:
            labels = {m.name: () if m.entity_join == BROADCAST else spec.entity for m in spec.metrics}
            frame = panel_window(spec, grid, client.fetch_grouped(queries, labels, grid))
    except PrometheusUnavailable as exc:
        raise WindowError("prometheus_unreachable", str(exc)) from exc
    except (PrometheusBadAnswer, PrometheusQueryError) as exc:
        raise WindowError("prometheus_bad_answer", str(exc)) from exc
    except DataError as exc:
        raise WindowError("other", str(exc)) from exc
    checked = broadcast_metrics(spec) if is_entity_model(spec) else list(queries)
    missing = [name for name in checked if pd.isna(frame[name].iloc[-1])]
    if missing:
        raise WindowError("prometheus_empty", f"{spec.name}: no recent samples for {', '.join(missing)} "
                                              f"({', '.join(queries[m] for m in missing)}) at {client.url}")
    return frame


def broadcast_metrics(spec: ModelSpec) -> list[str]:
    return [m.name for m in spec.metrics if m.entity_join == BROADCAST]


def grouped_metrics(spec: ModelSpec) -> list[str]:
    return [m.name for m in spec.metrics if m.entity_join != BROADCAST]


def panel_window(spec: ModelSpec, grid: TimeGrid, series: dict[str, dict[tuple[str, ...], np.ndarray]]) -> pd.DataFrame:
    """The long frame of grouped series: every entity seen in any grouped metric, on the whole grid,
    sorted by its label values; a broadcast metric's one series copied to every entity."""
    grouped = grouped_metrics(spec)
    keys = sorted({key for name in grouped for key in series[name]})
    blank = np.full(grid.points, np.nan)
    columns: dict[str, np.ndarray] = {label: np.repeat(np.array([key[i] for key in keys], dtype=object), grid.points)
                                      for i, label in enumerate(spec.entity)}
    for metric in spec.metrics:
        if metric.name in grouped:
            columns[metric.name] = np.concatenate([series[metric.name].get(key, blank) for key in keys]) if keys else blank[:0]
        else:
            columns[metric.name] = np.tile(series[metric.name].get((), blank), len(keys))
    index = pd.DatetimeIndex(np.tile(grid.index(), len(keys)), name="timestamp")
    return pd.DataFrame(columns, index=index)


@dataclass
class ScoredEntities:
    """The entities of a per-entity window `complete_panel` kept, and the ones it left out (key -> status)."""

    window: pd.DataFrame
    left_out: dict[str, str] = field(default_factory=dict)


def complete_panel(frame: pd.DataFrame, spec: ModelSpec, min_coverage: float = MIN_COVERAGE) -> ScoredEntities:
    """Each entity's rows with gaps filled (as training fills them), for the entities with a sample of
    every grouped metric at the newest grid point and at least `min_coverage` of the window; the others
    left out with the reason. Rows grouped by entity, in time order (panel_window's order). Refused
    only when no entity is left."""
    columns, grouped = entity_columns(spec), grouped_metrics(spec)
    if frame.empty:
        raise WindowError("prometheus_empty", f"{spec.name}: no series of {', '.join(grouped)} by ({', '.join(columns)}) in the window")
    keys = row_keys(frame, spec)
    present = frame[grouped].notna()
    last = last_rows(keys)
    recent = pd.Series(present.to_numpy()[last].all(axis=1) & (frame.index[last] == frame.index.max()), index=keys[last])
    covered = (present.groupby(keys, sort=False).mean() >= min_coverage).all(axis=1)
    left_out = {key: "too_little_history" if is_recent else "no_recent_sample"
                for key, is_recent in recent.items() if not (is_recent and covered[key])}
    keep = ~np.isin(keys, list(left_out))
    if not keep.any():
        reasons = ", ".join(f"{key}: {why}" for key, why in list(left_out.items())[:5]) or "no series"
        raise WindowError("prometheus_empty", f"{spec.name}: no entity ({', '.join(columns)}) has recent samples of "
                                              f"{', '.join(grouped)} and {min_coverage:.0%} of the window ({reasons})")
    window, kept_keys = frame[keep], keys[keep]
    gappy = np.unique(kept_keys[~present.to_numpy()[keep].all(axis=1)])
    if len(gappy):  # filled entity by entity; most entities have no gap
        window = window.copy()
        metric_positions = window.columns.get_indexer(grouped)
        for key in gappy:
            rows = np.flatnonzero(kept_keys == key)
            window.iloc[rows, metric_positions] = fill_gaps(window.iloc[rows, metric_positions]).to_numpy()
    return ScoredEntities(window, left_out)


def row_keys(frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    """The entity key of each row of a panel ('/'-joined label values)."""
    columns = entity_columns(spec)
    if len(columns) == 1:
        return frame[columns[0]].astype(str).to_numpy()
    return frame[columns].astype(str).agg(KEY_SEPARATOR.join, axis=1).to_numpy()


def latest_rows(frame: pd.DataFrame, rows: int, step_seconds: int) -> pd.DataFrame:
    """The rows of the last `rows` grid points (of every entity, for a panel)."""
    return frame[frame.index > frame.index.max() - pd.Timedelta(seconds=rows * step_seconds)]


def last_rows(keys: np.ndarray) -> np.ndarray:
    """Position of each entity's last row (rows grouped by entity, in time order)."""
    return np.r_[np.flatnonzero(keys[1:] != keys[:-1]), len(keys) - 1]


def complete_window(frame: pd.DataFrame, model: str, min_coverage: float = MIN_COVERAGE) -> pd.DataFrame:
    """`frame` with gaps filled as training fills them; refused when a metric covers less than
    `min_coverage` of it (0 when only the newest row is used)."""
    thin = [f"{name} ({share:.0%})" for name, share in frame.notna().mean().items() if share < min_coverage]
    if thin:
        raise WindowError("prometheus_empty", f"{model}: too little data in the last {len(frame)} rows for "
                                              f"{', '.join(thin)}; need {min_coverage:.0%}")
    return fill_gaps(frame)
