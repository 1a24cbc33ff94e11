"""One timeline's mix of real, spliced synthetic and injected rows: the whole window of a
cluster-wide model (loader.py), or one entity's rows of a per-entity model (panel.py).

The shares are those loader.py describes, exact to the row of the timeline they are drawn for.
`stream` tells timelines apart in the seeded random streams: () for a cluster-wide model (the
streams it always used), (i + 1,) for entity i.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from . import anomalies
from .anomalies import Segment
from .mixing import BLOCK_KIND, block_pieces, labelled, splice_synthetic_blocks
from .real import FILE, PROMETHEUS, SYNTHETIC

REAL_SHARE = {"prometheus": 0.8, "hybrid": 0.5, "file": 0.8}
LABELLED_KIND = "labelled"  # anomaly_kind of the rows a labelled file marks
INJECTED_ANOMALY_SHARE = 0.2
ANOMALY_STREAM, PLACEMENT_STREAM = 2, 3


@dataclass
class TrainingFrame:
    frame: pd.DataFrame  # [entity label columns (str)], metric columns (float), is_anomaly (bool), anomaly_kind (str)
    provenance: dict[str, Any]
    row_source: pd.Series  # per row: "prometheus" or "file" (untouched real value) or "synthetic"
    untouched: pd.DataFrame  # [entity columns], metric columns before any splice or injection: the real (or clean synthetic) values
    labels_from_data: bool = False  # is_anomaly are the data's own labels (a labelled file): real incidents, nothing injected

    @property
    def features(self) -> pd.DataFrame:
        return self.frame.drop(columns=["is_anomaly", "anomaly_kind"])


@dataclass
class Mixed:
    frame: pd.DataFrame  # the metric columns after splicing and injection, is_anomaly, anomaly_kind
    row_source: np.ndarray
    records: list[dict[str, Any]]  # one per injected event, `start` a row position


def anomaly_pieces(points: int, hints: dict, seed: int, stream: tuple[int, ...] = ()) -> list[tuple[str, int]]:
    kinds = anomalies.available_kinds(hints)
    if not kinds or points <= 0:
        return []
    return anomalies.lengths_summing_to(points, kinds, np.random.default_rng([seed, ANOMALY_STREAM, 0, *stream]))


def real_row_source(source: str) -> str:
    """The row_source of a real timeline's untouched rows: "file" for a file, else "prometheus" (hybrid too)."""
    return FILE if source == FILE else PROMETHEUS


def share_note(source: str | None, anomaly_rate: float, points: int, labelled: bool = False) -> str:
    """How the rows of a timeline of `points` rows are made (source None: all synthetic; labelled: a file's own labels)."""
    if source is None:
        return f"synthetic rows; {anomaly_rate:.0%} of rows inside injected anomaly events (ANOMALY_RATE)"
    if labelled:
        return "100% untouched rows of the file; is_anomaly is the file's own labels (nothing injected)"
    note = f"{REAL_SHARE[source]:.0%} untouched real rows, {INJECTED_ANOMALY_SHARE:.0%} rows inside injected anomaly events"
    if points - round(REAL_SHARE[source] * points) > round(INJECTED_ANOMALY_SHARE * points):
        note += f", {1 - REAL_SHARE[source] - INJECTED_ANOMALY_SHARE:.0%} rows in spliced synthetic blocks"
    return note


def real_pieces(points: int, source: str, hints: dict, seed: int, step_seconds: int, stream: tuple[int, ...] = ()) -> list[tuple[str, int]]:
    """The injected events and synthetic blocks of a real timeline of `points` rows."""
    synthetic_rows = points - round(REAL_SHARE[source] * points)
    anomaly_rows = round(INJECTED_ANOMALY_SHARE * points)
    return anomaly_pieces(anomaly_rows, hints, seed, stream) + block_pieces(synthetic_rows - anomaly_rows, step_seconds)


def mix(
    values: pd.DataFrame,
    pieces: Sequence[tuple[str, int]],
    hints: dict[str, dict[str, Any]],
    seed: int,
    synthetic: Callable[[], pd.DataFrame],
    *,
    untouched_source: str,
    stream: tuple[int, ...] = (),
    fixed: Sequence[Segment] = (),
    injectable: Sequence[str] | None = None,
    labels: pd.Series | None = None,
) -> Mixed:
    """Place `pieces` at random in the timeline (around the `fixed` events, which are placed already),
    splice synthetic blocks (from `synthetic()`, the same rows) and inject the events into the
    `injectable` columns (default all); `values` is changed in place. Rows no piece touches get the
    row source `untouched_source` (real_row_source, or SYNTHETIC). `labels`: the data's own
    is_anomaly (a labelled file, no pieces), kept as they are."""
    rng = np.random.default_rng([seed, PLACEMENT_STREAM, *stream])
    placed = anomalies.place(pieces, len(values), rng) if not fixed else place_around(pieces, fixed, len(values), rng)
    segments = sorted([*fixed, *placed], key=lambda s: s.start)
    blocks = [s for s in segments if s.kind == BLOCK_KIND]
    if blocks:
        splice_synthetic_blocks(values, synthetic(), blocks, hints)
    events = [s for s in segments if s.kind != BLOCK_KIND]
    columns = list(values.columns if injectable is None else injectable)
    changed = values[columns].copy() if injectable is not None else values
    records = anomalies.inject(changed, events, hints, np.random.default_rng([seed, ANOMALY_STREAM, *stream])) if columns else []
    if changed is not values:
        values[columns] = changed
    row_source = np.empty(len(values), dtype=object)
    row_source[:] = untouched_source  # one str for all rows (np.full(..., dtype=object) makes one per row: 58 bytes each)
    for segment in segments:
        row_source[segment.start : segment.stop] = SYNTHETIC
    frame = labelled(values, events)
    if labels is not None:
        flags = labels.to_numpy(dtype=bool)
        frame["is_anomaly"] = flags
        frame["anomaly_kind"] = np.where(flags, LABELLED_KIND, "").astype(object)
    return Mixed(frame, row_source, records)


def place_around(pieces: Sequence[tuple[str, int]], fixed: Sequence[Segment], points: int, rng: np.random.Generator) -> list[Segment]:
    """Like anomalies.place, but off the `fixed` segments (and MIN_GAP_POINTS away from every
    segment); a piece with no room left is not placed."""
    free = np.ones(points, dtype=bool)
    gap = anomalies.MIN_GAP_POINTS
    placed: list[Segment] = []
    for segment in fixed:
        free[max(segment.start - gap, 0) : segment.stop + gap] = False
    for index in rng.permutation(len(pieces)):
        kind, length = pieces[index]
        counts = np.concatenate(([0], np.cumsum(free)))
        starts = np.flatnonzero(counts[length:] - counts[:-length] == length) if length <= points else np.empty(0, int)
        if not len(starts):
            continue
        start = int(starts[rng.integers(len(starts))])
        placed.append(Segment(kind, start, length))
        free[max(start - gap, 0) : start + length + gap] = False
    return placed


def describe_labels(labels: Sequence[pd.Series]) -> dict[str, int]:
    """The events (runs of labelled rows) and labelled rows of a labelled file's timelines."""
    flags = [series.to_numpy(dtype=int) for series in labels]
    return {"events": sum(int(np.count_nonzero(np.diff(f, prepend=0) == 1)) for f in flags),
            "points": sum(int(f.sum()) for f in flags)}


def describe_events(records: list[dict], frame: pd.DataFrame, labels_from_data: bool = False) -> dict[str, Any]:
    """The injected events of a frame (record starts made timestamps), counted by kind; none are
    injected into a labelled file, whose is_anomaly are its own labels."""
    points = 0 if labels_from_data else int(frame["is_anomaly"].sum())
    by_kind: dict[str, int] = {}
    for record in records:
        by_kind[record["kind"]] = by_kind.get(record["kind"], 0) + 1
        if isinstance(record["start"], (int, np.integer)):
            record["start"] = frame.index[record["start"]].isoformat()
    return {"events": len(records), "points": points, "share": round(points / len(frame), 6), "by_kind": by_kind, "event_list": records}
