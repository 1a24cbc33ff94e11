"""Recorded metric values that answer the data module like a Prometheus client does.

`load_training_frame(..., client=RecordedSeries(values))` trains on values already in
hand (a benchmark's real series, a user's file) through exactly the code path real
Prometheus data takes: the same grid, gap filling, coverage checks and injected events.
A panel (rows of several nodes or namespaces, told apart by their entity label columns)
answers a per-entity model's grouped queries as Prometheus' `by (...)` series would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data.grid import TimeGrid
from .data.prometheus import Progress, RequestStats
from .errors import DataError


class RecordedSeries:
    def __init__(self, values: pd.DataFrame, origin: str, entity: tuple[str, ...] = ()):
        """`values`: one column per metric name, a UTC DatetimeIndex; `origin` names where they came from;
        `entity`: the label columns of a panel's rows (one time per entity and time)."""
        if not isinstance(values.index, pd.DatetimeIndex) or values.index.tz is None:
            raise ValueError(f"{origin}: recorded values need a time-zone-aware DatetimeIndex")
        repeated = pd.DataFrame({"time": values.index.asi8, **{c: values[c].to_numpy() for c in entity}}).duplicated().to_numpy()
        if repeated.any():
            where = values.iloc[int(np.argmax(repeated))]
            rows = f"rows of {', '.join(f'{c}={where[c]}' for c in entity)}" if entity else "rows without entity label columns"
            raise DataError(f"{origin}: time {where.name.isoformat()} is repeated in the {rows}; each series needs one value per "
                            "time (a panel of several nodes or namespaces trains a model with `entity:` in the registry, "
                            "and needs those label columns)")
        self.values = values
        self.url = origin
        self.stats = RequestStats()

    def fetch(self, queries: dict[str, str], grid: TimeGrid, progress: Progress | None = None) -> dict[str, np.ndarray]:
        """Each named metric's values at the grid's times (NaN where nothing was recorded)."""
        times = grid.index()
        out = {}
        for done, name in enumerate(queries, start=1):
            column = self.values[name] if name in self.values.columns else pd.Series(dtype=float)
            out[name] = column.reindex(times).to_numpy(dtype=float)
            self.stats.count(retry=False)
            if progress:
                progress(done, len(queries))
        return out

    def fetch_grouped(self, queries: dict[str, str], labels: dict[str, tuple[str, ...]], grid: TimeGrid,
                      progress: Progress | None = None) -> dict[str, dict[tuple[str, ...], np.ndarray]]:
        """As PrometheusClient.fetch_grouped: each metric's series by the values of its `labels` (the
        panel's entity columns), or for labels () its one series (a broadcast metric, the same in
        every entity's rows)."""
        times = grid.index()
        out: dict[str, dict[tuple[str, ...], np.ndarray]] = {}
        for done, name in enumerate(queries, start=1):
            if name not in self.values.columns:
                out[name] = {}
            elif labels[name]:
                out[name] = {tuple(str(v) for v in (key if isinstance(key, tuple) else (key,))): part[name].reindex(times).to_numpy(dtype=float)
                             for key, part in self.values.groupby(list(labels[name]), sort=True)}
            else:
                out[name] = {(): self._one_series(name).reindex(times).to_numpy(dtype=float)}
            self.stats.count(retry=False)
            if progress:
                progress(done, len(queries))
        return out

    def _one_series(self, name: str) -> pd.Series:
        by_time = self.values[name].groupby(level=0)
        differing = by_time.nunique() > 1
        if differing.any():
            raise DataError(f"{self.url}: metric {name!r} is one series for every entity (entityJoin: broadcast), but its values "
                            f"differ between the entities' rows at {differing.idxmax().isoformat()}")
        return by_time.first()
