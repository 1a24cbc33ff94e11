"""The chart's run specs and the runs made by hand with scripts/trigger-model-training.sh are
one builder's (modelkit.lifecycle.pipelinerun.build_pipelinerun), and hand-made runs get the
chart's pod template.

With ReadWriteOnce storage (the default) every pod that mounts the model PVC must run on the
storage anchor's node (hub.storage.affinity); a PipelineRun carries that only in
`taskRunTemplate.podTemplate`, which Tekton applies to each of its task pods (tektoncd/pipeline
docs/pipelineruns.md, "Specifying a Pod template"). The trigger script copies it from the model's
run spec ConfigMap, so its runs cannot hang on a volume attached to another node.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from chart_helpers import OVERLAYS, PROJECT_ROOT, find, render
from modelkit.errors import ConfigError
from modelkit.lifecycle.pipelinerun import build_pipelinerun, chart_task_run_template, pipelinerun_manifest, run_params
from modelkit.pipeline_steps import run_timeouts

MODEL = "anomaly-detector"


def chart_run_spec(docs) -> str:
    return find(docs, "ConfigMap", f"{MODEL}-training-run")["data"]["pipelinerun.yaml"]


GIT = ["global.git.repoURL=https://git.example.com/models.git", "global.git.revision=v2"]
INPUTS = [([], GIT), *[([overlay], GIT) for overlay in OVERLAYS],
          ([], [*GIT, "tekton.modelTraining.anomalyDetector.timeout=2h30m", "tekton.modelTraining.anomalyDetector.trainingHours=48",
                "tekton.modelTraining.predictiveAnalytics.dataSource=hybrid"])]


@pytest.mark.parametrize("values, sets", INPUTS, ids=["defaults", *[p.stem for p in OVERLAYS], "overrides"])
def test_the_charts_run_spec_is_the_run_the_builder_makes_from_the_same_inputs(values, sets):
    """Every field of the rendered ConfigMap run spec (params, the timeout split, labels) is what
    the builder makes for a run by hand (`run_params`, `run_timeouts`) from the effective registry
    entry, the chart's git settings and its taskRunTemplate; only the chart adds its managed-by label."""
    docs = render(values=values, sets=sets)
    registry = json.loads(find(docs, "ConfigMap", "model-registry")["data"]["registry.json"])
    for entry in registry["models"]:
        chart = yaml.safe_load(find(docs, "ConfigMap", f"{entry['name']}-training-run")["data"]["pipelinerun.yaml"])
        assert chart["metadata"]["labels"].pop("app.kubernetes.io/managed-by") == "Helm"
        params = run_params(entry["name"], training_hours=entry["trainingHours"], data_source=entry["dataSource"],
                            git_url="https://git.example.com/models.git", git_ref="v2", data_file="")
        made = build_pipelinerun(entry["name"], chart["metadata"]["namespace"], params, run_timeouts(entry.get("timeout")),
                                 chart["spec"]["taskRunTemplate"])
        assert chart == made, entry["name"]


def test_the_run_takes_the_charts_task_run_template_with_its_affinity():
    text = chart_run_spec(render())
    template = chart_task_run_template(text, "cm")
    assert template == yaml.safe_load(text)["spec"]["taskRunTemplate"]
    assert template["podTemplate"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    run = pipelinerun_manifest(MODEL, "ml", task_run_template=template)
    assert run["spec"]["taskRunTemplate"] == template
    assert "taskRunTemplate" not in pipelinerun_manifest(MODEL, "ml")["spec"]


@pytest.mark.parametrize("text, message", [("[unclosed", "not YAML"), ("spec: {params: []}", "no spec.taskRunTemplate")])
def test_a_bad_run_spec_is_refused_naming_it(text, message):
    with pytest.raises(ConfigError, match=f"cm: {message}"):
        chart_task_run_template(text, "cm")


def test_the_trigger_script_reads_the_run_spec_from_the_cluster(tmp_path):
    """A fake `oc` answers the ConfigMap lookup the way the API server would (jsonpath of the data key)."""
    spec_file = tmp_path / "pipelinerun.yaml"
    spec_file.write_text(chart_run_spec(render()))
    fake = tmp_path / "bin" / "oc"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\n[ "$3 $4 $5" = "get configmap anomaly-detector-training-run" ] || exit 1\n'
                    f'cat {spec_file}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "MODELKIT_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(PROJECT_ROOT / "scripts/trigger-model-training.sh"), MODEL, "-n", "ml", "--dry-run"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["spec"]["taskRunTemplate"] == yaml.safe_load(spec_file.read_text())["spec"]["taskRunTemplate"]

    fake.write_text("#!/bin/sh\nexit 1\n")  # no such ConfigMap: the run is still built, and the script says so
    done = subprocess.run(["bash", str(PROJECT_ROOT / "scripts/trigger-model-training.sh"), MODEL, "-n", "ml", "--dry-run"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "taskRunTemplate" not in json.loads(done.stdout)["spec"]
    assert "no ConfigMap anomaly-detector-training-run in ml" in done.stderr
