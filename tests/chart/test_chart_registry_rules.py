"""The registry's naming rules are defined once, in modelkit.registry, and reach the chart only
through generated files: what the real helm renders from _models.tpl, the CronJob names and the
values schema must equal modelkit.registry's constants.

Kubernetes refuses a CronJob name over 52 characters (kubernetes/kubernetes,
pkg/apis/batch/validation/validation.go, ValidateCronJobCreate: a name over
DNS1035LabelMaxLength-11 is "must be no more than 52 characters"; the 11 are the Jobs' suffix).
"""

from __future__ import annotations

import json
import shutil

import yaml

from chart_helpers import CHART, by_kind, helm, render
from modelkit import registry
from modelkit.registry import CRON_SYNTAX, CRONJOB_NAME_LIMIT, DNS_1123_LABEL, MODEL_NAME_MAX, cronjob_name, load_registry

PROBE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: registry-rules-probe
data:
  cronJobName: {{ include "hub.generated.cronJobName" "some-model" | quote }}
  cronJobNameLimit: {{ include "hub.generated.cronJobNameLimit" . | quote }}
  cronSyntax: {{ include "hub.generated.cronSyntax" . | quote }}
"""


def test_generated_helpers_render_modelkit_registrys_rules(tmp_path):
    chart = tmp_path / "hub"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "zz-registry-rules-probe.yaml").write_text(PROBE)
    docs = list(yaml.safe_load_all(helm("template", "hub", str(chart), "--show-only", "templates/zz-registry-rules-probe.yaml").stdout))
    assert docs[0]["data"] == {"cronJobName": cronjob_name("some-model"), "cronJobNameLimit": str(CRONJOB_NAME_LIMIT),
                               "cronSyntax": CRON_SYNTAX}


def test_cronjob_names_and_the_schemas_name_rule_come_from_the_registry():
    names = {doc["metadata"]["name"] for doc in by_kind(render(), "CronJob")}
    assert {cronjob_name(name) for name in load_registry()} <= names
    schema = json.loads((CHART / "values.schema.json").read_text())
    rule = schema["properties"]["models"]["items"]["properties"]["name"]
    assert (rule["pattern"], rule["maxLength"]) == (DNS_1123_LABEL, MODEL_NAME_MAX)
    assert len(cronjob_name("a" * MODEL_NAME_MAX)) == CRONJOB_NAME_LIMIT
    assert registry.model_name_problem("a" * MODEL_NAME_MAX) is None
    assert "exceeds 52" in registry.model_name_problem("a" * (MODEL_NAME_MAX + 1))
