"""The chart's PrometheusRule, judged by promtool: it loads (`promtool check rules`) and every alert
fires when it should and stays silent when it should not (`promtool test rules` with the input
series of alerts*.promtool.yaml), with `for:` and thresholds taken from values.

Alert semantics (Prometheus docs, configuration/alerting_rules.md): an alert is pending from the
first evaluation its expression returns the series and fires once that has held for `for:`.
"""

from __future__ import annotations

import pytest

from metrics_contract import SCORER_METRICS, STANDARD_METRICS
from promtool_helpers import metric_names, promtool, rendered_rule, run_unit_tests, unit_test_file, write_rule_file

ALERTS = {"ModelkitAnomalyDetected", "ModelkitModelStale", "ModelkitForecastDegraded", "ModelkitAlarmRateOverBudget",
          "ModelkitFeatureDrift", "ModelkitScorerDown", "ModelkitScoringErrors"}
MODEL_ALERTS = ALERTS - {"ModelkitScorerDown"}


def rules(sets=()):
    return [r for g in rendered_rule(sets)["spec"]["groups"] for r in g["rules"]]


@pytest.mark.parametrize("sets", [[], ["monitoring.rules.errorRateWindow=30m", "monitoring.rules.staleMarginSeconds=3600"]],
                         ids=["defaults", "configured"])
def test_promtool_accepts_the_rendered_rules(sets, tmp_path):
    result = promtool("check", "rules", str(write_rule_file(rendered_rule(sets)["spec"]["groups"], tmp_path / "rules.yaml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_the_rules_are_the_contracts_alerts_on_the_contracts_metrics():
    found = rules()
    assert {r["alert"] for r in found} == ALERTS
    for rule in found:
        unknown = metric_names(rule["expr"]) - SCORER_METRICS - STANDARD_METRICS
        assert not unknown, f"{rule['alert']} uses {unknown}, which the scorer does not export"


@pytest.mark.parametrize("name", ["alerts.promtool.yaml", "alerts-configured.promtool.yaml"])
def test_every_alert_fires_when_it_should_and_not_before(name, tmp_path):
    result = run_unit_tests(name, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_silent_case():
    spec, _ = unit_test_file("alerts.promtool.yaml")
    cases = [case for test in spec["tests"] for case in test["alert_rule_test"]]
    for alert in ALERTS:
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in mine), f"no case where {alert} fires"
        assert any(not c["exp_alerts"] for c in mine), f"no case where {alert} stays silent"


@pytest.mark.parametrize("sets,alert", [
    (["monitoring.rules.alerts.anomalyDetected.for=1m"], "ModelkitAnomalyDetected"),
    (["monitoring.rules.staleMarginSeconds=0"], "ModelkitModelStale"),
    (["monitoring.rules.alerts.scorerDown.for=1m"], "ModelkitScorerDown"),
])
def test_the_cases_catch_a_wrong_threshold(sets, alert, tmp_path):
    """Not vacuous: rules rendered with another `for:` or margin fail the default cases, at that alert."""
    result = run_unit_tests("alerts.promtool.yaml", tmp_path, sets=sets)
    assert result.returncode != 0 and f"alertname: {alert}" in result.stdout + result.stderr, result.stdout


def test_each_alert_says_what_and_where_to_look():
    """Alertmanager routes on severity; the self-healing engine reads model, version and the score."""
    for rule in rules():
        annotations, labels = rule["annotations"], rule["labels"]
        assert labels["severity"] in ("info", "warning", "critical"), rule["alert"]
        assert annotations["summary"] and len(annotations["description"]) > len(annotations["summary"]), rule["alert"]
        if rule["alert"] in MODEL_ALERTS:
            assert "$labels.model" in annotations["summary"], rule["alert"]
    [incident] = [r for r in rules() if r["alert"] == "ModelkitAnomalyDetected"]
    assert incident["labels"]["type"] == "incident" and incident["annotations"]["score"] == "{{ $value }}"
    assert "$labels.version" in incident["annotations"]["summary"]


def test_no_rules_without_a_scorer():
    """Without the scorer ModelkitScorerDown would fire for ever (absent())."""
    from chart_helpers import by_kind, render

    for sets in (["scorer.enabled=false"], ["prometheus.url="], ["monitoring.rules.enabled=false"]):
        assert not by_kind(render(sets=sets), "PrometheusRule"), sets


def test_the_scorer_target_keeps_the_entity_labels():
    """A per-entity series' instance="worker-1" must survive the scrape: without honorLabels Prometheus
    renames it exported_instance and sets instance to the scorer pod (scrape_config honor_labels), so the
    incident alert would name the scorer instead of the node."""
    from chart_helpers import by_kind, render

    [monitor] = [m for m in by_kind(render(), "ServiceMonitor") if m["metadata"]["name"] == "modelkit-scorer"]
    assert [endpoint.get("honorLabels") for endpoint in monitor["spec"]["endpoints"]] == [True]  # and test_scrape_labels.py
