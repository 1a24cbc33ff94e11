"""The PromQL sent per registry metric: rates for counters, the aggregate around it."""

from __future__ import annotations

import pytest

from modelkit.data.promql import feature_query
from modelkit.registry import MetricSpec


@pytest.mark.parametrize(
    "metric, step, expected",
    [
        (MetricSpec("cpu", "instance:node_cpu:ratio", aggregate="mean"), 60, "avg(instance:node_cpu:ratio)"),
        (MetricSpec("r", "kube_pod_container_status_restarts_total", type="counter"), 60, "sum(rate(kube_pod_container_status_restarts_total[300s]))"),
        (MetricSpec("r", 'x_total{namespace="a b", pod=~"p-.*"}', type="counter", aggregate="max"), 120, 'max(rate(x_total{namespace="a b", pod=~"p-.*"}[480s]))'),
        (MetricSpec("r", "x_total + y_total", type="counter", aggregate="min"), 60, "min(rate((x_total + y_total)[300s:60s]))"),
    ],
)
def test_feature_query(metric, step, expected):
    assert feature_query(metric, step) == expected
