"""Synthetic panel frames of a per-entity model: N entities with their own baselines, events that hit
one entity and events that hit all at once, labelled; and the entity helpers of modelkit/entities.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelkit.data import load_training_frame
from modelkit.data.promql import feature_query
from modelkit.entities import entity_columns, entity_key, is_entity_model, split_entities

from .entity_helpers import entity_spec
from .helpers import FIXED_END, settings, spec


def synthetic(tmp_path, env=None, **changes):
    node = entity_spec(tmp_path, dataSource="synthetic", trainingHours=72, **changes)
    return node, load_training_frame(node, settings(node.name, **(env or {})), end=FIXED_END)


def test_n_entities_named_after_the_label_each_on_the_whole_grid(tmp_path):
    node, tf = synthetic(tmp_path, syntheticEntities=5)
    frame = tf.frame
    assert list(frame.columns) == ["instance", *node.metric_names, "is_anomaly", "anomaly_kind"]
    assert list(pd.unique(frame["instance"])) == ["worker-1", "worker-2", "worker-3", "worker-4", "worker-5"]
    assert frame.index.name == "timestamp" and str(frame.index.tz) == "UTC" and len(frame) == 5 * 72 * 60
    for key, rows in split_entities(frame, node):
        assert rows.index.is_monotonic_increasing and rows.index.is_unique and len(rows) == 72 * 60, key
    assert tf.provenance["entities"] == {
        "labels": ["instance"], "count": 5,
        "per_entity": {f"worker-{i}": {"rows": 72 * 60, "first": frame.index[0].isoformat(), "last": frame.index[-1].isoformat(),
                                       "gaps_filled": {}, "fallbacks": []} for i in range(1, 6)}}
    assert tf.untouched.index.equals(frame.index) and list(tf.untouched.columns) == ["instance", *node.metric_names]



def test_the_frame_and_untouched_are_separate_copies(tmp_path):
    """Both are built in place for all entities at once (panel.LongFrame); a notebook that edits the
    frame (clips a column, renames a node) must not change the untouched values it is judged against."""
    node, tf = synthetic(tmp_path, syntheticEntities=3)
    metric = node.metric_names[0]
    before = tf.untouched.copy()
    tf.frame.loc[:, metric] = -1.0
    tf.frame.loc[tf.frame.index[:5], "instance"] = "renamed"
    pd.testing.assert_frame_equal(tf.untouched, before)
    assert (tf.features[metric] == -1.0).all()


def test_row_source_holds_one_string_per_source_not_one_per_row(tmp_path):
    """300 entities' week is 3 M rows: a str object per row would add 175 MB to a 115 MB frame."""
    _, tf = synthetic(tmp_path, syntheticEntities=3)
    assert set(tf.row_source) == {"synthetic"}
    assert len({id(source) for source in tf.row_source}) == 1

def test_synthetic_entities_setting_wins_and_other_labels_name_their_values(tmp_path):
    node, tf = synthetic(tmp_path, env={"SYNTHETIC_ENTITIES": "2"}, entity=["namespace", "pod"], syntheticEntities=7)
    assert tf.frame[["namespace", "pod"]].drop_duplicates().values.tolist() == [["namespace-1", "pod-1"], ["namespace-2", "pod-2"]]
    assert [key for key, _ in split_entities(tf.frame, node)] == ["namespace-1/pod-1", "namespace-2/pod-2"]


def test_each_entity_has_its_own_baseline_and_shares_the_broadcast_series(tmp_path):
    node, tf = synthetic(tmp_path, syntheticEntities=4)
    means = tf.untouched.groupby("instance")["node_cpu_utilisation"].mean()
    assert means.max() - means.min() > 0.03  # baselines 0.35 x U(0.7, 1.3)
    # A broadcast metric is the cluster's series: one value per timestamp, untouched by any event.
    assert (tf.frame.groupby(level=0)["container_restarts_rate"].nunique() == 1).all()


def test_events_hit_one_entity_at_a_time_and_some_all_at_once(tmp_path):
    node, tf = synthetic(tmp_path, syntheticEntities=4, env={"SEED": "11"})
    frame = tf.frame
    labels = pd.DataFrame({key: rows["is_anomaly"].to_numpy() for key, rows in split_entities(frame, node)})
    for key in labels:
        assert labels[key].sum() == round(0.05 * 72 * 60), key  # ANOMALY_RATE of each entity's rows
    everyone = labels.all(axis=1)
    alone = labels.sum(axis=1) == 1
    assert everyone.sum() > 0 and alone.sum() > 0
    events = tf.provenance["injected_anomalies"]
    assert events["fleet_events"] > 0
    fleet = [e for e in events["event_list"] if e["scope"] == "fleet"]
    assert len(fleet) == 4 * events["fleet_events"]  # each fleet event recorded in every entity
    assert {e["start"] for e in fleet} == {frame.index[s].isoformat() for s in np.flatnonzero(np.diff(everyone.astype(int)) == 1) + 1}
    own = [e for e in events["event_list"] if e["scope"] == "entity"]
    assert own and {e["entity"] for e in own} == set(labels)
    # Changed rows are labelled rows; the others are the clean series.
    metrics = list(node.metric_names)
    changed = (frame[metrics] != tf.untouched[metrics]).any(axis=1)
    assert not changed[~frame["is_anomaly"]].any()


def test_same_seed_same_panel_other_seed_other_panel(tmp_path):
    _, first = synthetic(tmp_path, env={"SEED": "3"})
    _, again = synthetic(tmp_path, env={"SEED": "3"})
    _, other = synthetic(tmp_path, env={"SEED": "4"})
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert not first.frame["node_cpu_utilisation"].equals(other.frame["node_cpu_utilisation"])


def test_entity_helpers(tmp_path):
    node = entity_spec(tmp_path, entity=["namespace", "pod"])
    assert is_entity_model(node) and not is_entity_model(spec())
    assert entity_columns(node) == ["namespace", "pod"] and entity_columns(spec()) == []
    assert entity_key(("ns", "p-1")) == "ns/p-1"
    whole = pd.DataFrame({"a": [1.0, 2.0]})
    assert [(key, rows is whole) for key, rows in split_entities(whole, spec())] == [("", True)]


@pytest.mark.parametrize("index, expected", [
    (0, "avg by (instance) (fleet:node_cpu:ratio)"),
    (3, "sum(rate(kube_pod_container_status_restarts_total[300s]))"),  # broadcast: unchanged
])
def test_group_metrics_are_grouped_by_the_entity_labels_broadcast_ones_not(tmp_path, index, expected):
    node = entity_spec(tmp_path)
    assert feature_query(node.metrics[index], 60, node.entity) == expected


def test_a_grouped_counter_keeps_its_rate(tmp_path):
    node = entity_spec(tmp_path, entity=["namespace", "pod"])
    counter = node.metrics[3].__class__(name="restarts", query="sum by (namespace, pod) (x_total)", type="counter")
    assert feature_query(counter, 60, node.entity) == "sum by (namespace, pod) (rate((sum by (namespace, pod) (x_total))[300s:60s]))"


def test_modelkit_data_writes_the_panel_and_counts_the_entities(tmp_path, monkeypatch, capsys):
    from modelkit.cli import main

    entity_spec(tmp_path)  # writes tmp_path/registry.yaml
    monkeypatch.setenv("MODELKIT_REGISTRY", str(tmp_path / "registry.yaml"))
    for name in ("SYNTHETIC_ENTITIES", "DATA_SOURCE", "TRAINING_HOURS", "SEED"):
        monkeypatch.delenv(name, raising=False)
    output, png = tmp_path / "panel.parquet", tmp_path / "panel.png"
    assert main(["data", "--model", "node-detector", "--source", "synthetic", "--hours", "24", "--entities", "6",
                 "--output", str(output), "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["entities"]["count"] == 6
    assert "entities: 6 by instance, 1440 to 1440 rows each (8640 rows)" in captured.err
    frame = pd.read_parquet(output)
    assert frame["instance"].nunique() == 6 and len(frame) == 6 * 1440
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
