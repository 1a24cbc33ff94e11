"""The rendered Tekton Pipeline: matches pipeline_steps, accepts the guide's PipelineRuns, passes tekton-lint."""

from __future__ import annotations

import copy
import re
import subprocess

import pytest
import yaml

from chart_helpers import GUIDE, by_kind, crd_errors, find, render, require_shared, tool
from modelkit.pipeline_steps import FINALLY_STEP, PARAM_ENV, STEPS

from generator.pipeline import CONTEXT_PARAMS, EXTRA_PARAMS, STEP_TIMEOUTS, TASK_PREFIX


def pipeline(docs=None):
    return find(docs or render(), "Pipeline", "model-training-pipeline")


def main_step(task):
    """The step that runs the pipeline step's command (the label step of check-params is extra)."""
    return next(s for s in task["spec"]["steps"] if s["name"] == "run")


def test_pipeline_matches_pipeline_steps_definition():
    docs = render()
    spec = pipeline(docs)["spec"]
    assert [t["name"] for t in spec["tasks"]] == [s.name for s in STEPS]
    assert [t["name"] for t in spec["finally"]] == [FINALLY_STEP.name]
    assert [p["name"] for p in spec["params"]] == list(PARAM_ENV)
    previous = None
    for ptask, step in zip([*spec["tasks"], *spec["finally"]], [*STEPS, FINALLY_STEP]):
        assert ptask["taskRef"]["name"] == TASK_PREFIX + step.name
        assert ptask.get("retries", 0) == step.retries, step.name
        assert ptask.get("timeout") == STEP_TIMEOUTS[step.name], step.name
        if step is not FINALLY_STEP:
            assert ptask.get("runAfter") == ([previous] if previous else None), step.name
            previous = step.name
        extra = [e[0] for e in EXTRA_PARAMS.get(step.name, ())] + [c[0] for c in CONTEXT_PARAMS]
        assert [p["name"] for p in ptask["params"]] == [*step.params, *extra], step.name
        for p in ptask["params"]:
            if p["name"] in PARAM_ENV:
                assert p["value"] == f"$(params.{p['name']})"
        task = find(docs, "Task", TASK_PREFIX + step.name)
        assert [p["name"] for p in task["spec"]["params"]] == [p["name"] for p in ptask["params"]]
        run = main_step(task)
        env = {e["name"]: e.get("value") for e in run["env"]}
        for param in step.params:
            assert env[PARAM_ENV[param]] == f"$(params.{param})", (step.name, param)
        # No other step env var carries a PipelineRun param.
        carried = {v for v in env.values() if v and "$(params." in v} - {f"$(params.{p})" for p in step.params}
        assert carried <= {f"$(params.{e[0]})" for e in (*EXTRA_PARAMS.get(step.name, ()), *CONTEXT_PARAMS)} | {
            "/mnt/models/.runs/$(params.run-id)/source"}
        assert env["RUN_ID"] == "$(params.run-id)" and env["NAMESPACE"] == "$(params.namespace)"
        if step.cluster_only:
            assert "git fetch" in run["script"]
        else:
            assert run["script"].rstrip().splitlines()[-1] == "exec " + " ".join(step.command), step.name
            assert env["MODELS_ROOT"] == "/mnt/models" and env["MODELKIT_REGISTRY"] == "/etc/modelkit/registry.json"
    ctx = {p["name"]: p["value"] for p in spec["tasks"][0]["params"]}
    assert ctx["run-id"] == "$(context.pipelineRun.name)" and ctx["namespace"] == "$(context.pipelineRun.namespace)"


def test_no_param_is_pasted_into_a_script():
    for task in by_kind(render(sets=["training.runner=notebookValidationJob", "storage.accessMode=ReadWriteMany"]), "Task") + by_kind(render(), "Task"):
        for step in task["spec"]["steps"]:
            assert "$(params." not in step["script"] and "$(context." not in step["script"], task["metadata"]["name"]
            assert "$(tasks." not in step["script"]


def test_train_gets_prometheus_settings_and_registry():
    docs = render(sets=["prometheus.tokenSecret.name=thanos-token", "prometheus.tlsVerify=false"])
    train = main_step(find(docs, "Task", "model-training-train"))
    env = {e["name"]: e["value"] for e in train["env"]}
    assert env["PROMETHEUS_URL"].startswith("https://thanos-querier")
    assert env["PROMETHEUS_TOKEN_FILE"] == "/etc/prometheus-token/token"
    assert env["PROMETHEUS_CA_BUNDLE"] == "/etc/prometheus-ca/service-ca.crt"
    assert env["PROMETHEUS_TLS_VERIFY"] == "false"
    from modelkit.settings import VARIABLES
    assert {k for k in env if k.startswith("PROMETHEUS") or k in ("MODELS_ROOT", "MODELKIT_REGISTRY", "RUN_ID")} <= set(VARIABLES)
    mounts = {m["mountPath"] for m in train["volumeMounts"]}
    assert {"/mnt/models", "/etc/modelkit", "/etc/prometheus-token", "/etc/prometheus-ca"} <= mounts
    registry = find(docs, "ConfigMap", "model-registry")
    models = yaml.safe_load(registry["data"]["registry.json"])["models"]
    assert [m["name"] for m in models] == ["anomaly-detector", "predictive-analytics"]


def test_effective_registry_validates_with_modelkit(tmp_path):
    from modelkit.registry import load_registry

    for values in ([], ["values/dev.yaml"]):
        data = find(render(values=values), "ConfigMap", "model-registry")["data"]["registry.json"]
        path = tmp_path / "registry.json"
        path.write_text(data)
        models = load_registry(path)
        if values:
            assert {m.data_source for m in models.values()} == {"synthetic"}
            assert {name: m.training_hours for name, m in models.items()} == {
                "anomaly-detector": 24, "predictive-analytics": 720}


def test_nvj_runner_builds_a_notebook_validation_job():
    import json

    docs = render(sets=["training.runner=notebookValidationJob", "storage.accessMode=ReadWriteMany"])
    job = json.loads(find(docs, "ConfigMap", "model-training-nvj-template")["data"]["job.json"])
    assert job["apiVersion"] == "mlops.mlops.dev/v1alpha1" and job["kind"] == "NotebookValidationJob"
    # Field names of the operator's CRD (config/crd/bases/mlops.mlops.dev_notebookvalidationjobs.yaml).
    assert set(job["spec"]) <= {"comparisonConfig", "goldenNotebook", "modelValidation", "notebook", "podConfig",
                                "timeout", "validationConfig"}
    assert set(job["spec"]["podConfig"]) <= {"affinity", "buildConfig", "containerImage", "credentials", "env", "envFrom",
                                             "nodeSelector", "resources", "serviceAccountName", "tolerations",
                                             "volumeMounts", "volumes"}
    assert job["spec"]["podConfig"]["containerImage"].endswith(":0.1.0")
    train = find(docs, "Task", "model-training-train")
    assert [s["name"] for s in train["spec"]["steps"]] == ["write-job", "run-job"]
    assert "modelkit" not in "".join(s["script"] for s in train["spec"]["steps"])


# --- the guide's PipelineRuns -------------------------------------------------------

COMMON = {
    "git-url": "https://github.com/tosin2013/openshift-aiops-platform.git",
    "git-ref": "main",
}
# Copied from the guide: "Manual Training with Default Settings", "... Custom Time Window", "Step 5".
GUIDE_RUNS = [
    {"generateName": "train-anomaly-detector-", "timeout": "30m", "params": {
        "model-name": "anomaly-detector",
        "notebook-path": "notebooks/02-anomaly-detection/01-isolation-forest-implementation.ipynb",
        "data-source": "prometheus", "training-hours": "24", "inference-service-name": "anomaly-detector", **COMMON}},
    {"generateName": "train-predictive-analytics-", "timeout": "45m", "params": {
        "model-name": "predictive-analytics",
        "notebook-path": "notebooks/02-anomaly-detection/05-predictive-analytics-kserve.ipynb",
        "data-source": "prometheus", "training-hours": "720", "inference-service-name": "predictive-analytics", **COMMON}},
    {"generateName": "train-your-model-", "timeout": None, "params": {
        "model-name": "your-model", "notebook-path": "notebooks/your-model-training.ipynb", "training-hours": "24",
        "data-source": "synthetic", "inference-service-name": "your-model", **COMMON}},
]


def guide_pipelineruns():
    """The PipelineRuns of the guide's `oc create -f - <<EOF` blocks, read from the guide itself."""
    text = require_shared(GUIDE, "the guide's own PipelineRuns; the embedded copies are checked instead").read_text()
    runs = []
    for block in re.findall(r"^oc create -f - <<EOF\n(.*?)\n^EOF$", text, re.S | re.M):
        doc = yaml.safe_load(block)
        if doc.get("kind") == "PipelineRun":
            runs.append(doc)
    return runs


def embedded_pipelinerun(run):
    spec = {"pipelineRef": {"name": "model-training-pipeline"},
            "params": [{"name": k, "value": v} for k, v in run["params"].items()]}
    if run["timeout"]:
        spec["timeout"] = run["timeout"]
    return {"apiVersion": "tekton.dev/v1beta1", "kind": "PipelineRun",
            "metadata": {"generateName": run["generateName"], "namespace": "self-healing-platform"}, "spec": spec}


def test_embedded_guide_runs_match_the_guide():
    from_guide = guide_pipelineruns()
    assert len(from_guide) == 3
    for doc, run in zip(from_guide, GUIDE_RUNS):
        assert doc["metadata"]["generateName"] == run["generateName"]
        assert {p["name"]: p["value"] for p in doc["spec"]["params"]} == run["params"]
        assert doc["spec"].get("timeout") == run["timeout"]


def to_v1(doc):
    """What Tekton's conversion webhook makes of a v1beta1 PipelineRun (the parts the guide uses)."""
    out = copy.deepcopy(doc)
    out["apiVersion"] = "tekton.dev/v1"
    timeout = out["spec"].pop("timeout", None)
    if timeout:
        out["spec"]["timeouts"] = {"pipeline": timeout}
    return out


@pytest.mark.parametrize("index", range(3))
def test_guide_pipelineruns_work_against_the_pipeline(index):
    try:
        doc = guide_pipelineruns()[index]
    except pytest.skip.Exception:
        doc = embedded_pipelinerun(GUIDE_RUNS[index])
    doc.setdefault("metadata", {}).setdefault("namespace", "self-healing-platform")
    assert doc["apiVersion"] == "tekton.dev/v1beta1"
    assert not crd_errors(doc), crd_errors(doc)  # against the v1beta1 PipelineRun schema
    v1 = to_v1(doc)
    assert not crd_errors(v1), crd_errors(v1)
    declared = {p["name"]: p for p in pipeline()["spec"]["params"]}
    passed = {p["name"]: p["value"] for p in doc["spec"]["params"]}
    assert doc["spec"]["pipelineRef"]["name"] == "model-training-pipeline"
    assert set(passed) <= set(declared), f"params the Pipeline does not declare: {set(passed) - set(declared)}"
    required = {name for name, p in declared.items() if "default" not in p}
    assert required <= set(passed), f"required params missing: {required - set(passed)}"
    assert all(isinstance(v, str) and declared[k]["type"] == "string" for k, v in passed.items())


def test_scheduled_pipelinerun_specs_validate_and_carry_the_model_label():
    docs = render(sets=["tekton.modelTraining.predictiveAnalytics.gpu=true", "storage.accessMode=ReadWriteMany"])
    declared = {p["name"] for p in pipeline(docs)["spec"]["params"]}
    for cm in by_kind(docs, "ConfigMap"):
        if not cm["metadata"]["name"].endswith("-training-run"):
            continue
        run = yaml.safe_load(cm["data"]["pipelinerun.yaml"])
        model = cm["metadata"]["labels"]["model-name"]
        assert not crd_errors(run), crd_errors(run)
        assert run["metadata"]["generateName"] == f"train-{model}-" and "name" not in run["metadata"]
        assert run["metadata"]["labels"]["model-name"] == model
        assert {p["name"] for p in run["spec"]["params"]} == declared
        train = run["spec"]["taskRunSpecs"][0]
        assert train["pipelineTaskName"] == "train"
        if model == "predictive-analytics":
            assert train["computeResources"]["limits"]["nvidia.com/gpu"] == "1"
            assert train["podTemplate"]["tolerations"] and train["podTemplate"]["nodeSelector"]
        else:
            assert "nvidia.com/gpu" not in train["computeResources"]["limits"] and "podTemplate" not in train


def test_manual_runs_get_the_model_name_label():
    check = find(render(), "Task", "model-training-check-params")
    names = [s["name"] for s in check["spec"]["steps"]]
    assert names == ["run", "label-run"]  # validate first, then label
    assert 'pipelinerun "$RUN_ID" "model-name=$MODEL_NAME"' in check["spec"]["steps"][1]["script"]


# --- tekton-lint -----------------------------------------------------------------

def tekton_lint(docs, tmp_path):
    path = tmp_path / "tekton.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    result = subprocess.run([tool("tekton-lint"), "--format", "json", str(path)], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    import json
    try:
        return json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise AssertionError(f"tekton-lint printed no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")


@pytest.mark.parametrize("sets", [[], ["training.runner=notebookValidationJob", "storage.accessMode=ReadWriteMany"]])
def test_tekton_lint_finds_no_problem(sets, tmp_path):
    docs = [d for d in render(sets=sets) if d["apiVersion"].startswith("tekton.dev")]
    assert len(docs) == len(STEPS) + 2  # Tasks + finally Task + Pipeline
    problems = tekton_lint(docs, tmp_path)
    assert not [p for p in problems if p["level"] == "error"], problems
    assert not problems, problems  # no warnings either


def test_tekton_lint_would_catch_a_broken_reference(tmp_path):
    docs = [d for d in render() if d["apiVersion"].startswith("tekton.dev")]
    broken = copy.deepcopy(docs)
    pipe = next(d for d in broken if d["kind"] == "Pipeline")
    pipe["spec"]["tasks"][1]["params"][0]["value"] = "$(params.no-such-param)"
    assert [p for p in tekton_lint(broken, tmp_path) if p["level"] == "error"]
