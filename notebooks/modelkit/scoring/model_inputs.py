"""The model's inputs built from a window of raw metrics by the training code itself.

`build_inputs` is the one adapter between the scorer and the training feature code: the detector
takes the raw metrics (its features are its metric names), the forecaster's features come from
`training.forecast_features`. When the shared feature module lands, re-point this function only.
"""

from __future__ import annotations

import pandas as pd

from ..registry import ModelSpec
from ..training import forecast_features as ff

DETECTOR_WINDOW_ROWS = 10  # the latest row plus a little history to fill a missed scrape
FORECASTER_MARGIN_MINUTES = 10


def build_inputs(spec: ModelSpec, window: pd.DataFrame, step_seconds: int) -> pd.DataFrame:
    """One column per feature of the contract, in order, one row per window row (NaN where a lag is not covered)."""
    features = ff.parse_features(spec.features, spec.metric_names)
    return ff.build_features(window, features, step_seconds)


def longest_lag_minutes(spec: ModelSpec) -> int:
    return max(f.lag_minutes for f in ff.parse_features(spec.features, spec.metric_names))


def history_seconds(spec: ModelSpec, step_seconds: int) -> int:
    """History the latest row's features need (the longest lag), plus a margin."""
    lag = longest_lag_minutes(spec)
    if lag:
        return (lag + FORECASTER_MARGIN_MINUTES) * 60
    return DETECTOR_WINDOW_ROWS * step_seconds


def drift_features(spec: ModelSpec) -> list[str]:
    """Inputs whose distribution can drift: not the clock features (a day's window never covers a week)."""
    return [f.name for f in ff.parse_features(spec.features, spec.metric_names) if f.metric is not None]
