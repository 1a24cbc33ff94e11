"""Seeded synthetic metric series: daily and weekly cycles, autocorrelated noise and
occasional lasting level shifts, in the units of the Prometheus series they stand in for.
Anomalies are added separately (anomalies.py), so this is the "normal" behaviour only.

Like a real cluster driven by its users, a weekend is a quiet weekday: nights stay at
weekday levels and the daytime rise is smaller, so weekend values lie inside the range
weekdays cover. A normal level shift (a deployment, a scaling step) moves the level to a
new value around the baseline and holds it until the next one: the level wanders but
does not drift away."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from ..registry import BROADCAST, ModelSpec
from .grid import TimeGrid
from .hints import metric_hints

DAY = 86400.0
WEEK = 7 * DAY
PEAK_HOUR_UTC = 14
METRIC_STREAM = 1  # rng stream ids; each metric also mixes in its position
ENTITY_STREAM = 4  # an entity's own baseline; entity i's series also mix in i + 1
ENTITY_SPREAD = 0.3  # an entity's level, daily swing, noise and event rate: the metric's x U(1 - s, 1 + s)


def activity(seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Daily cycle in [-1, 1] peaking at PEAK_HOUR_UTC, and a weekly one: ~+1 on weekdays, ~-1 at weekends."""
    daily = np.cos(2 * np.pi * (seconds / DAY - PEAK_HOUR_UTC / 24))
    # Unix day 0 was a Thursday; shift so 0 is Monday 00:00, peak mid-week, trough Saturday/Sunday.
    week_position = ((seconds + 3 * DAY) % WEEK) / DAY
    weekly = np.tanh(3 * np.cos(2 * np.pi * (week_position - 2.5) / 7))
    return daily, weekly


def _ar1_noise(rng: np.random.Generator, points: int, std: float, persistence_per_step: float) -> np.ndarray:
    if std == 0:
        return np.zeros(points)
    phi = persistence_per_step
    shocks = rng.normal(0.0, std * np.sqrt(1 - phi**2), points)
    shocks[0] = rng.normal(0.0, std)
    return lfilter([1.0], [1.0, -phi], shocks)


def _level_shifts(rng: np.random.Generator, seconds: np.ndarray, per_week: float, size: float) -> np.ndarray:
    count = rng.poisson(per_week * (seconds[-1] - seconds[0]) / WEEK) if per_week and size else 0
    levels = np.zeros(len(seconds))
    for at in np.sort(rng.integers(1, len(seconds), count)):
        levels[at:] = rng.normal(0.0, size)
    return levels


def _event_rate(rng: np.random.Generator, hints: dict[str, Any], step: int, load: np.ndarray) -> np.ndarray:
    """Per-second rate of random events (restarts), busier when the cluster is busy."""
    expected = hints["events_per_hour"] * step / 3600 * np.clip(1 + 0.5 * load, 0.1, None)
    counts = rng.poisson(expected).astype(float)
    window = max(1, int(round(hints["rate_window_minutes"] * 60 / step)))
    return pd.Series(counts).rolling(window, min_periods=1).sum().to_numpy() / (window * step)


def synthetic_series(hints: dict[str, Any], grid: TimeGrid, rng: np.random.Generator) -> np.ndarray:
    seconds = grid.seconds().astype(float)
    daily, weekly = activity(seconds)
    weekend = (1 - weekly) / 2  # 0 on weekdays, ~1 at weekends
    if hints.get("events_per_hour") is not None:
        values = _event_rate(rng, hints, grid.step_seconds, daily * (1 - 0.5 * weekend))
    else:
        phi = hints["persistence"] ** (grid.step_seconds / 60)
        values = (
            hints["baseline"]
            + hints["daily"] * daily
            - hints["weekly"] * weekend * (1 + daily)  # weekend: nights as usual, days quieter
            + _level_shifts(rng, seconds, hints["shifts_per_week"], hints["shift"])
            + _ar1_noise(rng, grid.points, hints["noise"], phi)
        )
    return clip_to_bounds(values, hints)


def clip_to_bounds(values: np.ndarray, hints: dict[str, Any]) -> np.ndarray:
    low, high = hints.get("min"), hints.get("max")
    if low is None and high is None:
        return values
    return np.clip(values, low, high)


def entity_hints(hints: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """One entity's own version of a metric's hints: a busier or quieter node, within the metric's bounds."""
    own = dict(hints)
    for key in ("baseline", "daily", "noise", "events_per_hour"):
        if own.get(key) is not None:
            own[key] = own[key] * rng.uniform(1 - ENTITY_SPREAD, 1 + ENTITY_SPREAD)
    if own.get("baseline") is not None:
        own["baseline"] = float(clip_to_bounds(np.array([own["baseline"]]), hints)[0])
    return own


def synthetic_values(spec: ModelSpec, grid: TimeGrid, seed: int, entity: int | None = None) -> pd.DataFrame:
    """One column per registry metric, in order, on the grid; normal behaviour, no anomalies.

    `entity` (0-based) gives that entity's series of a per-entity model: its own baseline per metric;
    broadcast metrics stay the cluster-level series, the same for every entity."""
    columns = {}
    for position, metric in enumerate(spec.metrics):
        hints = metric_hints(metric, spec.name)
        stream = [seed, METRIC_STREAM, position]
        if entity is not None and metric.entity_join != BROADCAST:
            hints = entity_hints(hints, np.random.default_rng([seed, ENTITY_STREAM, entity, position]))
            stream.append(entity + 1)
        columns[metric.name] = synthetic_series(hints, grid, np.random.default_rng(stream))
    return pd.DataFrame(columns, index=grid.index())


def synthetic_entity_labels(spec: ModelSpec, count: int) -> list[tuple[str, ...]]:
    """The label values of synthetic entity 1..count: worker-i for `instance`, <label>-i for other labels."""
    return [tuple(f"worker-{i}" if label == "instance" else f"{label}-{i}" for label in spec.entity) for i in range(1, count + 1)]
