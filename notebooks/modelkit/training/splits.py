"""Split a time-indexed frame into train / validation / test slices, in time order.

A panel frame (an entity model's: rows grouped by entity, timestamps repeated) is cut at the
same times for every entity: the slices are chosen on the frame's timeline and each takes
every entity's rows inside its time span, so no slice trains on one node's Tuesday and
tests on another's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..evaluation.events import runs

DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)
MIN_ROWS_PER_SLICE = 30
MIN_EVENTS_PER_SLICE = 2
MIN_TRAIN_SHARE = 0.4


@dataclass(frozen=True)
class TimeSplit:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    gap_rows: int

    def describe(self) -> dict:
        def span(part: pd.DataFrame) -> dict:
            if part.empty:
                return {"rows": 0}
            return {"rows": len(part), "start": part.index.min().isoformat(), "end": part.index.max().isoformat()}

        return {"train": span(self.train), "validation": span(self.validation), "test": span(self.test), "gap_rows": self.gap_rows}


def split_by_time(frame: pd.DataFrame, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, gap_rows: int = 0,
                  events: np.ndarray | None = None, panel: bool = False, min_test_rows: int = 0) -> TimeSplit:
    """Consecutive slices, never shuffled; `gap_rows` dropped between slices.

    A forecaster whose targets lie `gap_rows` ahead needs the gap so that no training
    target falls inside the period it is evaluated on. A validation fraction of 0 gives
    an empty validation slice (train is followed by test).

    `events` (per row: inside a labelled anomaly event) moves the validation and test
    starts to event boundaries (see `event_aligned`).

    `panel`: `frame` is a panel frame (module docstring); `gap_rows` and the slice sizes then
    count timestamps, and an event at a timestamp is one on any entity.

    `min_test_rows`: the test slice takes at least that many rows when the others keep
    MIN_ROWS_PER_SLICE each (train and validation then share the rest in their fractions'
    ratio), else the fractions decide; a detector's test slice must be long enough for its
    false-alarm limit to allow one false alarm there, or the limit cannot be checked.
    """
    if panel:
        return _split_panel(frame, fractions, gap_rows, events, min_test_rows)
    if events is not None:
        return event_aligned(frame, fractions, np.asarray(events, dtype=bool), min_test_rows)
    if not frame.index.is_monotonic_increasing:
        raise ConfigError("training frame is not sorted by time; cannot split it by time")
    gaps = 2 if fractions[1] else 1
    usable = len(frame) - gaps * gap_rows
    sizes = _slice_sizes(usable, fractions, min_test_rows)
    if any(size < MIN_ROWS_PER_SLICE for size, fraction in zip(sizes, fractions) if fraction):
        raise ConfigError(
            f"only {len(frame)} usable rows: too few for train/validation/test slices of at least "
            f"{MIN_ROWS_PER_SLICE} rows each; use more TRAINING_HOURS"
        )
    validation_start = sizes[0] + (gap_rows if sizes[1] else 0)
    test_start = validation_start + sizes[1] + gap_rows
    return TimeSplit(
        train=frame.iloc[: sizes[0]],
        validation=frame.iloc[validation_start : validation_start + sizes[1]],
        test=frame.iloc[test_start:],
        gap_rows=gap_rows,
    )


def _slice_sizes(usable: int, fractions: tuple[float, float, float], min_test_rows: int) -> list[int]:
    sizes = [int(usable * fractions[0]), int(usable * fractions[1])]
    sizes.append(usable - sum(sizes))
    if sizes[2] >= min_test_rows:
        return sizes
    rest = usable - min_test_rows
    train = int(rest * fractions[0] / (fractions[0] + fractions[1]))
    longer_test = [train, rest - train, min_test_rows]
    if any(size < MIN_ROWS_PER_SLICE for size, fraction in zip(longer_test, fractions) if fraction):
        return sizes
    return longer_test


def _start_before(spans: list[tuple[int, int]], start: int, earliest: int) -> int:
    """`start` moved back to the first row of an event it cuts through, then to the start of
    earlier events (none before `earliest`) until MIN_EVENTS_PER_SLICE events begin at or
    after it; if it ends before `earliest`, `earliest` moved past an event it cuts through."""
    for first, stop in spans:
        if first < start < stop:
            start = first
    missing = MIN_EVENTS_PER_SLICE - sum(1 for first, _ in spans if first >= start)
    earlier = [first for first, _ in spans if earliest <= first < start]
    if missing > 0 and earlier:
        start = earlier[-min(missing, len(earlier))]
    if start < earliest:
        start = earliest
        for first, stop in spans:
            if first < start < stop:
                start = stop
    return start


def event_aligned(frame: pd.DataFrame, fractions: tuple[float, float, float], events: np.ndarray,
                  min_test_rows: int = 0) -> TimeSplit:
    """Train / validation / test in time order, where no labelled event is cut in two and the
    validation and test slices each hold at least MIN_EVENTS_PER_SLICE events when the frame
    has them: a slice start moves back to an event's first row. Training keeps at least
    MIN_TRAIN_SHARE of the rows (or, when a long test slice leaves it less, what the plain
    split gave it). Only where events are is used, never how a model scores them."""
    plain = split_by_time(frame, fractions, min_test_rows=min_test_rows)
    spans = runs(events)
    n = len(frame)
    earliest = max(min(int(n * MIN_TRAIN_SHARE), len(plain.train)), MIN_ROWS_PER_SLICE)
    test_start = _start_before(spans, n - len(plain.test), earliest + MIN_ROWS_PER_SLICE)
    within = [(a, b) for a, b in spans if b <= test_start]
    validation_start = _start_before(within, test_start - len(plain.validation), earliest)
    if test_start - validation_start < MIN_ROWS_PER_SLICE or n - test_start < MIN_ROWS_PER_SLICE:
        return plain
    return TimeSplit(train=frame.iloc[:validation_start], validation=frame.iloc[validation_start:test_start],
                     test=frame.iloc[test_start:], gap_rows=0)


def _split_panel(frame: pd.DataFrame, fractions: tuple[float, float, float], gap_rows: int,
                 events: np.ndarray | None, min_test_rows: int) -> TimeSplit:
    times = frame.index.unique().sort_values()
    timeline = pd.DataFrame(index=times)
    if events is not None:
        events = pd.Series(np.asarray(events, dtype=bool), index=frame.index).groupby(level=0).any().reindex(times).to_numpy()
    cut = split_by_time(timeline, fractions, gap_rows, events, min_test_rows=min_test_rows)

    def rows_in(part: pd.DataFrame) -> pd.DataFrame:
        return frame[frame.index.isin(part.index)]

    return TimeSplit(train=rows_in(cut.train), validation=rows_in(cut.validation), test=rows_in(cut.test), gap_rows=gap_rows)
