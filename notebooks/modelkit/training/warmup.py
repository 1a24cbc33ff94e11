"""History a model's features need before its first row: loaded in addition to TRAINING_HOURS."""

from __future__ import annotations

import math

from ..features import lookback_minutes, parse_features
from ..registry import ModelSpec
from ..evaluation import forecast_targets as ff


def warmup_hours(spec: ModelSpec) -> int:
    """The longest lookback of the model's features; a forecaster also needs a day for its seasonal baseline.

    The workflows load this much before the window, and check-params counts it against the
    server's retention."""
    features = parse_features(spec.features, spec.metric_names)
    minutes = ff.warmup_minutes(features) if spec.kind == "forecaster" else lookback_minutes(features)
    return math.ceil(minutes / 60)
