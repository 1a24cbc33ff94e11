"""Forecaster targets and naive baselines (its inputs come from modelkit.features).

The target at t is the change of each metric from t to t + horizon; the baselines predict
that change as 0 (last value) or as what happened one day / one week earlier. On a panel frame
(`entity_columns`) each entity's targets and baselines come from its own rows; the results then
keep the entity columns first.
"""

from __future__ import annotations

import pandas as pd

from ..features import MINUTES_PER_DAY, Feature, lookback_minutes, per_entity, rows_for

MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


def warmup_minutes(features: list[Feature]) -> int:
    """History needed before the first complete example: the longest lookback (and a day for the seasonal baseline)."""
    return max(lookback_minutes(features), MINUTES_PER_DAY)


def target_names(metric_names: tuple[str, ...], horizon_minutes: int) -> list[str]:
    return [f"{name}_change_{horizon_minutes}m" for name in metric_names]


def build_targets(frame: pd.DataFrame, metric_names: tuple[str, ...], horizon_minutes: int, step_seconds: int,
                  entity_columns: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Change of each metric from t to t + horizon (NaN for the last `horizon` rows of each entity)."""
    ahead = rows_for(horizon_minutes, step_seconds, "forecast horizon")

    def compute(part: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({target: (part[m].shift(-ahead) - part[m]).to_numpy(dtype=float)
                             for m, target in zip(metric_names, target_names(metric_names, horizon_minutes))}, index=part.index)

    return per_entity(frame, entity_columns, step_seconds, compute) if entity_columns else compute(frame)


def seasonal_naive_change(frame: pd.DataFrame, metric_names: tuple[str, ...], horizon_minutes: int, step_seconds: int,
                          period_minutes: int = MINUTES_PER_DAY, entity_columns: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Baseline: the level at t + horizon equals the level one period earlier, so change = x(t + h - period) - x(t)."""
    back = rows_for(period_minutes - horizon_minutes, step_seconds, "seasonal baseline lag")

    def compute(part: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({m: (part[m].shift(back) - part[m]).to_numpy(dtype=float) for m in metric_names}, index=part.index)

    return per_entity(frame, entity_columns, step_seconds, compute) if entity_columns else compute(frame)
