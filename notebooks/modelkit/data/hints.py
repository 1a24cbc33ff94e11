"""The `synthetic:` hints of a registry metric: how its synthetic series looks and which
injected anomaly kinds change it. Same units as the real series.

Keys (all optional; defaults depend on the metric's unit and type):
  baseline         typical level
  daily            amplitude of the daily cycle (peak ~14:00 UTC, trough at night)
  weekly           how much lower a weekend day is on average: nights as on weekdays,
                   the daytime peak 2 x weekly lower
  noise            standard deviation of the autocorrelated noise
  persistence      noise autocorrelation per minute, 0 <= p < 1 (default 0.9)
  min, max         physical bounds (a ratio cannot go below 0)
  shifts_per_week  how many small, lasting level shifts happen per week (normal behaviour)
  shift            standard deviation of the level around the baseline after a shift
                   (default 1.5 x noise)
  events_per_hour  makes the series the per-second rate of random events (restarts), over
                   a window of `rate_window_minutes` (default 5); baseline is then ignored
  anomalies        injected anomaly kinds that change this metric (one of ANOMALY_KINDS)
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError
from ..registry import MetricSpec

NUMBER_KEYS = ("baseline", "daily", "weekly", "noise", "persistence", "min", "max", "shifts_per_week", "shift", "events_per_hour", "rate_window_minutes")
ANOMALY_KINDS = ("spike", "drop", "level_shift", "slow_leak", "restart_storm")

_BY_UNIT: dict[str, dict[str, Any]] = {
    "ratio": {"baseline": 0.5, "daily": 0.1, "weekly": 0.03, "noise": 0.02, "min": 0.0},
    "per_second": {"events_per_hour": 0.5, "min": 0.0},
}
_GENERIC = {"baseline": 1.0, "daily": 0.2, "weekly": 0.05, "noise": 0.05}


def metric_hints(metric: MetricSpec, model: str = "") -> dict[str, Any]:
    """The metric's hints merged over the defaults for its unit, checked."""
    where = f"model {model!r} metric {metric.name!r} synthetic hints"
    unknown = sorted(set(metric.synthetic) - set(NUMBER_KEYS) - {"anomalies"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(NUMBER_KEYS)}, anomalies")
    hints: dict[str, Any] = {"persistence": 0.9, "shifts_per_week": 0.5, "rate_window_minutes": 5}
    hints.update(_BY_UNIT.get(metric.unit, _GENERIC))
    hints["anomalies"] = ["restart_storm"] if metric.type == "counter" else ["spike", "drop", "level_shift", "slow_leak"]
    hints.update(metric.synthetic)
    for key in NUMBER_KEYS:
        value = hints.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{where}: `{key}` must be a number, got {value!r}")
        if value is not None and not math.isfinite(value):  # YAML's .nan/.inf would make a NaN/inf column
            raise ConfigError(f"{where}: `{key}` must be a finite number, got {value!r}")
    for key in ("daily", "weekly", "noise", "shifts_per_week", "events_per_hour"):
        if hints.get(key, 0) < 0:
            raise ConfigError(f"{where}: `{key}` must not be negative, got {hints[key]!r}")
    if not 0 <= hints["persistence"] < 1:
        raise ConfigError(f"{where}: `persistence` must be in [0, 1), got {hints['persistence']!r}")
    if hints.get("min") is not None and hints.get("max") is not None and hints["min"] >= hints["max"]:
        raise ConfigError(f"{where}: `min` must be below `max`")
    kinds = hints["anomalies"]
    if not isinstance(kinds, list) or any(k not in ANOMALY_KINDS for k in kinds):
        raise ConfigError(f"{where}: `anomalies` must be a list drawn from {', '.join(ANOMALY_KINDS)}, got {kinds!r}")
    hints.setdefault("shift", 1.5 * hints.get("noise", 0.0))
    return hints
