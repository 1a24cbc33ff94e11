"""The regular UTC time grid every training frame sits on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from ..errors import ConfigError


@dataclass(frozen=True)
class TimeGrid:
    """`points` timestamps, `step_seconds` apart, the last one at `end_seconds` (Unix time)."""

    end_seconds: int
    step_seconds: int
    points: int

    @property
    def start_seconds(self) -> int:
        return self.end_seconds - (self.points - 1) * self.step_seconds

    def seconds(self) -> np.ndarray:
        return self.start_seconds + self.step_seconds * np.arange(self.points, dtype=np.int64)

    def index(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(pd.to_datetime(self.seconds(), unit="s", utc=True), freq=f"{self.step_seconds}s", name="timestamp")

    def describe(self) -> dict:
        iso = lambda s: datetime.fromtimestamp(s, timezone.utc).isoformat()  # noqa: E731
        return {"start": iso(self.start_seconds), "end": iso(self.end_seconds), "step_seconds": self.step_seconds, "rows": self.points}


def fill_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Gaps (NaN) filled linearly in time inside a series, and with the nearest value at its edges."""
    return frame.interpolate(method="linear", limit_area="inside").ffill().bfill()


def make_grid(hours: float, step_seconds: int, end: datetime | float | None = None) -> TimeGrid:
    """The last `hours` of time ending at `end` (default now), floored to a multiple of the step.

    The grid holds hours*3600/step points (720 h at 60 s: 43,200), so the window is
    (end - hours, end] and consecutive windows never share a point.
    """
    if not hours or hours <= 0:
        raise ConfigError(f"training hours must be a positive number, got {hours!r}")
    if step_seconds <= 0:
        raise ConfigError(f"step must be a positive number of seconds, got {step_seconds!r}")
    points = int(hours * 3600 // step_seconds)
    if points < 2:
        raise ConfigError(f"{hours} h at a {step_seconds} s step gives fewer than 2 points; use more hours or a smaller step")
    if end is None:
        end_seconds = datetime.now(timezone.utc).timestamp()
    elif isinstance(end, datetime):
        if end.tzinfo is None:
            raise ConfigError(f"window end {end!r} has no time zone; pass a UTC datetime")
        end_seconds = end.timestamp()
    else:
        end_seconds = float(end)
    floored = int(end_seconds // step_seconds) * step_seconds
    return TimeGrid(end_seconds=floored, step_seconds=step_seconds, points=points)
