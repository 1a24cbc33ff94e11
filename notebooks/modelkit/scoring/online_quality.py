"""Online quality: forecasts against the actual values once their horizon has passed, and alarm rates.

Memory is bounded: pending forecasts are at most horizon / interval per metric, errors and alarm
starts are kept for 24 h (and capped). Both reset when the scorer restarts; a rate is exported
only once the scorer has watched for MIN_OBSERVED_SECONDS.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

WINDOWS = {"1h": 3600, "24h": 86400}
KEEP_SECONDS = max(WINDOWS.values())
MAX_ENTRIES = 100_000  # a cap beyond the 24 h a 1 s interval would need
MIN_OBSERVED_SECONDS = 3600


@dataclass(frozen=True)
class PendingForecast:
    target_time: float
    forecast: float
    last_value: float  # the level when the forecast was made: the "last value" baseline's forecast


class ForecastLedger:
    """One metric of one forecaster: forecasts waiting for their actual value, and the errors so far."""

    def __init__(self) -> None:
        self.pending: deque[PendingForecast] = deque(maxlen=MAX_ENTRIES)
        self.errors: deque[tuple[float, float, float]] = deque(maxlen=MAX_ENTRIES)  # (time, |model error|, |last value error|)

    def add(self, target_time: float, forecast: float, last_value: float) -> None:
        if not self.pending or target_time > self.pending[-1].target_time:
            self.pending.append(PendingForecast(target_time, forecast, last_value))

    def settle(self, actual_at: dict[float, float], newest_time: float) -> None:
        """Compare the forecasts whose target time has passed with the actual values (grid time -> level)."""
        while self.pending and self.pending[0].target_time <= newest_time:
            due = self.pending.popleft()
            actual = actual_at.get(due.target_time)
            if actual is not None:  # else the scorer did not see that minute: the forecast is dropped
                self.errors.append((due.target_time, abs(due.forecast - actual), abs(due.last_value - actual)))
        while self.errors and self.errors[0][0] <= newest_time - KEEP_SECONDS:
            self.errors.popleft()

    def mean_errors(self, window_seconds: int, now: float) -> tuple[float, float] | None:
        """(model MAE, last-value MAE) over the errors of the last `window_seconds`; None without any."""
        return pooled_mean_errors([self], window_seconds, now)

    def newest_time(self) -> float | None:
        """The latest time it holds (a pending target or a settled error), None when empty."""
        times = [entry[-1].target_time if entry is self.pending else entry[-1][0] for entry in (self.pending, self.errors) if entry]
        return max(times) if times else None



def pooled_mean_errors(ledgers: list[ForecastLedger], window_seconds: int, now: float) -> tuple[float, float] | None:
    """(model MAE, last-value MAE) over the errors of all `ledgers` (a metric's, one per entity) in the window."""
    recent = [(m, b) for ledger in ledgers for t, m, b in ledger.errors if t > now - window_seconds]
    if not recent:
        return None
    return sum(m for m, _ in recent) / len(recent), sum(b for _, b in recent) / len(recent)


class AlarmCounter:
    """A detector's alarms: runs of consecutive flagged rows (as training counts them)."""

    def __init__(self, gap_seconds: int):
        self.gap_seconds = gap_seconds  # rows further apart than this (a missed cycle) start a new run
        self.first_seen: float | None = None
        self.last_time: float | None = None
        self.last_flag = False
        self.starts: deque[float] = deque(maxlen=MAX_ENTRIES)

    def record(self, time: float, flagged: bool) -> None:
        if self.last_time is not None and time <= self.last_time:
            return  # the same grid row scored again (interval shorter than the step)
        continues = self.last_flag and self.last_time is not None and time - self.last_time <= self.gap_seconds
        if flagged and not continues:
            self.starts.append(time)
        self.first_seen = time if self.first_seen is None else self.first_seen
        self.last_time, self.last_flag = time, flagged
        while self.starts and self.starts[0] <= time - KEEP_SECONDS:
            self.starts.popleft()

    def per_day(self, window_seconds: int, now: float) -> float | None:
        if self.first_seen is None:
            return None
        observed = min(window_seconds, now - self.first_seen)
        if observed < MIN_OBSERVED_SECONDS:
            return None
        return sum(1 for start in self.starts if start > now - window_seconds) * 86400 / observed
