"""The Grafana dashboard ConfigMap: the sidecar finds it, and every panel's PromQL parses and asks
only for the scorer's metrics, standard ones (up, ALERTS) or, on the forecast-against-actual
panels, exactly the registry's query of the forecast metric.

promtool has no PromQL-only check, so each expression goes into a throwaway recording rule file
for `promtool check rules`, with Grafana's variables replaced by what Grafana would send.
"""

from __future__ import annotations

import json


from chart_helpers import by_kind, find, render
from metrics_contract import SCORER_METRICS, STANDARD_METRICS
from promtool_helpers import metric_names, promtool, write_rule_file

GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$model": ".*", "$topn": "10"}


def dashboard(sets=()):
    cm = find(render(sets=list(sets)), "ConfigMap", "modelkit-models-dashboard")
    return cm, json.loads(cm["data"]["modelkit-models.json"])


def targets(board):
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]


def as_sent(expr):
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def registry_queries():
    """(model, metric) -> the registry's PromQL of each enabled forecaster metric, as the scorer sends it."""
    from modelkit.data.promql import feature_query
    from modelkit.registry import load_registry

    return {(m.name, metric.name): feature_query(metric, 60) for m in load_registry().values() if m.kind == "forecaster"
            for metric in m.metrics}


def test_the_sidecar_label_and_the_sections():
    cm, board = dashboard()
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Scores and alarms", "Forecasts against actuals", "Versions and ages", "Drift", "Scorer health"]
    cm, _ = dashboard(["monitoring.dashboard.labels.grafana_dashboard=null", "monitoring.dashboard.labels.dashboards=modelkit"])
    assert "grafana_dashboard" not in cm["metadata"]["labels"] and cm["metadata"]["labels"]["dashboards"] == "modelkit"


def test_every_panel_query_parses(tmp_path):
    _, board = dashboard()
    exprs = targets(board)
    group = {"name": "dashboard", "rules": [{"record": f"dashboard:panel_{i}", "expr": as_sent(e)} for i, (_, e) in enumerate(exprs)]}
    result = promtool("check", "rules", str(write_rule_file([group], tmp_path / "panels.yaml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_the_parse_check_is_not_vacuous(tmp_path):
    group = {"name": "dashboard", "rules": [{"record": "dashboard:broken", "expr": "sum by (model (modelkit_anomaly_score)"}]}
    assert promtool("check", "rules", str(write_rule_file([group], tmp_path / "broken.yaml"))).returncode != 0


def test_panels_use_only_the_contracts_metrics_or_the_registry_queries():
    _, board = dashboard()
    actuals = set(registry_queries().values())
    unknown = []
    for title, expr in targets(board):
        if expr in actuals:
            continue
        extra = metric_names(as_sent(expr)) - SCORER_METRICS - STANDARD_METRICS
        if extra:
            unknown.append(f"{title}: {expr} uses {sorted(extra)}")
    assert not unknown, "\n".join(unknown)


def test_each_forecast_metric_is_drawn_against_its_actual_value():
    _, board = dashboard()
    panels = {p["title"]: [t["expr"] for t in p["targets"]] for p in board["panels"] if "targets" in p}
    for (model, metric), query in registry_queries().items():
        actual, forecast = panels[f"{model}: {metric}, forecast against actual"]
        assert actual == query
        assert forecast == f'modelkit_forecast{{model="{model}",metric="{metric}"}} offset 60m'
    _, board = dashboard(["tekton.modelTraining.predictiveAnalytics.enabled=false"])
    assert not [p for p in board["panels"] if p["title"].startswith("predictive-analytics:")]


def test_the_name_scanner_sees_through_labels_strings_and_functions():
    assert metric_names('histogram_quantile(0.5, sum by (model, le) (rate(a_bucket{model=~"$m"}[5m])))') == {"a_bucket"}
    assert metric_names('time() - b offset 60m and on (model) c{x="up"}') == {"b", "c"}
    assert metric_names("avg(instance:node_cpu:ratio)") == {"instance:node_cpu:ratio"}


def test_no_dashboard_without_a_scorer():
    assert not [c for c in by_kind(render(sets=["prometheus.url="]), "ConfigMap") if c["metadata"]["name"] == "modelkit-models-dashboard"]


def test_the_top_entities_panel_ranks_the_most_anomalous_entities_of_per_entity_models(tmp_path):
    """The per-entity view: the N lowest scores (lower = more anomalous) among series with an entity
    label, at the dashboard's end time. Checked by a real evaluation: promtool runs the panel's query on
    per-node series (and a cluster-wide one, which has no entity and must not take a place)."""
    _, board = dashboard()
    [panel] = [p for p in board["panels"] if p["title"].startswith("Top entities")]
    [target] = panel["targets"]
    assert panel["type"] == "table" and target["instant"] is True and target["format"] == "table"
    assert {v["name"]: v for v in board["templating"]["list"]}["topn"]["current"]["value"] == "10"
    expr = target["expr"].replace("$topn", "2").replace("$model", ".*")
    group = {"name": "dashboard", "rules": [{"record": "dashboard:top_entities", "expr": expr}]}
    rules = write_rule_file([group], tmp_path / "top.yaml")
    scores = {"worker-1": 0.1, "worker-2": -0.3, "worker-3": 0.05, "worker-4": 0.2}
    series = [{"series": f'modelkit_anomaly_score{{model="node-detector",version="r1",entity="{k}",instance="{k}"}}',
               "values": f"{v}x3"} for k, v in scores.items()]
    series.append({"series": 'modelkit_anomaly_score{model="anomaly-detector",version="r9"}', "values": "-0.9x3"})
    expected = [{"labels": f'dashboard:top_entities{{model="node-detector",version="r1",entity="{k}",instance="{k}"}}',
                 "value": scores[k]} for k in ("worker-2", "worker-3")]
    spec = {"rule_files": [str(rules)], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series,
                       "promql_expr_test": [{"expr": "dashboard:top_entities", "eval_time": "2m", "exp_samples": expected}]}]}
    test_file = tmp_path / "top.test.yaml"
    test_file.write_text(__import__("yaml").safe_dump(spec, sort_keys=False))
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
