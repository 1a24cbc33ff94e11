"""Splicing synthetic data into a real timeline (hybrid mode) and labelling a frame."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .anomalies import Segment
from .synthetic import clip_to_bounds

HYBRID_BLOCK_HOURS = 6
BLOCK_KIND = "synthetic"


def block_pieces(points: int, step_seconds: int) -> list[tuple[str, int]]:
    """`points` rows of synthetic blocks of HYBRID_BLOCK_HOURS (the last one shorter), to be placed."""
    if points <= 0:
        return []
    size = max(1, min(HYBRID_BLOCK_HOURS * 3600 // step_seconds, points))
    whole, rest = divmod(points, size)
    return [(BLOCK_KIND, size)] * whole + ([(BLOCK_KIND, rest)] if rest else [])


def splice_synthetic_blocks(values: pd.DataFrame, synthetic: pd.DataFrame, blocks: Sequence[Segment], hints: dict[str, dict[str, Any]]) -> None:
    """Replace each block by synthetic values offset to meet the real ones at both ends."""
    last = len(values) - 1
    for block in blocks:
        before, after = max(block.start - 1, 0), min(block.stop, last)
        for position, name in enumerate(values.columns):
            real = values.iloc[:, position].to_numpy()
            fake = synthetic[name].to_numpy()[block.start : block.stop]
            offset = np.linspace(real[before] - fake[0], real[after] - fake[-1], block.length)
            values.iloc[block.start : block.stop, position] = clip_to_bounds(fake + offset, hints[name])


def labelled(values: pd.DataFrame, events: Sequence[Segment]) -> pd.DataFrame:
    """The values as floats plus `is_anomaly` and `anomaly_kind` from the events."""
    frame = values.astype(float)
    is_anomaly = np.zeros(len(frame), dtype=bool)
    kind = np.full(len(frame), "", dtype=object)
    for event in events:
        is_anomaly[event.start : event.stop] = True
        kind[event.start : event.stop] = event.kind
    frame["is_anomaly"] = is_anomaly
    frame["anomaly_kind"] = kind
    return frame
