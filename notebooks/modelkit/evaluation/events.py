"""Runs of consecutive True values: labelled anomaly events and raised alarms."""

from __future__ import annotations

import numpy as np


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of each run of consecutive True values."""
    padded = np.concatenate(([False], np.asarray(flags, dtype=bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def count_touching(spans: list[tuple[int, int]], flags: np.ndarray) -> int:
    """How many spans contain at least one True value of `flags`."""
    flags = np.asarray(flags, dtype=bool)
    return sum(1 for start, end in spans if flags[start:end].any())
