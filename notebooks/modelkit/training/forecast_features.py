"""Forecaster inputs and targets, built from the names in the registry's `features` list.

A feature name is one of:
  <metric>                   the metric's current value
  <metric>_delta_<n><m|h|d>  current value minus the value n minutes/hours/days earlier
  hour_of_day_sin|cos, day_of_week_sin|cos   position in the day and week (UTC)
Every input at time t uses values at t or earlier; the target at t is the change of
each metric from t to t + horizon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError

_DELTA = re.compile(r"^(?P<metric>[a-z_][a-z0-9_]*?)_delta_(?P<count>\d+)(?P<unit>[mhd])$")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440}
MINUTES_PER_DAY = 1440
TIME_FEATURES = ("hour_of_day_sin", "hour_of_day_cos", "day_of_week_sin", "day_of_week_cos")


@dataclass(frozen=True)
class Feature:
    name: str
    metric: str | None  # None for time features
    lag_minutes: int  # 0: the current value (or a time feature)


def parse_features(names: tuple[str, ...] | list[str], metric_names: tuple[str, ...]) -> list[Feature]:
    parsed = []
    for name in names:
        delta = _DELTA.match(name)
        if name in metric_names:
            parsed.append(Feature(name, name, 0))
        elif name in TIME_FEATURES:
            parsed.append(Feature(name, None, 0))
        elif delta and delta["metric"] in metric_names and int(delta["count"]) > 0:
            parsed.append(Feature(name, delta["metric"], int(delta["count"]) * _UNIT_MINUTES[delta["unit"]]))
        else:
            raise ConfigError(
                f"feature {name!r} is not a metric name, <metric>_delta_<n>m|h|d or one of {', '.join(TIME_FEATURES)} "
                f"(metrics: {', '.join(metric_names)})"
            )
    return parsed


def rows_for(minutes: int, step_seconds: int, what: str) -> int:
    if (minutes * 60) % step_seconds:
        raise ConfigError(f"{what} of {minutes} min is not a whole number of {step_seconds} s steps")
    return minutes * 60 // step_seconds


def warmup_minutes(features: list[Feature]) -> int:
    """History needed before the first complete example: the longest lag (and a day for the seasonal baseline)."""
    return max([f.lag_minutes for f in features] + [MINUTES_PER_DAY])


def _time_feature(name: str, index: pd.DatetimeIndex) -> np.ndarray:
    minute_of_day = index.hour * 60 + index.minute + index.second / 60
    if name.startswith("hour_of_day"):
        angle = 2 * np.pi * minute_of_day / MINUTES_PER_DAY
    else:
        angle = 2 * np.pi * (index.dayofweek + minute_of_day / MINUTES_PER_DAY) / 7
    return np.sin(angle) if name.endswith("sin") else np.cos(angle)


def build_features(frame: pd.DataFrame, features: list[Feature], step_seconds: int) -> pd.DataFrame:
    """One column per feature, in contract order; NaN where the history is too short."""
    columns = {}
    for feature in features:
        if feature.metric is None:
            columns[feature.name] = _time_feature(feature.name, frame.index)
        elif feature.lag_minutes == 0:
            columns[feature.name] = frame[feature.metric].to_numpy(dtype=float)
        else:
            lag = rows_for(feature.lag_minutes, step_seconds, f"feature {feature.name!r} lag")
            series = frame[feature.metric]
            columns[feature.name] = (series - series.shift(lag)).to_numpy(dtype=float)
    return pd.DataFrame(columns, index=frame.index)


def target_names(metric_names: tuple[str, ...], horizon_minutes: int) -> list[str]:
    return [f"{name}_change_{horizon_minutes}m" for name in metric_names]


def build_targets(frame: pd.DataFrame, metric_names: tuple[str, ...], horizon_minutes: int, step_seconds: int) -> pd.DataFrame:
    """Change of each metric from t to t + horizon (NaN for the last `horizon` rows)."""
    ahead = rows_for(horizon_minutes, step_seconds, "forecast horizon")
    return pd.DataFrame(
        {target: (frame[m].shift(-ahead) - frame[m]).to_numpy(dtype=float) for m, target in zip(metric_names, target_names(metric_names, horizon_minutes))},
        index=frame.index,
    )


def seasonal_naive_change(frame: pd.DataFrame, metric_names: tuple[str, ...], horizon_minutes: int, step_seconds: int) -> pd.DataFrame:
    """Baseline: the level at t + horizon equals the level one day earlier, so change = x(t + h - 1 day) - x(t)."""
    back = rows_for(MINUTES_PER_DAY - horizon_minutes, step_seconds, "seasonal baseline lag")
    return pd.DataFrame({m: (frame[m].shift(back) - frame[m]).to_numpy(dtype=float) for m in metric_names}, index=frame.index)
