"""Check that a training frame has the shape the data module promises."""

from __future__ import annotations

import pandas as pd

from ..errors import ConfigError, DataError


def check_frame(frame: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> int:
    """Return the grid step in seconds; raise when columns, index or labels are missing."""
    missing = [c for c in (*columns, "is_anomaly") if c not in frame.columns]
    if missing:
        raise ConfigError(f"training frame lacks column(s) {', '.join(missing)} (has {', '.join(map(str, frame.columns))})")
    if not isinstance(frame.index, pd.DatetimeIndex) or len(frame) < 2:
        raise DataError("training frame must have a time index with at least 2 rows")
    steps = frame.index.to_series().diff().dropna().dt.total_seconds().unique()
    if len(steps) != 1 or steps[0] <= 0:
        raise DataError(f"training frame is not on a regular time grid (steps seen: {sorted(steps)[:5]} s)")
    return int(steps[0])
