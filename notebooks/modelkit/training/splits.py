"""Split a time-indexed frame into train / validation / test slices, in time order."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import ConfigError

DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)
MIN_ROWS_PER_SLICE = 30


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
            return {"rows": len(part), "start": part.index[0].isoformat(), "end": part.index[-1].isoformat()}

        return {"train": span(self.train), "validation": span(self.validation), "test": span(self.test), "gap_rows": self.gap_rows}


def split_by_time(frame: pd.DataFrame, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, gap_rows: int = 0) -> TimeSplit:
    """Consecutive slices, never shuffled; `gap_rows` dropped between slices.

    A forecaster whose targets lie `gap_rows` ahead needs the gap so that no training
    target falls inside the period it is evaluated on. A validation fraction of 0 gives
    an empty validation slice (train is followed by test).
    """
    if not frame.index.is_monotonic_increasing:
        raise ConfigError("training frame is not sorted by time; cannot split it by time")
    gaps = 2 if fractions[1] else 1
    usable = len(frame) - gaps * gap_rows
    sizes = [int(usable * fractions[0]), int(usable * fractions[1])]
    sizes.append(usable - sum(sizes))
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
