"""The promotion policy of a model: the registry entry's optional `promotion:` block.

    promotion:
      primaryMetric: event_recall   # compared with the served version's (default by kind)
      higherIsBetter: true          # default: false for error/alarm metrics and when a max* threshold limits it
      tolerance: 0.02               # how much worse (absolute) a candidate may be
      keepVersions: 5               # versions kept besides the served one and its rollback target
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import ModelSpec
from ..thresholds import metric_for

DEFAULT_PRIMARY_METRIC = {"anomaly-detector": "event_recall", "forecaster": "mae_ratio"}
LOWER_IS_BETTER = {"mae_ratio", "mape", "false_alarms_per_day", "alarms_per_day"}
DEFAULT_TOLERANCE = 0.02
DEFAULT_KEEP_VERSIONS = 5


@dataclass(frozen=True)
class PromotionPolicy:
    primary_metric: str | None  # None: no comparison with the served model (custom kinds)
    higher_is_better: bool
    tolerance: float
    keep_versions: int


def policy_for(spec: ModelSpec) -> PromotionPolicy:
    block = spec.promotion
    metric = block.get("primaryMetric", DEFAULT_PRIMARY_METRIC.get(spec.kind))
    capped = {metric_for(key)[1] for key in spec.thresholds if key.startswith("max")}
    return PromotionPolicy(
        primary_metric=metric,
        higher_is_better=block.get("higherIsBetter", metric not in capped and metric not in LOWER_IS_BETTER),
        tolerance=float(block.get("tolerance", DEFAULT_TOLERANCE)),
        keep_versions=int(block.get("keepVersions", DEFAULT_KEEP_VERSIONS)),
    )
