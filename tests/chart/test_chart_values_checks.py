"""What `helm template` refuses in values, and what the overlays promise about data windows."""

from __future__ import annotations

import json

import pytest

from chart_helpers import PROJECT_ROOT, RELEASE, CHART, find, helm, render
from modelkit.registry import load_registry
from modelkit.training.params import warmup_hours

PROD = PROJECT_ROOT / "values" / "prod.yaml"
# OpenShift's platform Prometheus: prometheus-k8s keeps 15 d unless the cluster-monitoring-config
# sets `retention` (OpenShift docs, "Modifying retention time for Prometheus metrics data").
PLATFORM_RETENTION_HOURS = 15 * 24
MARGIN_HOURS = 24

BAD_SCHEDULES = {
    "tekton.modelTraining.anomalyDetector.schedule=61 * * * *": "tekton.modelTraining.anomalyDetector.schedule: cron expression \"61 * * * *\": bad minute field \"61\" (allowed 0-59",
    "tekton.modelTraining.predictiveAnalytics.schedule=*/0 * * * *": "tekton.modelTraining.predictiveAnalytics.schedule: cron expression \"*/0 * * * *\": bad minute field \"*/0\"",
    "modelOverrides.schedule=5-1 * * * *": "modelOverrides.schedule: cron expression \"5-1 * * * *\": bad minute field \"5-1\"",
    "modelOverrides.schedule=0 24 * * *": "bad hour field \"24\" (allowed 0-23",
    "modelOverrides.schedule=0 0 0 * *": "bad day-of-month field \"0\" (allowed 1-31",
    "modelOverrides.schedule=0 0 * 13 *": "bad month field \"13\" (allowed 1-12",
    "modelOverrides.schedule=0 0 * * 7": "bad day-of-week field \"7\" (allowed 0-6",  # robfig/cron v3: dow bounds{0, 6}
    "modelOverrides.schedule=0 0 * * 1-5/0": "bad day-of-week field \"1-5/0\"",
}


@pytest.mark.parametrize("setting", BAD_SCHEDULES)
def test_a_schedule_out_of_range_fails_the_render_naming_the_field(setting):
    result = helm("template", RELEASE, str(CHART), "--set", setting, check=False)
    assert result.returncode != 0
    assert BAD_SCHEDULES[setting] in result.stderr


def test_a_schedule_out_of_range_in_a_values_file_fails_too(tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text('tekton:\n  modelTraining:\n    anomalyDetector:\n      schedule: "0 2 * * 0,61"\n')
    result = helm("template", RELEASE, str(CHART), "-f", str(overlay), check=False)
    assert result.returncode != 0
    assert 'tekton.modelTraining.anomalyDetector.schedule: cron expression "0 2 * * 0,61": bad day-of-week field "0,61"' in result.stderr


def test_good_schedules_render():
    for schedule in ("0 2 * * 0", "*/15 1-5 * * 1-5", "00 02 1,15 * *", "0-59/10 23 31 12 6"):
        helm("template", RELEASE, str(CHART), "--set-json", f"modelOverrides.schedule={json.dumps(schedule)}")


def test_a_threshold_given_as_a_string_is_refused_by_the_values_schema(tmp_path):
    values = (CHART / "values.yaml").read_text().replace("minEventRecall: 0.6", 'minEventRecall: "0.6"')
    assert 'minEventRecall: "0.6"' in values
    (tmp_path / "values.yaml").write_text(values)
    result = helm("template", RELEASE, str(CHART), "-f", str(tmp_path / "values.yaml"), check=False)
    assert result.returncode != 0 and "/models/0/thresholds/minEventRecall" in result.stderr


def test_prod_windows_fit_the_platform_prometheus_default_retention(tmp_path):
    """issue 9 item 7: with 720 h + 24 h of warm-up (48 % of 15 d) the forecaster failed every week."""
    registry = find(render([PROD]), "ConfigMap", "model-registry")["data"]["registry.json"]
    (tmp_path / "registry.json").write_text(registry)
    windows = {
        name: spec.training_hours + warmup_hours(spec)
        for name, spec in load_registry(tmp_path / "registry.json").items()
        if spec.enabled and spec.data_source != "synthetic"
    }
    assert set(windows) == {"anomaly-detector", "predictive-analytics"}, json.loads(registry)
    assert all(hours <= PLATFORM_RETENTION_HOURS - MARGIN_HOURS for hours in windows.values()), windows
