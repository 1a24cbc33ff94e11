"""A metric no model can learn from is refused before training, naming the metric and what is
wrong; the figures are in the provenance. Real series come from the test Prometheus."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from modelkit.data import load_training_frame
from modelkit.data.quality import MAX_TOP_VALUE_SHARE, DegenerateFeature, check_training_values, problem, value_figures
from modelkit.registry import MetricSpec

from .helpers import FIXED_END, settings, spec, spec_with

CPU = MetricSpec(name="node_cpu_utilisation", query="instance:node_cpu:ratio", aggregate="mean", unit="ratio")


def real(server, metric: MetricSpec, hours: int = 24, **env: str):
    return load_training_frame(spec_with(CPU, metric), settings(**server.env(DATA_SOURCE="prometheus", TRAINING_HOURS=str(hours), **env)),
                               end=server.history_end)


def test_a_query_that_returns_a_constant_is_refused_whatever_the_fallback_policy(prometheus_server):
    """issue 8: `x) or vector(1)` closes the aggregation and answers 1 at every step."""
    injected = MetricSpec(name="pods_ready", query="no_such_metric) or (vector(1)", aggregate="sum")
    with pytest.raises(DegenerateFeature, match=r"metric 'pods_ready' \(gauge, query 'no_such_metric\) or \(vector\(1\)'\) is constant at 1 "
                                                r"\(the same value in every row\) in the prometheus data"):
        real(prometheus_server, injected, FALLBACK_POLICY="synthetic")


def test_a_nearly_constant_metric_is_refused(prometheus_server):
    flat = MetricSpec(name="flat", query="vector(0.5) + on() avg(instance:node_cpu:ratio) * 1e-9", aggregate="mean")
    with pytest.raises(DegenerateFeature, match=r"metric 'flat' .* is nearly constant: it varies by [0-9.]+e-10 of its magnitude"):
        real(prometheus_server, flat)


def test_a_gauge_that_is_one_value_almost_always_is_refused(prometheus_server):
    blip = MetricSpec(name="blip", query="vector(1) + on() (hour() == bool 3) * on() (minute() == bool 7)", aggregate="max")
    with pytest.raises(DegenerateFeature, match=r"metric 'blip' .* has too few distinct values: 1 in 99\.93% of the rows"):
        real(prometheus_server, blip)


def test_a_rare_counter_trains_and_its_figures_are_recorded(prometheus_server):
    """A counter that is zero almost all the time (an event every 32 h) is the normal case for restarts."""
    rare = MetricSpec(name="rare_restarts", query='floor(kube_pod_container_status_restarts_total{pod="checkout"} / 8)',
                      type="counter", aggregate="sum", unit="per_second")
    tf = real(prometheus_server, rare, hours=168)
    figures = tf.provenance["input_checks"]["metrics"]["rare_restarts"]
    assert figures["top_value"] == 0 and figures["top_value_share"] > MAX_TOP_VALUE_SHARE and figures["distinct_values"] > 1
    as_gauge = problem(figures, "gauge")
    assert as_gauge and as_gauge.startswith("has too few distinct values")  # the exemption is what lets it through


def test_the_registry_metrics_pass_on_real_and_synthetic_data(prometheus_server):
    for source in ("prometheus", "synthetic"):
        env = prometheus_server.env(DATA_SOURCE=source, TRAINING_HOURS="24")
        checks = load_training_frame(spec(), settings(**env), end=prometheus_server.history_end).provenance["input_checks"]
        assert list(checks["metrics"]) == list(spec().metric_names)
        assert checks["rules"] == {"min_relative_range": 1e-6, "max_top_value_share_gauge": 0.99}
        restarts = checks["metrics"]["container_restarts_rate"]
        assert restarts["top_value"] == 0 and restarts["distinct_values"] > 1, source


def test_a_synthetic_metric_without_variation_is_refused():
    still = dataclasses.replace(spec(), metrics=(MetricSpec(name="still", query="up", unit="ratio", synthetic={
        "baseline": 0.4, "daily": 0, "weekly": 0, "noise": 0, "shifts_per_week": 0, "anomalies": ["spike"]}),), features=("still",))
    with pytest.raises(DegenerateFeature, match=r"metric 'still' .* is constant at 0.4 .* in the synthetic data"):
        load_training_frame(still, settings(DATA_SOURCE="synthetic", TRAINING_HOURS="24"), end=FIXED_END)


def test_a_column_of_gaps_is_refused_and_a_counter_without_events_too():
    frame = pd.DataFrame({"node_cpu_utilisation": np.full(60, np.nan), "restarts": np.zeros(60)})
    window = {"start": "a", "end": "b"}
    counter = MetricSpec(name="restarts", query="kube_pod_container_status_restarts_total", type="counter")
    with pytest.raises(DegenerateFeature, match="metric 'node_cpu_utilisation' .* has no finite sample in the window"):
        check_training_values(frame, spec_with(CPU, counter), "prometheus", window)
    with pytest.raises(DegenerateFeature, match=r"metric 'restarts' \(counter, .* is constant at 0 \(no event in the window\)"):
        check_training_values(frame, spec_with(counter), "prometheus", window)
    assert value_figures(np.array([np.nan, 1.0, 2.0]))["finite_share"] == pytest.approx(2 / 3, abs=1e-6)
