"""Input drift: the Population Stability Index of the live window against the training reference.

At training time `reference_quantiles` records, per model input, the deciles of the training rows
(duplicates merged, so a mostly-zero counter gets fewer bins) and the share of training rows in each
bin they bound. The scorer puts the live window into the same bins (`bin_shares`, one rule for both)
and sums (live - ref) * ln(live / ref). PSI is an effect size: it does not grow with the sample, so a
large window of a tiny shift stays small, where a KS p-value flags everything. Rule of thumb (and the
default threshold): < 0.1 stable, 0.1-0.25 moderate, > 0.25 drifted. numpy only.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

QUANTILES = np.linspace(0.1, 0.9, 9)  # 10 bins
DEFAULT_THRESHOLD = 0.25
MIN_SHARE = 1e-4  # an empty bin would make ln(0); the usual floor
MIN_LIVE_ROWS = 360  # PSI's small-sample bias is about (bins - 1) / rows: 0.025 at 360 rows


def bin_shares(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Share of `values` in each bin (-inf, e1], (e1, e2], ..., (ek, inf)."""
    positions = np.searchsorted(np.asarray(edges, dtype=float), values, side="left")
    return np.bincount(positions, minlength=len(edges) + 1) / max(len(values), 1)


def reference_quantiles(inputs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per column of the training inputs: bin edges (deciles, unique), the training share per bin, rows."""
    reference = {}
    for name in inputs.columns:
        values = inputs[name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if not len(values):
            continue
        edges = np.unique(np.quantile(values, QUANTILES)).tolist()
        reference[name] = {"edges": edges, "shares": bin_shares(values, edges).round(6).tolist(), "rows": int(len(values))}
    return reference


def psi(reference: Mapping[str, Any], live: np.ndarray) -> float | None:
    """PSI of `live` against one feature's reference; None when the live window is too short to judge."""
    live = live[np.isfinite(live)]
    if len(live) < MIN_LIVE_ROWS:
        return None
    expected = np.maximum(np.asarray(reference["shares"], dtype=float), MIN_SHARE)
    actual = np.maximum(bin_shares(live, reference["edges"]), MIN_SHARE)
    return float(np.sum((actual - expected) * np.log(actual / expected)))
