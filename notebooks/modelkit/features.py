"""Model inputs from metric values: the one feature code of training, batch scoring, the gate's
replay and serving clients, driven by the names in a registry entry's `features` list.

A feature name is one of (<w> is a window <count><m|h|d>, a whole number of grid steps):
  <metric>                    the metric's current value
  <metric>_delta_<w>          change over the window: current value minus the value <w> earlier
                              (<metric>_delta_1d / _delta_7d: deviation from the same time
                              yesterday / last week)
  <metric>_dev_<w>            deviation from the recent mean: current value minus the mean of
                              the last <w> (current value included), in the metric's unit
  <metric>_zscore_<w>         the same deviation in units of recent spread (the standard
                              deviation of the last <w>)
  <metric>_delta_<w>_<n>d_ago what came next <n> days ago: the change over the <w> that followed
                              the same time <n> days earlier (<w> shorter than <n> days)
  hour_of_day_sin|cos, day_of_week_sin|cos   position in the day and week (UTC)

Every feature at time t uses values at t or earlier, so a served model needs nothing but the
recent history of its metrics; NaN marks rows whose history is too short.

An entity model's frame is a panel (one block of rows per node, namespace, ...; the entity label
columns first, see ENTITY_CONTRACT): every feature is computed on each entity's own history, so
a window never reaches into another entity's rows and a busy node's deviations are measured
from its own mean, not the fleet's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError

MINUTES_PER_DAY = 1440
TIME_FEATURES = ("hour_of_day_sin", "hour_of_day_cos", "day_of_week_sin", "day_of_week_cos")
OPERATIONS = ("delta", "dev", "zscore")
_WINDOW = r"(?P<count>\d+)(?P<unit>[mhd])"
_DERIVED = re.compile(rf"^(?P<metric>[a-z_][a-z0-9_]*?)_(?P<operation>{'|'.join(OPERATIONS)})_{_WINDOW}(?:_(?P<days>\d+)d_ago)?$")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": MINUTES_PER_DAY}
MIN_SPREAD = 1e-9  # a window of identical values has no spread; its z-score stays finite


@dataclass(frozen=True)
class Feature:
    name: str
    metric: str | None  # None for time features
    operation: str = "value"  # value | delta | dev | zscore | time
    window_minutes: int = 0
    days_ago: int = 0  # delta over the window that followed the same time this many days earlier

    @property
    def lookback_minutes(self) -> int:
        """How far back in time the feature reads."""
        return self.days_ago * MINUTES_PER_DAY if self.days_ago else self.window_minutes


def _parse_one(name: str, metric_names: tuple[str, ...]) -> Feature | None:
    if name in metric_names:
        return Feature(name, name)
    if name in TIME_FEATURES:
        return Feature(name, None, "time")
    match = _DERIVED.match(name)
    if not match or match["metric"] not in metric_names or int(match["count"]) == 0:
        return None
    window = int(match["count"]) * _UNIT_MINUTES[match["unit"]]
    days = int(match["days"] or 0)
    if match["days"] is not None and (match["operation"] != "delta" or days == 0 or window >= days * MINUTES_PER_DAY):
        return None
    return Feature(name, match["metric"], match["operation"], window, days)


def parse_features(names: tuple[str, ...] | list[str], metric_names: tuple[str, ...] | list[str]) -> list[Feature]:
    """The parsed features, in contract order; ConfigError naming the first name outside the grammar."""
    parsed = []
    for name in names:
        feature = _parse_one(name, tuple(metric_names))
        if feature is None:
            raise ConfigError(
                f"feature {name!r} is not <metric>, <metric>_delta|dev|zscore_<n>m|h|d, <metric>_delta_<n>m|h_<k>d_ago "
                f"or one of {', '.join(TIME_FEATURES)} (metrics: {', '.join(metric_names)})"
            )
        parsed.append(feature)
    return parsed


def rows_for(minutes: int, step_seconds: int, what: str) -> int:
    if (minutes * 60) % step_seconds:
        raise ConfigError(f"{what} of {minutes} min is not a whole number of {step_seconds} s steps")
    return minutes * 60 // step_seconds


def lookback_minutes(features: list[Feature]) -> int:
    """History a row needs before its features are complete."""
    return max([f.lookback_minutes for f in features] + [0])


def _time_feature(name: str, index: pd.DatetimeIndex) -> np.ndarray:
    minute_of_day = index.hour * 60 + index.minute + index.second / 60
    if name.startswith("hour_of_day"):
        angle = 2 * np.pi * minute_of_day / MINUTES_PER_DAY
    else:
        angle = 2 * np.pi * (index.dayofweek + minute_of_day / MINUTES_PER_DAY) / 7
    return np.sin(angle) if name.endswith("sin") else np.cos(angle)


def _column(series: pd.Series, feature: Feature, step_seconds: int) -> pd.Series:
    rows = rows_for(feature.window_minutes, step_seconds, f"feature {feature.name!r} window")
    if feature.operation == "delta":
        back = rows_for(feature.days_ago * MINUTES_PER_DAY, step_seconds, f"feature {feature.name!r}") if feature.days_ago else 0
        start = series.shift(back)
        return series.shift(back - rows) - start if feature.days_ago else series - series.shift(rows)
    window = series.rolling(rows, min_periods=rows)
    deviation = series - window.mean()
    if feature.operation == "dev":
        return deviation
    return deviation / np.maximum(window.std(ddof=0), MIN_SPREAD)


def _feature_columns(frame: pd.DataFrame, features: list[Feature], step_seconds: int) -> dict[str, np.ndarray]:
    columns = {}
    for feature in features:
        if feature.operation == "time":
            columns[feature.name] = _time_feature(feature.name, frame.index)
        elif feature.operation == "value":
            columns[feature.name] = frame[feature.metric].to_numpy(dtype=float)
        else:
            columns[feature.name] = _column(frame[feature.metric].astype(float), feature, step_seconds).to_numpy(dtype=float)
    return columns


def entity_rows(frame: pd.DataFrame, entity_columns: list[str] | tuple[str, ...]) -> dict[str, np.ndarray]:
    """Row positions of each entity ('/'-joined label values), in order of first appearance."""
    missing = [c for c in entity_columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"frame lacks entity column(s) {', '.join(missing)} (has {', '.join(map(str, frame.columns))})")
    groups = frame.groupby(list(entity_columns), sort=False).indices
    # the key of modelkit.entities.entity_key (not imported: entities -> registry -> this module)
    return {"/".join(map(str, key if isinstance(key, tuple) else (key,))): rows for key, rows in groups.items()}


def _check_history(key: str, index: pd.DatetimeIndex, step_seconds: int) -> None:
    """Shift and rolling windows count rows: an entity's rows must be its timestamps one step apart."""
    steps = np.diff(index.asi8) // 10**9
    if len(steps) and (steps != step_seconds).any():
        at = int(np.flatnonzero(steps != step_seconds)[0])
        raise DataError(f"entity {key!r}: rows are not consecutive {step_seconds} s steps in time order "
                        f"({index[at].isoformat()} is followed by {index[at + 1].isoformat()})")


def per_entity(frame: pd.DataFrame, entity_columns: list[str] | tuple[str, ...], step_seconds: int,
               compute: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """`compute` applied to each entity's rows alone (their timestamps one step apart, checked),
    the results in the frame's row order and index, after the entity columns."""
    parts = []
    for key, rows in entity_rows(frame, entity_columns).items():
        part = frame.iloc[rows]
        _check_history(key, part.index, step_seconds)
        parts.append((rows, compute(part)))
    names = list(parts[0][1].columns) if parts else []
    values = np.full((len(frame), len(names)), np.nan)
    for rows, result in parts:
        values[rows] = result.to_numpy(dtype=float)
    labels = frame[list(entity_columns)].reset_index(drop=True)
    return pd.concat([labels, pd.DataFrame(values, columns=names)], axis=1).set_axis(frame.index)


def row_entities(frame: pd.DataFrame, entity_columns: list[str] | tuple[str, ...]) -> np.ndarray | None:
    """The entity key of each row ('/'-joined label values), None for a cluster-wide frame."""
    if not entity_columns:
        return None
    keys = frame[entity_columns[0]].astype(str)
    for column in entity_columns[1:]:
        keys = keys + "/" + frame[column].astype(str)
    return keys.to_numpy(dtype=object)


def build_features(frame: pd.DataFrame, features: list[Feature], step_seconds: int,
                   entity_columns: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """One column per feature, in contract order, from a frame of metric columns on a regular grid.

    With `entity_columns` (a panel frame) each entity's features come from its rows only, and
    the result keeps the entity columns first, on the frame's index and row order."""
    def compute(part: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(_feature_columns(part, features, step_seconds), index=part.index)

    return per_entity(frame, entity_columns, step_seconds, compute) if entity_columns else compute(frame)


def model_inputs(frame: pd.DataFrame, names: tuple[str, ...] | list[str], step_seconds: int,
                 entity_columns: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """The contract `names` computed from `frame`'s metric columns (NaN where history is short);
    with `entity_columns`, per entity and preceded by those columns."""
    skip = {"is_anomaly", "anomaly_kind", *entity_columns}
    metric_names = tuple(c for c in frame.columns if c not in skip)
    return build_features(frame, parse_features(names, metric_names), step_seconds, entity_columns)
