"""Panel frames of a per-entity model from the real Prometheus (tests/fixtures/entity_history.py:
worker-1..3 all week, worker-2 sick for an hour, worker-3 with a 30 min scrape gap, worker-4
added and drained inside the window) and the grouped queries behind them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fixtures import entity_history, history
from modelkit.data import load_training_frame
from modelkit.data.cli import entity_summary
from modelkit.entities import split_entities
from modelkit.errors import DataError

from .entity_helpers import entity_spec
from .helpers import registry_spec, settings

CPU = "fleet:node_cpu:ratio"
LOOKBACK = 300


def load(server, spec, **env):
    run = settings(spec.name, **server.env(**{"DATA_SOURCE": "prometheus", **env}))
    return load_training_frame(spec, run, end=server.history_end)


def test_one_query_per_metric_gives_each_node_its_own_rows_on_the_shared_grid(prometheus_server, tmp_path):
    spec = entity_spec(tmp_path)
    tf = load(prometheus_server, spec, SEED="5")
    anchor, end = prometheus_server.entity_anchor, prometheus_server.history_end
    frame = tf.frame
    assert list(frame.columns) == ["instance", *spec.metric_names, "is_anomaly", "anomaly_kind"]
    assert frame.index.name == "timestamp" and str(frame.index.tz) == "UTC"
    assert tf.provenance["query_timings"]["requests"] == len(spec.metrics)  # 10,080 points: one range query per metric
    assert tf.provenance["queries"]["node_cpu_utilisation"] == f"avg by (instance) ({CPU})"
    assert tf.provenance["queries"]["container_restarts_rate"] == "sum(rate(kube_pod_container_status_restarts_total[300s]))"
    per_entity = tf.provenance["entities"]["per_entity"]
    assert list(per_entity) == list(entity_history.NODES) and tf.provenance["entities"]["count"] == 4
    assert list(pd.unique(frame["instance"])) == list(entity_history.NODES)  # sorted by entity, then time
    window_start = end - (168 * 60 - 1) * 60
    for key, rows in split_entities(frame, spec):
        stamps = rows.index.asi8 // 10**9
        assert (np.diff(stamps) == 60).all()
        first, stop = entity_history.window(key, anchor)
        assert stamps[0] == max(first, window_start)
        # A drained node's last sample stays visible for Prometheus' 5 min lookback (backfilled data has no staleness marker).
        assert stamps[-1] == end if stop is None else 0 <= stamps[-1] - (stop - 60) <= LOOKBACK
        assert per_entity[key]["rows"] == len(rows) == len(stamps)
        untouched = tf.untouched[tf.untouched["instance"] == key]
        real = entity_history.values(CPU, key, stamps.astype(float), anchor)
        present = np.isfinite(real)
        np.testing.assert_allclose(untouched["node_cpu_utilisation"].to_numpy()[present], real[present], rtol=1e-12)
    assert 0 <= per_entity["worker-4"]["rows"] - 2 * 24 * 60 <= LOOKBACK // 60  # added at -3 d, drained at -1 d
    assert per_entity["worker-3"]["gaps_filled"]["node_cpu_utilisation"] == 30 - LOOKBACK // 60  # the scrape gap past the lookback
    assert per_entity["worker-1"]["gaps_filled"]["node_cpu_utilisation"] == 0
    # The broadcast metric is one cluster value: the same in every node's rows at a timestamp.
    restarts = tf.untouched.groupby(level=0)["container_restarts_rate"].nunique()
    assert (restarts == 1).all()
    assert tf.row_source.index.equals(frame.index) and tf.untouched.index.equals(frame.index)
    assert "entities: 4 by instance" in entity_summary(tf.provenance)
    assert "; 1 with part of the window (added or drained): worker-4" in entity_summary(tf.provenance)  # `modelkit data` prints it


def test_injected_events_hit_one_node_at_a_time_with_each_nodes_share(prometheus_server, tmp_path):
    spec = entity_spec(tmp_path)
    tf = load(prometheus_server, spec, SEED="5")
    frame = tf.frame
    for key, rows in split_entities(frame, spec):
        assert rows["is_anomaly"].sum() == round(0.2 * len(rows)), key
        # Only this node's rows changed: the others' values at the same times are the real ones.
    events = tf.provenance["injected_anomalies"]["event_list"]
    assert events and all(e["scope"] == "entity" and e["entity"] in entity_history.NODES for e in events)
    assert "container_restarts_rate" not in {m for e in events for m in e["metrics"]}
    metrics = list(spec.metric_names)
    changed = frame[metrics] != tf.untouched[metrics]
    assert not changed[~frame["is_anomaly"].to_numpy() & (tf.row_source == "prometheus").to_numpy()].any().any()


def test_hybrid_mode_splices_per_node_and_keeps_the_real_half(prometheus_server, tmp_path):
    spec = entity_spec(tmp_path, dataSource="hybrid")
    run = settings(spec.name, **prometheus_server.env(DATA_SOURCE="hybrid"))
    tf = load_training_frame(spec, run, end=prometheus_server.history_end)
    for key, rows in tf.row_source.groupby(tf.frame["instance"].to_numpy()):
        assert (rows == "prometheus").sum() == len(rows) // 2, key


def test_a_grouped_series_without_the_entity_label_names_model_metric_and_label(prometheus_server, tmp_path):
    spec = entity_spec(tmp_path, metrics=[
        {"name": "pod_cpu", "query": "sum(node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate)", "unit": "ratio"}],
        features=["pod_cpu"])
    with pytest.raises(DataError, match=r"model 'node-detector' metric 'pod_cpu'.*without the entity label 'instance'"):
        load(prometheus_server, spec, FALLBACK_POLICY="synthetic")  # a query bug: never a fallback


def test_a_node_missing_a_metric_is_left_out_and_recorded_not_the_whole_model(prometheus_server, tmp_path):
    metrics = [{"name": "node_cpu_utilisation", "query": CPU, "aggregate": "mean", "unit": "ratio"},
               {"name": "node_load_per_cpu", "query": 'fleet:node_load1_per_cpu:ratio{instance!="worker-1"}', "aggregate": "mean", "unit": "ratio"}]
    spec = entity_spec(tmp_path, metrics=metrics, features=["node_cpu_utilisation", "node_load_per_cpu"])
    tf = load(prometheus_server, spec, TRAINING_HOURS="24")
    assert list(tf.provenance["entities_dropped"]) == ["worker-1"] and "node_load_per_cpu" in tf.provenance["entities_dropped"]["worker-1"]
    assert sorted(set(tf.frame["instance"])) == ["worker-2", "worker-3"]  # worker-4 was drained a day ago
    hybrid = load(prometheus_server, spec, TRAINING_HOURS="24", DATA_SOURCE="hybrid")  # hybrid: a stand-in column instead
    assert sorted(set(hybrid.frame["instance"])) == ["worker-1", "worker-2", "worker-3"]
    assert hybrid.provenance["entities"]["per_entity"]["worker-1"]["fallbacks"][0]["metrics"] == ["node_load_per_cpu"]
    assert hybrid.provenance["entities"]["per_entity"]["worker-2"]["fallbacks"] == []


def test_no_node_with_all_metrics_is_a_data_error_naming_the_dropped_nodes(prometheus_server, tmp_path):
    metrics = [{"name": "node_cpu_utilisation", "query": CPU, "aggregate": "mean", "unit": "ratio"},
               {"name": "other_cpu", "query": "instance:node_cpu:ratio", "aggregate": "mean", "unit": "ratio"}]  # history.py's node-a..c
    spec = entity_spec(tmp_path, metrics=metrics, features=["node_cpu_utilisation", "other_cpu"])
    with pytest.raises(DataError, match=r"no entity \(instance\) has all its metrics.*left out: node-a, node-b, node-c, worker-1"):
        load(prometheus_server, spec, TRAINING_HOURS="24")


def test_grouped_chunks_meet_exactly_at_their_seams(prometheus_server, monkeypatch):
    from modelkit.data import prometheus as prom
    from modelkit.data.grid import make_grid

    grid = make_grid(72, 60, end=prometheus_server.history_end)
    client = lambda: prom.PrometheusClient(prometheus_server.url, token=prometheus_server.token, ca_bundle=prometheus_server.ca_bundle)  # noqa: E731
    query = {"cpu": f"avg by (instance) ({CPU})"}
    whole = client().fetch_grouped(query, {"cpu": ("instance",)}, grid)["cpu"]
    monkeypatch.setattr(prom, "MAX_POINTS_PER_REQUEST", 1000)  # 4320 points -> 5 chunks; worker-4 is in some only
    chunked_client = client()
    chunked = chunked_client.fetch_grouped(query, {"cpu": ("instance",)}, grid)["cpu"]
    assert chunked_client.stats.requests == 5 and sorted(chunked) == sorted(whole) == [(n,) for n in entity_history.NODES]
    for key in whole:
        np.testing.assert_array_equal(chunked[key], whole[key])


def test_the_default_detector_reads_each_nodes_restarts_through_the_pods_node(prometheus_server):
    """The registry's per-node restart query: kube-state-metrics' counter carries no node, so it is joined
    on (namespace, pod) to kubernetes-mixin's `node_namespace_pod:kube_pod_info:` (rules/node.libsonnet)
    and `node` becomes `instance`, the node's name on OpenShift's node-exporter targets
    (cluster-monitoring-operator assets/node-exporter/service-monitor.yaml). The fixture's pods restart
    once every 4 h each; node-a runs two of them, node-b and node-c one."""
    tf = load(prometheus_server, registry_spec(), SEED="5")
    # The fixture's nodes, each with its own pods' restarts.
    assert list(tf.provenance["entities"]["per_entity"]) == list(history.NODES)
    untouched = tf.untouched[~tf.frame["is_anomaly"].to_numpy()]
    restarts = untouched.groupby("instance")["container_restarts_rate"].mean()
    pods = {node: history.POD_NODES.count(node) for node in history.NODES}
    for node, count in pods.items():
        assert restarts[node] == pytest.approx(count / (240 * 60), rel=0.2), node
    # The cluster's pod CPU/request ratio is broadcast: one value for all nodes at a time.
    assert (tf.untouched.groupby(level=0)["pod_cpu_to_request_ratio"].nunique() == 1).all()
