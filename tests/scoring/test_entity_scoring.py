"""Per-entity scoring against the real Prometheus (tests/fixtures/prometheus.py, per-node history of
tests/fixtures/entity_history.py) with a per-node detector and forecaster trained on that history
by the project's workflows (entity_models.py): one row per node per cycle, series labelled with the node, the sick node flagged
and the others silent, a node that left the window not exported (stale, never 0), and the chart's
incident alert, evaluated by promtool on the series the scorer exported, firing with the node's
`instance` (issue 13, items 4 and 6)."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from fixtures import entity_history
from modelkit import artifacts
from modelkit.data.promql import feature_query
from modelkit.model_loading import load_model
from modelkit.registry import load_registry
from modelkit.scoring.cli import prometheus_source
from modelkit.scoring.scorer import Scorer, ScorerConfig
from modelkit.settings import Settings

from .entity_models import HORIZON_MINUTES, NODE_DETECTOR, NODE_FORECASTER, train_with_workflow, write_entity_registry
from .helpers import incident_alert_drill, samples, value

HOUR, MINUTE = 3600, 60
NODES = ("worker-1", "worker-2", "worker-3")


@pytest.fixture(scope="module")
def node_models(prometheus_server, tmp_path_factory):
    base = tmp_path_factory.mktemp("node-models")
    registry = write_entity_registry(base / "registry.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELKIT_REGISTRY", str(registry))
        for model in (NODE_DETECTOR, NODE_FORECASTER):
            train_with_workflow(base / "models", registry, prometheus_server, model)
    return base / "models", registry


def node_scorer(node_models, server, clock) -> Scorer:
    root, registry = node_models
    settings = Settings.from_env({**server.env(), "MODEL_NAME": "x"})
    return Scorer(list(load_registry(registry).values()), ScorerConfig(root, step_seconds=60), prometheus_source(settings), clock=clock)


def node_series(found, name: str) -> dict[str, tuple[dict, float]]:
    return {labels["instance"]: (labels, v) for labels, v in found.get(name, []) if labels["model"] == NODE_DETECTOR}


def test_one_row_per_node_the_sick_node_flagged_the_others_silent(node_models, prometheus_server, monkeypatch):
    monkeypatch.setenv("MODELKIT_REGISTRY", str(node_models[1]))
    anchor = prometheus_server.entity_anchor
    middle = anchor + sum(entity_history.INCIDENT) // 2
    scorer = node_scorer(node_models, prometheus_server, lambda: middle)
    scorer.cycle()
    found = samples(scorer.metrics.text())
    flags, scores = node_series(found, "modelkit_anomaly_flag"), node_series(found, "modelkit_anomaly_score")
    assert set(flags) == set(scores) == set(NODES)  # worker-4 was drained a day before: not exported
    assert {node: v for node, (_, v) in flags.items()} == {"worker-1": 0, "worker-2": 1, "worker-3": 0}
    for node, (labels, score) in scores.items():
        assert labels == {"model": NODE_DETECTOR, "version": "v1", "entity": node, "instance": node}
        assert (score < 0) == (node == entity_history.SICK_NODE)

    # Each score is the served model's decision function on that node's own latest row: its values as
    # the history's formula gives them, and the cluster's restart rate (a broadcast metric) as
    # Prometheus answers it for that instant.
    version = artifacts.version_dir(node_models[0], NODE_DETECTOR, "v1")
    model = load_model(version / artifacts.MODEL_FILE, artifacts.read_metadata(version))
    newest = float(middle // MINUTE * MINUTE)
    spec = load_registry(node_models[1])[NODE_DETECTOR]
    restarts = instant(prometheus_server, feature_query(spec.metrics[3], 60), newest)
    for node in NODES:
        own = [float(entity_history.values(family, node, np.array([newest]), anchor)[0]) for family in entity_history.FAMILIES]
        assert scores[node][1] == pytest.approx(float(model.decision_function([[*own, restarts]])[0]), rel=1e-6)
    assert value(found, "modelkit_scoring_entities", model=NODE_DETECTOR, status="scored") == 3
    assert not found.get("modelkit_scoring_errors_total")


def instant(server, query: str, at: float) -> float:
    answer = requests.get(f"{server.url}/api/v1/query", params={"query": query, "time": at},
                          headers={"Authorization": f"Bearer {server.token}"}, verify=str(server.ca_bundle), timeout=30)
    [series] = answer.json()["data"]["result"]
    return float(series["value"][1])


def test_a_node_that_leaves_the_window_is_not_exported_and_the_others_stay(node_models, prometheus_server, monkeypatch):
    """worker-3 has no samples for 30 min (entity_history.GAP): a cycle 8 min into the gap (beyond
    Prometheus' 5 min lookback) leaves it out: its series are gone from /metrics (stale), not 0.
    (worker-4, added 3 days before the anchor and drained a day before, is there at that time.)"""
    monkeypatch.setenv("MODELKIT_REGISTRY", str(node_models[1]))
    gap_start = prometheus_server.entity_anchor + entity_history.GAP[0]
    now = [gap_start - 10 * MINUTE]
    scorer = node_scorer(node_models, prometheus_server, lambda: now[0])
    scorer.cycle()
    before = samples(scorer.metrics.text())
    assert set(node_series(before, "modelkit_anomaly_flag")) == {*NODES, "worker-4"}
    now[0] = gap_start + 8 * MINUTE
    scorer.cycle()
    after = samples(scorer.metrics.text())
    for family in ("modelkit_anomaly_flag", "modelkit_anomaly_score"):
        assert set(node_series(after, family)) == {"worker-1", "worker-2", "worker-4"}
    assert value(after, "modelkit_scoring_entities", model=NODE_DETECTOR, status="scored") == 3
    assert value(after, "modelkit_scoring_entities", model=NODE_DETECTOR, status="no_recent_sample") == 1
    assert not after.get("modelkit_scoring_errors_total")


def test_drill_the_incident_alert_fires_for_the_sick_node_on_the_scorers_own_series(node_models, prometheus_server,
                                                                                    monkeypatch, tmp_path):
    """Item 6 end to end: the scorer scores the real Prometheus every minute from 3 min before
    worker-2's incident to 6 min into it; its exported score and flag series, as Prometheus would
    scrape them (job label, entity labels kept: honorLabels), feed `promtool test rules` with the
    chart's rendered rules: ModelkitAnomalyDetected (for 3m) fires for worker-2 alone, with its
    instance, and nothing fires before the incident."""
    monkeypatch.setenv("MODELKIT_REGISTRY", str(node_models[1]))
    result = incident_alert_drill(lambda clock: node_scorer(node_models, prometheus_server, clock),
                                  prometheus_server.entity_anchor + entity_history.INCIDENT[0], NODE_DETECTOR,
                                  entity_history.SICK_NODE, len(NODES), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_synthetic_demo_window_scores_each_synthetic_node(node_models, monkeypatch):
    """`modelkit watch --synthetic` (make demo) gives a per-entity model its registry's syntheticEntities
    nodes (worker-1..3 by default), each scored and labelled, not one cluster row."""
    from modelkit.scoring.cli import synthetic_cycle_text

    monkeypatch.setenv("MODELKIT_REGISTRY", str(node_models[1]))
    found = samples(synthetic_cycle_text(node_models[0]))
    assert set(node_series(found, "modelkit_anomaly_score")) == {"worker-1", "worker-2", "worker-3"}
    assert not found.get("modelkit_scoring_errors_total")


def test_forecasts_per_node_and_their_error_pooled_over_the_nodes(node_models, prometheus_server, monkeypatch):
    """The per-node forecaster: one forecast per node and metric, labelled with the node, equal to the
    node's current level plus the served model's change on that node's row; an hour later each
    forecast is settled against that node's actual value, and the exported MAE is the mean over every
    node's error (the history's formula gives the actual values)."""
    monkeypatch.setenv("MODELKIT_REGISTRY", str(node_models[1]))
    anchor = prometheus_server.entity_anchor
    start = float((anchor - 4 * HOUR) // MINUTE * MINUTE)
    now = [start]
    scorer = node_scorer(node_models, prometheus_server, lambda: now[0])
    scorer.cycle()
    found = samples(scorer.metrics.text())
    forecasts = {(l["instance"], l["metric"]): v for l, v in found.get("modelkit_forecast", []) if l["model"] == NODE_FORECASTER}
    assert {node for node, _ in forecasts} == set(NODES)
    families = {"node_cpu_utilisation": "fleet:node_cpu:ratio", "node_memory_utilisation": "fleet:node_memory_utilisation:ratio"}
    level = lambda family, node, at: float(entity_history.values(family, node, np.array([at]), anchor)[0])  # noqa: E731
    version = artifacts.version_dir(node_models[0], NODE_FORECASTER, "v1")
    model = load_model(version / artifacts.MODEL_FILE, artifacts.read_metadata(version))
    day = 2 * np.pi * ((start % 86400) / 60) / 1440
    errors = {metric: [] for metric in families}
    for node in NODES:
        row = [level(f, node, start) - level(f, node, start - 15 * MINUTE) for f in families.values()] + [np.sin(day), np.cos(day)]
        change = model.predict([row])[0]
        for column, (metric, family) in enumerate(families.items()):
            expected = level(family, node, start) + change[column]
            assert forecasts[(node, metric)] == pytest.approx(expected, rel=1e-6)
            errors[metric].append(abs(expected - level(family, node, start + HORIZON_MINUTES * MINUTE)))

    now[0] = start + HORIZON_MINUTES * MINUTE
    scorer.cycle()
    found = samples(scorer.metrics.text())
    for metric in families:
        mae = value(found, "modelkit_forecast_abs_error", model=NODE_FORECASTER, metric=metric, window="1h")
        assert mae == pytest.approx(float(np.mean(errors[metric])), rel=1e-6)
