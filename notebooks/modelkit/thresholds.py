"""Registry thresholds against a version's metrics (the gate applies the same rule).

`min<Name>: v` needs metrics[<name_snake>] >= v, `max<Name>: v` needs <= v and
`require<Name>: true` needs metrics[<name_snake>] is True. A missing or None metric
fails its threshold.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ConfigError

PREFIXES = ("min", "max", "require")


def metric_for(key: str) -> tuple[str, str]:
    """('min', 'event_recall') for 'minEventRecall'."""
    for prefix in PREFIXES:
        rest = key[len(prefix):]
        if key.startswith(prefix) and rest[:1].isupper():
            return prefix, re.sub(r"(?<!^)(?=[A-Z])", "_", rest).lower()
    raise ConfigError(f"threshold {key!r} must start with min, max or require followed by a metric name (e.g. minEventRecall)")


def check_thresholds(metrics: dict[str, Any], thresholds: dict[str, Any]) -> tuple[bool, dict[str, dict[str, Any]]]:
    """(all met, per-threshold detail {key: {metric, rule, required, actual, met}})."""
    detail = {}
    for key, required in thresholds.items():
        prefix, name = metric_for(key)
        actual = metrics.get(name)
        if prefix == "require":
            met = actual is True if required else True
            rule = "is true"
        elif actual is None or isinstance(actual, bool):
            met, rule = False, ">=" if prefix == "min" else "<="
        else:
            met = actual >= required if prefix == "min" else actual <= required
            rule = ">=" if prefix == "min" else "<="
        detail[key] = {"metric": name, "rule": rule, "required": required, "actual": actual, "met": bool(met)}
    return all(d["met"] for d in detail.values()), detail
