"""Runs of consecutive True values: labelled anomaly events and raised alarms."""

from __future__ import annotations

import numpy as np


def entity_starts(entities: np.ndarray | None) -> np.ndarray:
    """Positions where a panel frame's next entity begins (entity key per row; None: one series)."""
    if entities is None:
        return np.empty(0, dtype=int)
    entities = np.asarray(entities, dtype=object)
    return np.flatnonzero(entities[1:] != entities[:-1]) + 1


def runs(flags: np.ndarray, entities: np.ndarray | None = None) -> list[tuple[int, int]]:
    """[start, end) index pairs of each run of consecutive True values.

    `entities` (an entity key per row, rows grouped by entity): a run ends where the entity
    changes, so the last flagged row of one node and the first of the next are two alarms."""
    flags = np.asarray(flags, dtype=bool)
    boundary = np.zeros(len(flags) + 1, dtype=bool)
    boundary[[0, len(flags)]] = True
    boundary[entity_starts(entities)] = True
    previous = np.concatenate(([False], flags[:-1]))
    following = np.concatenate((flags[1:], [False]))
    begins = np.flatnonzero(flags & (~previous | boundary[:-1]))
    ends = np.flatnonzero(flags & (~following | boundary[1:])) + 1
    return list(zip(begins.tolist(), ends.tolist()))


def count_touching(spans: list[tuple[int, int]], flags: np.ndarray) -> int:
    """How many spans contain at least one True value of `flags`."""
    if not spans:
        return 0
    flagged_before = np.concatenate(([0], np.cumsum(np.asarray(flags, dtype=bool))))
    starts, ends = np.asarray(spans).T
    return int(np.count_nonzero(flagged_before[ends] > flagged_before[starts]))
