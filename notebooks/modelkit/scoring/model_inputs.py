"""The model's inputs built from a window of raw metrics by the training code itself.

`build_inputs` is the one adapter between the scorer and the feature grammar training uses
(`modelkit.features`): the same names in the registry's `features`, the same computation, so
there is no training/serving skew.
"""

from __future__ import annotations

import pandas as pd

from .. import features as grammar
from ..entities import entity_columns
from ..registry import ModelSpec

DETECTOR_WINDOW_ROWS = 10  # the latest row plus a little history to fill a missed scrape
LOOKBACK_MARGIN_MINUTES = 10


def _features(spec: ModelSpec) -> list[grammar.Feature]:
    return grammar.parse_features(spec.features, spec.metric_names)


def build_inputs(spec: ModelSpec, window: pd.DataFrame, step_seconds: int) -> pd.DataFrame:
    """One column per feature of the contract, in order, one row per window row (NaN where history is short);
    a per-entity model's window (a panel) gives each entity's features from its own rows, entity columns first."""
    features, columns = _features(spec), entity_columns(spec)
    if columns and not grammar.lookback_minutes(features):
        # Features of the current row only (values, clock) cannot reach into another entity's rows:
        # computed on the whole panel at once, a 1,000-node cycle saves a second (bench/bench_scoring.py).
        inputs = grammar.build_features(window.drop(columns=columns), features, step_seconds)
        return pd.concat([window[columns], inputs], axis=1)
    return grammar.build_features(window, features, step_seconds, columns)


def longest_lag_minutes(spec: ModelSpec) -> int:
    return grammar.lookback_minutes(_features(spec))


def history_seconds(spec: ModelSpec, step_seconds: int) -> int:
    """History the latest row's features need (the longest lookback), plus a margin."""
    lookback = longest_lag_minutes(spec)
    if lookback:
        return (lookback + LOOKBACK_MARGIN_MINUTES) * 60
    return DETECTOR_WINDOW_ROWS * step_seconds


def drift_features(spec: ModelSpec) -> list[str]:
    """Inputs whose distribution can drift: not the clock features (a day's window never covers a week)."""
    return [f.name for f in _features(spec) if f.metric is not None]
