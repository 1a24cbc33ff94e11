"""Labelled anomaly events injected into a frame of metric values (synthetic or real).

An event is a run of consecutive points of one kind; the points it covers are labelled.
Sizes are multiples of each metric's spread (standard deviation over the window, and for
a rate of random events at least one event per rate window, so that a storm is many
restarts, not two that happened to coincide), so events stand out on real series as well
as on synthetic ones:

  spike          +4..8 spread for 5-15 points (CPU, load)
  drop           -4..8 spread for 5-20 points (a node or workload going quiet)
  level_shift    +-3..5 spread held for 30-120 points, then back
  slow_leak      a ramp from 0 to +4..8 spread over 60-240 points (memory)
  restart_storm  +8..15 spread for 10-30 points (container restarts)

Which metrics a kind changes comes from each metric's `anomalies` hint; an event changes
a random non-empty subset of them. Events never overlap; the labelled share is exact. No
event covers more than 1/MIN_EVENTS of the labelled points, so a short window holds
several short events rather than one long one (24 h at 5 %: 8+ events of <= 9 points),
enough to judge a detector per event on a held-out slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .synthetic import clip_to_bounds

EVENT_LENGTHS = {"spike": (5, 15), "drop": (5, 20), "level_shift": (30, 120), "slow_leak": (60, 240), "restart_storm": (10, 30)}
EVENT_SIZES = {"spike": (4, 8), "drop": (4, 8), "level_shift": (3, 5), "slow_leak": (4, 8), "restart_storm": (8, 15)}
MIN_EVENT_POINTS = 3
MIN_GAP_POINTS = 10
MIN_EVENTS = 8


@dataclass(frozen=True)
class Segment:
    kind: str
    start: int
    length: int

    @property
    def stop(self) -> int:
        return self.start + self.length


def lengths_summing_to(total: int, kinds: Sequence[str], rng: np.random.Generator) -> list[tuple[str, int]]:
    """Random (kind, length) events whose lengths add up to exactly `total` points."""
    events: list[tuple[str, int]] = []
    drawn = 0
    longest = max(MIN_EVENT_POINTS, total // MIN_EVENTS)
    while drawn < total:
        kind = kinds[rng.integers(len(kinds))]
        low, high = (min(bound, longest) for bound in EVENT_LENGTHS[kind])
        length = int(rng.integers(low, high + 1))
        events.append((kind, length))
        drawn += length
    lengths = [length for _, length in events]
    for _ in range(drawn - total):  # trim the overshoot from the longest events
        lengths[int(np.argmax(lengths))] -= 1
    kept = [(kind, length) for (kind, _), length in zip(events, lengths)]
    short = sum(length for _, length in kept if length < MIN_EVENT_POINTS)
    kept = [(kind, length) for kind, length in kept if length >= MIN_EVENT_POINTS]
    if short and kept:  # fold too-short leftovers into the first event
        kept[0] = (kept[0][0], kept[0][1] + short)
    return kept


def place(pieces: Sequence[tuple[str, int]], points: int, rng: np.random.Generator) -> list[Segment]:
    """Put the pieces in random order at random, non-overlapping positions in [0, points)."""
    order = rng.permutation(len(pieces))
    used = sum(length for _, length in pieces)
    if used > points:
        raise ValueError(f"{used} points of segments do not fit in {points}")
    gap = min(MIN_GAP_POINTS, (points - used) // (len(pieces) + 1))
    spare = points - used - gap * (len(pieces) + 1)
    cuts = np.sort(rng.integers(0, spare + 1, len(pieces))) if len(pieces) else []
    segments, position, previous_cut = [], gap, 0
    for piece_index, cut in zip(order, cuts):
        position += int(cut - previous_cut)
        kind, length = pieces[piece_index]
        segments.append(Segment(kind, position, length))
        position += length + gap
        previous_cut = cut
    return segments


def spread(values: np.ndarray, hints: dict[str, Any]) -> float:
    """A metric's scale for event sizes; never 0, even for a series that is mostly flat."""
    std = float(np.nanstd(values))
    one_event = 1 / (hints["rate_window_minutes"] * 60) if hints.get("events_per_hour") is not None else 0.0
    return max(std, abs(float(np.nanmean(values))) * 0.05, one_event, 1e-6)


def _effect(kind: str, length: int, size: float, rng: np.random.Generator) -> np.ndarray:
    if kind == "slow_leak":
        return np.linspace(size / length, size, length)
    if kind == "level_shift":
        return np.full(length, size * rng.choice((-1.0, 1.0)))
    jitter = 1 + 0.1 * rng.standard_normal(length)
    return (-size if kind == "drop" else size) * jitter


def inject(values: pd.DataFrame, segments: Sequence[Segment], hints: dict[str, dict[str, Any]], rng: np.random.Generator) -> list[dict[str, Any]]:
    """Apply the anomaly segments to `values` in place; returns one record per event."""
    spreads = {name: spread(values[name].to_numpy(), hints[name]) for name in values.columns}
    records = []
    for segment in segments:
        candidates = [name for name in values.columns if segment.kind in hints[name]["anomalies"]]
        chosen = [name for name in candidates if rng.random() < 0.6] or [candidates[rng.integers(len(candidates))]]
        low, high = EVENT_SIZES[segment.kind]
        for name in chosen:
            column = values.columns.get_loc(name)
            window = values.iloc[segment.start : segment.stop, column].to_numpy()
            changed = window + _effect(segment.kind, segment.length, rng.uniform(low, high) * spreads[name], rng)
            values.iloc[segment.start : segment.stop, column] = clip_to_bounds(changed, hints[name])
        records.append({"kind": segment.kind, "start": segment.start, "points": segment.length, "metrics": chosen})
    return records


def available_kinds(hints: dict[str, dict[str, Any]]) -> list[str]:
    """Anomaly kinds at least one metric takes, in a fixed order."""
    wanted = {kind for h in hints.values() for kind in h["anomalies"]}
    return [kind for kind in EVENT_LENGTHS if kind in wanted]
