"""Check that a training frame has the shape the data module promises."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..features import entity_rows


def check_frame(frame: pd.DataFrame, columns: tuple[str, ...] | list[str], entity_columns: list[str] | tuple[str, ...] = ()) -> int:
    """Return the grid step in seconds; raise when columns, index or labels are missing.

    A panel frame (`entity_columns`) repeats its timestamps once per entity: the grid is
    checked on each entity's rows."""
    missing = [c for c in (*entity_columns, *columns, "is_anomaly") if c not in frame.columns]
    if missing:
        raise ConfigError(f"training frame lacks column(s) {', '.join(missing)} (has {', '.join(map(str, frame.columns))})")
    if not isinstance(frame.index, pd.DatetimeIndex) or len(frame) < 2:
        raise DataError("training frame must have a time index with at least 2 rows")
    blocks = entity_rows(frame, entity_columns).values() if entity_columns else [np.arange(len(frame))]
    steps = np.unique(np.concatenate([np.diff(frame.index.asi8[rows]) for rows in blocks])) / 1e9
    if len(steps) != 1 or steps[0] <= 0:
        raise DataError(f"training frame is not on a regular time grid (steps seen: {sorted(steps)[:5]} s)")
    return int(steps[0])
