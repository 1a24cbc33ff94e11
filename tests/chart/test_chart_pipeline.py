"""The rendered Tekton Pipeline: matches pipeline_steps, accepts the guide's PipelineRuns, passes tekton-lint."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys

import pytest
import yaml

from chart_helpers import (CHART, GUIDE, OVERLAYS, PROJECT_ROOT, by_kind, crd_errors, find, helm, render, require_shared,
                           template_args, tool)
from modelkit.pipeline_steps import (BAKED_SOURCE_DIR, CONTEXT_PARAMS, FINALLY_STEP, FINALLY_TIMEOUT, PARAM_ENV, STEPS,
                                     TASK_PREFIX, duration_seconds, run_timeouts)

MODELS = ["anomaly-detector", "predictive-analytics"]
# The NotebookValidationJob runner needs a repository and, its pod taking no affinity, RWX storage.
NVJ = ["training.runner=notebookValidationJob", "global.git.repoURL=https://example.invalid/fork.git",
       "storage.accessMode=ReadWriteMany"]


def pipeline(docs=None):
    return find(docs or render(), "Pipeline", "model-training-pipeline")


def main_step(task):
    """The step that runs the pipeline step's command (other steps of a Task are Tekton-only helpers)."""
    return next(s for s in task["spec"]["steps"] if s["name"] == "run")


def pipeline_tasks_of(step, spec):
    """The Pipeline's tasks for one pipeline step: one per model for the per-model train step."""
    names = [f"{step.name}-{m}" for m in MODELS] if step.per_model else [step.name]
    by_name = {t["name"]: t for t in [*spec["tasks"], *spec["finally"]]}
    return [by_name[name] for name in names]


def test_pipeline_matches_pipeline_steps_definition():
    docs = render()
    spec = pipeline(docs)["spec"]
    expected = [name for s in STEPS for name in ([f"train-{m}" for m in MODELS] if s.per_model else [s.name])]
    assert [t["name"] for t in spec["tasks"]] == expected
    assert [t["name"] for t in spec["finally"]] == [FINALLY_STEP.name]
    assert [p["name"] for p in spec["params"]] == list(PARAM_ENV)
    previous: list[str] = []
    for step in [*STEPS, FINALLY_STEP]:
        ptasks = pipeline_tasks_of(step, spec)
        for ptask in ptasks:
            assert ptask["taskRef"]["name"] == TASK_PREFIX + ptask["name"]
            assert ptask.get("retries", 0) == step.retries, step.name
            assert ptask.get("timeout") == step.timeout, step.name
            if step is not FINALLY_STEP:
                assert ptask.get("runAfter") == (previous or None), step.name
            assert [p["name"] for p in ptask["params"]] == [p.name for p in step.task_params], step.name
            for p in ptask["params"]:
                if p["name"] in PARAM_ENV:
                    assert p["value"] == f"$(params.{p['name']})"
            task = find(docs, "Task", ptask["taskRef"]["name"])
            assert [p["name"] for p in task["spec"]["params"]] == [p["name"] for p in ptask["params"]]
            run = main_step(task)
            env = {e["name"]: e.get("value") for e in run["env"]}
            for param in step.params:
                assert env[PARAM_ENV[param]] == f"$(params.{param})", (step.name, param)
            # No other step env var carries a PipelineRun param.
            carried = {v for v in env.values() if v and "$(params." in v} - {f"$(params.{p})" for p in step.params}
            assert carried <= {f"$(params.{p.name})" for p in (*step.extra_params, *CONTEXT_PARAMS)} | {
                "/mnt/models/.runs/$(params.run-id)/source"}
            assert env["RUN_ID"] == "$(params.run-id)" and env["NAMESPACE"] == "$(params.namespace)"
            if step.cluster_only:
                assert {"fetch-source": "git fetch", "label-run": "exec kubectl label"}[step.name] in run["script"]
            else:
                assert run["script"].rstrip().splitlines()[-1] == "exec " + " ".join(step.command), step.name
                assert env["MODELKIT_REGISTRY"] == "/etc/modelkit/registry.json"
                assert env["MODELS_ROOT"] == ("/workspace/run/models" if step.per_model else "/mnt/models")
        previous = [t["name"] for t in ptasks]
    ctx = {p["name"]: p["value"] for p in spec["tasks"][0]["params"]}
    assert ctx["run-id"] == "$(context.pipelineRun.name)" and ctx["namespace"] == "$(context.pipelineRun.namespace)"


def test_each_model_trains_in_its_own_task_with_its_resources_selected_by_when(tmp_path):
    """Fixed step resources in a Task are stable Tekton; only the run's model's train task runs.

    docs/pipelines.md, "Guarding a Task only": when a task's `when` expressions are false it is
    skipped and "the ordering-dependent Tasks will be executed", so validate (runAfter every
    train-<model>) runs after the one that ran; when that one fails, the run stops there.
    """
    docs = render(sets=["tekton.modelTraining.predictiveAnalytics.memoryLimit=6Gi"])
    spec = pipeline(docs)["spec"]
    for model in MODELS:
        [ptask] = [t for t in spec["tasks"] if t["name"] == f"train-{model}"]
        assert ptask["when"] == [{"input": "$(params.model-name)", "operator": "in", "values": [model]}]
    validate = next(t for t in spec["tasks"] if t["name"] == "validate")
    assert validate["runAfter"] == [f"train-{m}" for m in MODELS] and "when" not in validate
    resources = {m: main_step(find(docs, "Task", f"model-training-train-{m}"))["computeResources"] for m in MODELS}
    assert resources["anomaly-detector"] == {"requests": {"cpu": "1000m", "memory": "2Gi"},
                                             "limits": {"cpu": "2", "memory": "4Gi"}}
    assert resources["predictive-analytics"]["limits"]["memory"] == "6Gi"
    # Fields a registry entry leaves unset come from training.resources.
    models = yaml.safe_load((CHART / "values.yaml").read_text())["models"]
    del models[0]["cpuLimit"]
    values = tmp_path / "models.yaml"
    values.write_text(yaml.safe_dump({"models": models, "training": {"resources": {"limits": {"cpu": "3"}}}}))
    docs = render(values=[values])
    assert main_step_resources(docs, "anomaly-detector")["limits"] == {"cpu": "3", "memory": "4Gi"}


def test_no_param_is_pasted_into_a_script():
    for task in by_kind(render(sets=NVJ), "Task") + by_kind(render(), "Task"):
        for step in task["spec"]["steps"]:
            assert "$(params." not in step["script"] and "$(context." not in step["script"], task["metadata"]["name"]
            assert "$(tasks." not in step["script"]


def test_train_gets_prometheus_settings_and_registry():
    docs = render(sets=["prometheus.tokenSecret.name=thanos-token", "prometheus.tlsVerify=false"])
    train = main_step(find(docs, "Task", "model-training-train-anomaly-detector"))
    env = {e["name"]: e["value"] for e in train["env"]}
    assert env["PROMETHEUS_URL"].startswith("https://thanos-querier")
    assert env["PROMETHEUS_TOKEN_FILE"] == "/etc/prometheus-token/token"
    assert env["PROMETHEUS_CA_BUNDLE"] == "/etc/prometheus-ca/service-ca.crt"
    assert env["PROMETHEUS_TLS_VERIFY"] == "false"
    from modelkit.settings import VARIABLES
    assert {k for k in env if k.startswith("PROMETHEUS") or k in ("MODELS_ROOT", "MODELKIT_REGISTRY", "RUN_ID")} <= set(VARIABLES)
    mounts = {m["mountPath"] for m in train["volumeMounts"]}
    assert {"/workspace/run", "/etc/modelkit", "/etc/prometheus-token", "/etc/prometheus-ca"} <= mounts
    registry = find(docs, "ConfigMap", "model-registry")
    models = yaml.safe_load(registry["data"]["registry.json"])["models"]
    assert [m["name"] for m in models] == MODELS


def test_notebook_code_sees_only_its_run_folder_of_the_pvc():
    """Issue 8: the notebook (third-party code) must not reach the served model.pkl.

    The step that runs it mounts the PVC only with subPath `.runs/<run>`; Tekton substitutes
    params in a step's volumeMounts subPath (tektoncd/pipeline pkg/container/container_replacements.go).
    Only the trusted `publish` step of the same Task sees the models root.
    """
    for sets in ([], NVJ):
        docs = render(sets=sets)
        for model in MODELS:
            task = find(docs, "Task", f"model-training-train-{model}")
            for step in task["spec"]["steps"]:
                pvc = [m for m in step.get("volumeMounts", []) if m["name"] == "model-storage"]
                if step["name"] == "publish":
                    assert pvc == [{"name": "model-storage", "mountPath": "/mnt/models"}]
                elif step["name"] == "run":  # the inline runner's notebook step
                    assert pvc == [{"name": "model-storage", "mountPath": "/workspace/run",
                                    "subPath": ".runs/$(params.run-id)"}]
                else:
                    assert pvc == [], (sets, step["name"])
            assert [s["name"] for s in task["spec"]["steps"]][-1] == "publish"


def test_nvj_runner_builds_a_notebook_validation_job(tmp_path):

    docs = render(sets=NVJ)
    job = json.loads(find(docs, "ConfigMap", "model-training-nvj-template")["data"]["job.json"])
    assert job["apiVersion"] == "mlops.mlops.dev/v1alpha1" and job["kind"] == "NotebookValidationJob"
    # Field names of the operator's CRD (config/crd/bases/mlops.mlops.dev_notebookvalidationjobs.yaml).
    assert set(job["spec"]) <= {"comparisonConfig", "goldenNotebook", "modelValidation", "notebook", "podConfig",
                                "timeout", "validationConfig"}
    assert set(job["spec"]["podConfig"]) <= {"affinity", "buildConfig", "containerImage", "credentials", "env", "envFrom",
                                             "nodeSelector", "resources", "serviceAccountName", "tolerations",
                                             "volumeMounts", "volumes"}
    assert job["spec"]["podConfig"]["containerImage"].endswith(":0.1.0")
    train = find(docs, "Task", "model-training-train-predictive-analytics")
    assert [s["name"] for s in train["spec"]["steps"]] == ["write-job", "run-job", "publish"]
    assert "exec modelkit" not in "".join(s["script"] for s in train["spec"]["steps"])  # the operator runs the notebook
    # The write-job script, run with its rendered env: the job's pod (the one that trains) gets
    # the model's resources and sees the PVC only as the run's scratch models root.
    write = train["spec"]["steps"][0]
    (tmp_path / "nvj").mkdir()
    (tmp_path / "nvj" / "job.json").write_text(json.dumps(job))
    script = write["script"].replace("/etc/model-training/nvj", str(tmp_path / "nvj")).replace("/workspace/job", str(tmp_path))
    env = {e["name"]: e["value"] for e in write["env"]} | {
        "MODEL_NAME": "predictive-analytics", "NOTEBOOK_PATH": "n.ipynb", "DATA_SOURCE": "synthetic",
        "TRAINING_HOURS": "24", "GIT_URL": "https://example.invalid/fork.git", "GIT_REF": "v1", "RUN_ID": "train-x-1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pod = json.loads((tmp_path / "job.json").read_text())["spec"]["podConfig"]
    assert pod["resources"] == main_step_resources(render(), "predictive-analytics")
    [storage] = [m for m in pod["volumeMounts"] if m["name"] == "model-storage"]
    assert storage == {"name": "model-storage", "mountPath": "/mnt/models", "subPath": ".runs/train-x-1/models"}
    done = subprocess.run([sys.executable, "-c", script], env=env | {"GIT_URL": ""}, capture_output=True, text=True)
    assert done.returncode != 0 and "pass git-url or set global.git.repoURL" in done.stderr


def main_step_resources(docs, model):
    return main_step(find(docs, "Task", f"model-training-train-{model}"))["computeResources"]


def test_nvj_runner_without_a_repository_fails_the_render_clearly():
    result = helm(*template_args(sets=["training.runner=notebookValidationJob"]), check=False)
    assert result.returncode != 0 and "set global.git.repoURL" in result.stderr


def test_gpu_true_is_refused_with_a_message():
    """Issue 9 item 10: no model kind uses a GPU; a GPU request would idle on a step that does not train."""
    result = helm(*template_args(sets=["tekton.modelTraining.anomalyDetector.gpu=true"]), check=False)
    assert result.returncode != 0
    assert "anomaly-detector sets gpu: true, which no model kind uses yet" in result.stderr
    for sets in ([], NVJ):
        text = yaml.safe_dump_all(render(sets=sets))
        assert "nvidia.com/gpu" not in text and "tolerations" not in text


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
    # Which tasks run (Tekton `when`: `in` is true when the input is one of the values).
    values = {**{k: p.get("default") for k, p in declared.items()}, **passed}
    ran = [t["name"] for t in pipeline()["spec"]["tasks"] if all(
        (substitute(w["input"], values) in w["values"]) == (w["operator"] == "in") for w in t.get("when", []))]
    trains = [name for name in ran if name.startswith("train-")]
    model = passed["model-name"]
    # A registered model trains in its own Task (its resources); the guide's your-model is not in
    # this registry, so its run stops at check-params ("not in the models registry").
    assert trains == ([f"train-{model}"] if model in MODELS else [])
    assert "fetch-source" in ran  # the guide's runs pass git-url: they clone it


def substitute(text, values):
    return re.sub(r"\$\(params\.([a-z-]+)\)", lambda m: values[m.group(1)], text)


def run_specs(docs):
    """{model: the PipelineRun its CronJob and the first-training Job create}."""
    return {cm["metadata"]["labels"]["model-name"]: yaml.safe_load(cm["data"]["pipelinerun.yaml"])
            for cm in by_kind(docs, "ConfigMap") if cm["metadata"]["name"].endswith("-training-run")}


def test_scheduled_pipelinerun_specs_validate_and_carry_the_model_label():
    docs = render()
    declared = {p["name"] for p in pipeline(docs)["spec"]["params"]}
    for model, run in run_specs(docs).items():
        assert not crd_errors(run), crd_errors(run)
        assert run["metadata"]["generateName"] == f"train-{model}-" and "name" not in run["metadata"]
        assert run["metadata"]["labels"]["model-name"] == model
        assert {p["name"] for p in run["spec"]["params"]} == declared
        assert "taskRunSpecs" not in run["spec"]


# Fields Tekton's webhook accepts only with `enable-api-fields` "beta" or "alpha" (or a
# per-feature flag), as paths of keys; "*" is any list item. Sources: tektoncd/pipeline
# pkg/apis/pipeline/v1/pipelinerun_validation.go validateTaskRunSpec (stepSpecs, sidecarSpecs,
# computeResources: config.BetaAPIFields), taskrun_validation.go, and the alpha/beta tables of
# docs/additional-configs.md (remote resolution, matrix, StepActions, param enum, CEL in when,
# onError, pipelines in pipelines, stdout/stderr config, bundles).
GATED_FIELDS = {
    "PipelineRun": [("spec", "taskRunSpecs", "*", key) for key in ("computeResources", "stepSpecs", "sidecarSpecs")]
                   + [("spec", "pipelineRef", "resolver"), ("spec", "pipelineRef", "params"), ("spec", "pipelineRef", "bundle")],
    "Pipeline": [("spec", part, "*", key) for part in ("tasks", "finally")
                 for key in ("matrix", "pipelineRef", "pipelineSpec", "onError")]
                + [("spec", part, "*", "taskRef", key) for part in ("tasks", "finally") for key in ("resolver", "params", "bundle")]
                + [("spec", part, "*", "when", "*", "cel") for part in ("tasks", "finally")]
                + [("spec", "params", "*", "enum")],
    "Task": [("spec", "steps", "*", key) for key in ("ref", "stdoutConfig", "stderrConfig", "workspaces")]
            + [("spec", "sidecars", "*", "workspaces"), ("spec", "params", "*", "enum")],
}


def gated_fields_used(doc):
    def walk(node, path, where):
        if not path:
            yield where
        elif path[0] == "*":
            for i, item in enumerate(node if isinstance(node, list) else []):
                yield from walk(item, path[1:], f"{where}[{i}]")
        elif isinstance(node, dict) and path[0] in node:
            yield from walk(node[path[0]], path[1:], f"{where}.{path[0]}")

    for path in GATED_FIELDS.get(doc["kind"], []):
        yield from walk(doc, path, doc["kind"])


def test_gated_field_check_finds_a_beta_field():
    run = next(iter(run_specs(render()).values()))
    run["spec"]["taskRunSpecs"] = [{"pipelineTaskName": "train", "computeResources": {"limits": {"cpu": "1"}}}]
    assert list(gated_fields_used(run)) == ["PipelineRun.spec.taskRunSpecs[0].computeResources"]


COMBINATIONS = [(values, sets) for values in [[], *[[p] for p in OVERLAYS]] for sets in ([], NVJ)]


@pytest.mark.parametrize("values,sets", COMBINATIONS, ids=[f"{v[0].name if v else 'defaults'}{'+nvj' if s else ''}"
                                                           for v, s in COMBINATIONS])
def test_no_beta_gated_tekton_field_by_default(values, sets):
    """OpenShift Pipelines' TektonConfig defaults `enable-api-fields` to stable; with stable, the
    webhook rejects every beta field (pipelinerun_validation.go). The chart's Tekton objects and
    every PipelineRun the project creates (run specs, `modelkit.lifecycle.pipelinerun`) use none.
    gpu on is not a combination: it is refused (test_gpu_true_is_refused_with_a_message)."""
    from modelkit.lifecycle.pipelinerun import pipelinerun_manifest

    docs = render(values=values, sets=sets)
    objects = [d for d in docs if d["apiVersion"].startswith("tekton.dev")] + list(run_specs(docs).values())
    objects += [pipelinerun_manifest(model, "ns") for model in MODELS]
    assert {d["kind"] for d in objects} == {"Pipeline", "Task", "PipelineRun"}
    used = [where for doc in objects for where in gated_fields_used(doc)]
    assert not used, used


@pytest.mark.parametrize("values", [[], *[[p] for p in OVERLAYS]], ids=["defaults", *[p.name for p in OVERLAYS]])
def test_every_pipelinerun_keeps_time_for_finally(values):
    """docs/pipelineruns.md, "Configuring a failure timeout": when `timeouts.pipeline` elapses,
    running TaskRuns are cancelled "regardless of whether they are normal Tasks or finally
    Tasks"; when `timeouts.tasks` elapses, "finally Tasks will run if timeouts.finally is
    specified". pipelinerun_validation.go validatePipelineTimeout refuses tasks + finally > pipeline.
    So every run the project creates sets all three, with tasks + finally == pipeline (the chart's
    runs and hand-made ones are the same builder's: test_chart_manual_runs.py)."""
    from modelkit.lifecycle.pipelinerun import pipelinerun_manifest

    runs = list(run_specs(render(values=values)).values()) + [pipelinerun_manifest(model, "ns") for model in MODELS]
    for run in runs:
        timeouts = run["spec"]["timeouts"]
        assert duration_seconds(timeouts["tasks"]) + duration_seconds(timeouts["finally"]) == duration_seconds(timeouts["pipeline"])
        assert duration_seconds(timeouts["finally"]) > duration_seconds(FINALLY_STEP.timeout)
        assert not crd_errors(run)


def test_a_timeout_that_leaves_nothing_for_training_is_refused():
    from modelkit.errors import ConfigError

    result = helm(*template_args(sets=["tekton.modelTraining.anomalyDetector.timeout=10m"]), check=False)
    assert result.returncode != 0
    assert f"anomaly-detector timeout 10m leaves no time for training: it must be longer than the {FINALLY_TIMEOUT}" in result.stderr
    with pytest.raises(ConfigError, match="leaves no time for training"):
        run_timeouts("5m")
    assert run_timeouts("1h30m") == {"pipeline": "90m", "tasks": "80m", "finally": FINALLY_TIMEOUT}
    assert run_timeouts(None)["pipeline"] == "60m"


def test_task_time_limits_allow_an_image_pull_on_a_fresh_node():
    limits = {s.name: duration_seconds(s.timeout) for s in (*STEPS, FINALLY_STEP) if s.timeout}
    assert min(limits.values()) >= 5 * 60, limits
    assert limits["promote"] == 10 * 60  # lifecycle/cluster.py waits at most 9 min for the rollout


def test_scheduled_runs_train_the_baked_notebooks_unless_a_repository_is_set():
    """Issue 8: the guide's reference repository is not this project's; a fresh install clones nothing."""
    docs = render()
    declared = {p["name"]: p for p in pipeline(docs)["spec"]["params"]}
    assert declared["git-url"]["default"] == ""
    for run in run_specs(docs).values():
        assert {p["name"]: p["value"] for p in run["spec"]["params"]}["git-url"] == ""
    fetch = next(t for t in pipeline(docs)["spec"]["tasks"] if t["name"] == "fetch-source")
    assert fetch["when"] == [{"input": "$(params.git-url)", "operator": "notin", "values": [""]}]
    # The baked tree is where notebooks/Containerfile copies the project.
    assert f"COPY --chown=1001:0 . {BAKED_SOURCE_DIR}/" in (PROJECT_ROOT / "notebooks" / "Containerfile").read_text()
    pinned = render(sets=["global.git.repoURL=https://example.invalid/fork.git", "global.git.revision=v1.2.0"])
    for run in run_specs(pinned).values():
        params = {p["name"]: p["value"] for p in run["spec"]["params"]}
        assert params["git-url"] == "https://example.invalid/fork.git" and params["git-ref"] == "v1.2.0"


def test_manual_runs_are_labelled_before_anything_else_runs():
    """The guide's runs carry no model-name label; the first task labels the run, needing no PVC."""
    spec = pipeline()["spec"]
    first = spec["tasks"][0]
    assert first["name"] == "label-run" and "runAfter" not in first
    assert all("runAfter" in t for t in spec["tasks"][1:])
    task = find(render(), "Task", "model-training-label-run")
    [step] = task["spec"]["steps"]
    assert 'pipelinerun "$RUN_ID" "model-name=$MODEL_NAME"' in step["script"]
    assert "persistentVolumeClaim" not in json.dumps(task)


@pytest.mark.parametrize("sets", [[], NVJ])
def test_every_kubectl_and_task_container_has_a_writable_home_in_tmp(sets):
    """origin-cli's kubectl/oc write their cache under HOME; with readOnlyRootFilesystem only an
    emptyDir at /tmp is writable."""
    docs = render(sets=sets)
    containers = [(t["metadata"]["name"], t["spec"], s) for t in by_kind(docs, "Task") for s in t["spec"]["steps"]]
    for kind, name in (("CronJob", f"weekly-{m}-training") for m in MODELS):
        pod = find(docs, kind, name)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        containers += [(name, pod, c) for c in pod["containers"]]
    pod = find(docs, "Job", "model-first-training")["spec"]["template"]["spec"]
    containers += [("model-first-training", pod, c) for c in pod["containers"]]
    for where, pod, container in containers:
        assert {"name": "HOME", "value": "/tmp"} in container["env"], where
        [tmp] = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        [volume] = [v for v in pod["volumes"] if v["name"] == tmp["name"]]
        assert "emptyDir" in volume, where


@pytest.mark.parametrize("sets", [[], NVJ])
def test_each_task_declares_exactly_the_volumes_its_steps_mount(sets):
    for task in by_kind(render(sets=sets), "Task"):
        declared = {v["name"] for v in task["spec"]["volumes"]}
        mounted = {m["name"] for s in task["spec"]["steps"] for m in s.get("volumeMounts", [])}
        assert declared == mounted, task["metadata"]["name"]


# --- tekton-lint -----------------------------------------------------------------

def tekton_lint(docs, tmp_path):
    path = tmp_path / "tekton.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    result = subprocess.run([tool("tekton-lint"), "--format", "json", str(path)], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    try:
        return json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise AssertionError(f"tekton-lint printed no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")


@pytest.mark.parametrize("sets", [[], NVJ])
def test_tekton_lint_finds_no_problem(sets, tmp_path):
    docs = [d for d in render(sets=sets) if d["apiVersion"].startswith("tekton.dev")]
    assert len(docs) == len(STEPS) - 1 + len(MODELS) + 2  # Tasks (train: one per model) + finally Task + Pipeline
    problems = tekton_lint(docs, tmp_path)
    assert not [p for p in problems if p["level"] == "error"], problems
    assert not problems, problems  # no warnings either


def test_tekton_lint_would_catch_a_broken_reference(tmp_path):
    docs = [d for d in render() if d["apiVersion"].startswith("tekton.dev")]
    broken = copy.deepcopy(docs)
    pipe = next(d for d in broken if d["kind"] == "Pipeline")
    pipe["spec"]["tasks"][1]["params"][0]["value"] = "$(params.no-such-param)"
    assert [p for p in tekton_lint(broken, tmp_path) if p["level"] == "error"]
