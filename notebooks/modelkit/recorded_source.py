"""Recorded metric values that answer the data module like a Prometheus client does.

`load_training_frame(..., client=RecordedSeries(values))` trains on values already in
hand (a benchmark's real series, a user's file) through exactly the code path real
Prometheus data takes: the same grid, gap filling, coverage checks and injected events.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data.grid import TimeGrid
from .data.prometheus import Progress, RequestStats


class RecordedSeries:
    def __init__(self, values: pd.DataFrame, origin: str):
        """`values`: one column per metric name, a UTC DatetimeIndex; `origin` names where they came from."""
        if not isinstance(values.index, pd.DatetimeIndex) or values.index.tz is None:
            raise ValueError(f"{origin}: recorded values need a time-zone-aware DatetimeIndex")
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
