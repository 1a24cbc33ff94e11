"""The forecaster: gradient-boosted trees predicting each metric's change over the horizon.

Levels drift and shift on real clusters, so a model of raw levels tends to lose to
"last value"; predicting the change from the current value, from features relative to
it, does not. One HistGradientBoostingRegressor per metric inside MultiOutputRegressor:
a plain scikit-learn object whose `predict` returns one change per metric.
"""

from __future__ import annotations

import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.multioutput import MultiOutputRegressor


def build_model(seed: int) -> MultiOutputRegressor:
    # Shallow, strongly regularised trees: on a week of data deeper ones lost to the baselines.
    # early_stopping would hold out a random (shuffled) share of rows: off, the split is by time.
    booster = HistGradientBoostingRegressor(
        max_iter=100, learning_rate=0.05, max_depth=3, min_samples_leaf=200,
        l2_regularization=5.0, early_stopping=False, random_state=seed,
    )
    return MultiOutputRegressor(booster)


def fit(features: pd.DataFrame, targets: pd.DataFrame, seed: int) -> MultiOutputRegressor:
    """Fit on plain arrays so the served model needs no column names."""
    return build_model(seed).fit(features.to_numpy(dtype=float), targets.to_numpy(dtype=float))
