"""Per-model objects: CronJob, PipelineRun spec, InferenceService, Service; overrides; bad values."""

from __future__ import annotations

import collections
import json

import pytest
import yaml

from chart_helpers import (CHART, NAMESPACE, OVERLAYS, RELEASE, by_kind, copy_project, find, helm, render,
                           run_generator)

MODELS = ["anomaly-detector", "predictive-analytics"]


def run_spec(docs, model):
    return yaml.safe_load(find(docs, "ConfigMap", f"{model}-training-run")["data"]["pipelinerun.yaml"])


def params(run):
    return {p["name"]: p["value"] for p in run["spec"]["params"]}


def test_cronjobs_create_pipelineruns_safely():
    docs = render()
    for model, schedule in zip(MODELS, ["0 2 * * 0", "0 3 * * 0"]):
        cron = find(docs, "CronJob", f"weekly-{model}-training")
        spec = cron["spec"]
        assert spec["schedule"] == schedule and spec["timeZone"] == "UTC"
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["startingDeadlineSeconds"] > 0
        assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["command"] == ["kubectl", "create", "-f", "/etc/model-training/pipelinerun.yaml"]
        assert "apply" not in container["command"]
        [volume] = [v for v in pod["volumes"] if v["name"] == "pipelinerun"]
        assert volume["configMap"]["name"] == f"{model}-training-run"
        run = run_spec(docs, model)
        assert run["metadata"]["generateName"] == f"train-{model}-"
        assert run["metadata"]["labels"]["model-name"] == model
        assert params(run)["model-name"] == model and params(run)["inference-service-name"] == model
    assert params(run_spec(docs, "anomaly-detector"))["training-hours"] == "168"
    assert params(run_spec(docs, "predictive-analytics"))["training-hours"] == "720"
    assert run_spec(docs, "anomaly-detector")["spec"]["timeouts"]["pipeline"] == "30m"
    assert run_spec(docs, "predictive-analytics")["spec"]["timeouts"]["pipeline"] == "45m"


def test_inferenceservices_serve_the_pvc_model_with_stock_sklearn():
    docs = render()
    for model in MODELS:
        isvc = find(docs, "InferenceService", model)
        assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
        predictor = isvc["spec"]["predictor"]
        assert predictor["model"]["modelFormat"] == {"name": "sklearn"}
        assert predictor["model"]["storageUri"] == f"pvc://model-storage-pvc/{model}/"
        assert predictor["model"]["runtime"] == "kserve-sklearnserver"
        [wait] = predictor["initContainers"]
        assert {"name": "MODEL_FILE", "value": f"/mnt/models/{model}/model.pkl"} in wait["env"]
        assert "annotations" not in predictor  # the served-version annotation belongs to `modelkit promote`
        service = find(docs, "Service", f"{model}-stable")
        assert service["spec"]["selector"] == {"serving.kserve.io/inferenceservice": model}


def test_modelkit_serving_runtime_is_a_value():
    docs = render(sets=["serving.runtime=modelkit"])
    runtime = find(docs, "ServingRuntime", "modelkit-sklearn")
    [container] = runtime["spec"]["containers"]
    assert container["command"] + container["args"] == [
        "modelkit", "serve", "--model-name", "{{.Name}}", "--model-dir", "/mnt/models", "--host", "0.0.0.0", "--port", "8080"]
    assert container["image"] == "quay.io/self-healing-platform/modelkit-serving:0.1.0"
    for model in MODELS:
        assert find(docs, "InferenceService", model)["spec"]["predictor"]["model"]["runtime"] == "modelkit-sklearn"
    assert [r["metadata"]["name"] for r in by_kind(render(), "ServingRuntime")] == ["kserve-sklearnserver"]


def volume(job, name):
    return next(v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == name)


def test_first_training_job_covers_enabled_models():
    docs = render(sets=["tekton.modelTraining.predictiveAnalytics.enabled=false"])
    job = find(docs, "Job", "model-first-training")
    sources = volume(job, "pipelineruns")["projected"]["sources"]
    assert [s["configMap"]["name"] for s in sources] == ["anomaly-detector-training-run"]
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert 'kubectl create -f "$spec"' in script and "apply" not in script
    assert not [d for d in by_kind(render(sets=["training.firstRun.enabled=false"]), "Job")]


# --- overrides ---------------------------------------------------------------------

def test_guide_customizing_schedules_form_works():
    docs = render(sets=["tekton.modelTraining.anomalyDetector.schedule=0 5 * * 1",
                        "tekton.modelTraining.anomalyDetector.dataSource=synthetic"])
    assert find(docs, "CronJob", "weekly-anomaly-detector-training")["spec"]["schedule"] == "0 5 * * 1"
    assert params(run_spec(docs, "anomaly-detector"))["data-source"] == "synthetic"
    assert find(docs, "CronJob", "weekly-predictive-analytics-training")["spec"]["schedule"] == "0 3 * * 0"
    assert params(run_spec(docs, "predictive-analytics"))["data-source"] == "prometheus"
    registry = yaml.safe_load(find(docs, "ConfigMap", "model-registry")["data"]["registry.json"])["models"]
    assert registry[0]["schedule"] == "0 5 * * 1" and registry[0]["dataSource"] == "synthetic"


def test_guide_values_file_form_works(tmp_path):
    overlay = tmp_path / "custom.yaml"
    overlay.write_text(
        "tekton:\n  modelTraining:\n    anomalyDetector:\n      schedule: \"0 4 * * 6\"\n      dataSource: \"hybrid\"\n")
    docs = render(values=[overlay])
    assert find(docs, "CronJob", "weekly-anomaly-detector-training")["spec"]["schedule"] == "0 4 * * 6"
    assert params(run_spec(docs, "anomaly-detector"))["data-source"] == "hybrid"


def test_override_precedence():
    """registry entry < modelOverrides < tekton.modelTraining.<model>; false and 0 override too."""
    docs = render(sets=["modelOverrides.trainingHours=48", "modelOverrides.dataSource=hybrid",
                        "tekton.modelTraining.predictiveAnalytics.trainingHours=96",
                        "tekton.modelTraining.predictiveAnalytics.serving.minReplicas=0"])
    assert params(run_spec(docs, "anomaly-detector"))["training-hours"] == "48"
    assert params(run_spec(docs, "predictive-analytics"))["training-hours"] == "96"
    assert params(run_spec(docs, "predictive-analytics"))["data-source"] == "hybrid"
    predictor = find(docs, "InferenceService", "predictive-analytics")["spec"]["predictor"]
    assert predictor["minReplicas"] == 0 and predictor["model"]["resources"]["requests"]["memory"] == "512Mi"
    disabled = render(sets=["tekton.modelTraining.anomalyDetector.enabled=false"])
    assert not [d for d in disabled if d["metadata"].get("labels", {}).get("model-name") == "anomaly-detector"]
    assert find(disabled, "CronJob", "weekly-predictive-analytics-training")


@pytest.mark.parametrize("overlay,source,hours", [("dev.yaml", "synthetic", ["24", "720"]),
                                                  ("staging.yaml", "hybrid", ["168", "720"]),
                                                  ("prod.yaml", "prometheus", ["168", "288"])])
def test_overlays_set_the_data_source(overlay, source, hours):
    docs = render(values=[CHART.parent.parent / "values" / overlay])
    for model, expected_hours in zip(MODELS, hours):
        run = params(run_spec(docs, model))
        assert run["data-source"] == source
        assert run["training-hours"] == expected_hours


# --- bad values through helm (values.schema.json and templates/validate.yaml) ---------

BAD_VALUES = [
    (["models[0].name=Bad_Name"], "/models/0/name"),
    (["tekton.modelTraining.anomalyDetector.dataSource=bogus"], "/tekton/modelTraining/anomalyDetector/dataSource"),
    (["modelOverrides.trainingHours=0"], "/modelOverrides/trainingHours"),
    (["tekton.modelTraining.anomalyDetector.schedule=every sunday"], "/tekton/modelTraining/anomalyDetector/schedule"),
    (["tekton.modelTraining.anomalyDetector.bogus=1"], "bogus"),
    (["tekton.modelTraining.noSuchModel.schedule=0 1 * * *"], "noSuchModel"),
    (["images.workbench.tag=latest"], "/images/workbench/tag"),
    (["serving.runtime=triton"], "/serving/runtime"),
]


def values_with_models(tmp_path, mutate):
    models = yaml.safe_load((CHART / "values.yaml").read_text())["models"]
    mutate(models)
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": models}))
    return path


@pytest.mark.parametrize("sets,where", BAD_VALUES)
def test_helm_install_rejects_bad_values(sets, where):
    args = ["install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client"]
    for item in sets:
        args += ["--set", item]
    result = helm(*args, check=False)
    assert result.returncode != 0
    assert where in result.stderr, result.stderr


def test_helm_install_rejects_duplicate_and_ungenerated_models(tmp_path):
    dup = values_with_models(tmp_path, lambda m: m[1].update(name="anomaly-detector"))
    result = helm("template", RELEASE, str(CHART), "-f", str(dup), check=False)
    assert result.returncode != 0
    assert 'models[1] ("anomaly-detector") field `name`: duplicate model name' in result.stderr
    new = values_with_models(tmp_path, lambda m: m.append({**m[0], "name": "disk-pressure"}))
    result = helm("template", RELEASE, str(CHART), "-f", str(new), check=False)
    assert result.returncode != 0
    assert 'models[2] ("disk-pressure"): no generated templates for this model; run `make generate`' in result.stderr


def test_helm_rejects_an_unknown_registry_field(tmp_path):
    bad = values_with_models(tmp_path, lambda m: m[0].update(trainingHourz=5))
    result = helm("template", RELEASE, str(CHART), "-f", str(bad), check=False)
    assert result.returncode != 0 and "/models/0" in result.stderr and "trainingHourz" in result.stderr


def per_node(models):
    """The anomaly detector made per node, its restart rate a cluster value copied to every node."""
    models[0].update(entity=["instance"], syntheticEntities=5)
    models[0]["metrics"][-1]["entityJoin"] = "broadcast"


def test_a_per_entity_entry_passes_the_values_schema_and_reaches_the_mounted_registry(tmp_path):
    rendered = helm("template", RELEASE, str(CHART), "-f", str(values_with_models(tmp_path, per_node))).stdout
    registry = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "ConfigMap" and d["metadata"]["name"] == "model-registry")
    detector = json.loads(registry["data"]["registry.json"])["models"][0]
    assert detector["entity"] == ["instance"] and detector["syntheticEntities"] == 5
    assert detector["metrics"][-1]["entityJoin"] == "broadcast"


@pytest.mark.parametrize("mutate, where", [
    (lambda m: m[0].update(entity=["node-name"]), "/models/0/entity/0"),
    (lambda m: m[0].update(entity=["instance"], syntheticEntities=0), "/models/0/syntheticEntities"),
    (lambda m: m[0]["metrics"][0].update(entityJoin="refuse"), "/models/0/metrics/0/entityJoin"),
])
def test_helm_refuses_a_bad_entity_field_by_the_generated_schema(tmp_path, mutate, where):
    result = helm("template", RELEASE, str(CHART), "-f", str(values_with_models(tmp_path, mutate)), check=False)
    assert result.returncode != 0 and where in result.stderr, result.stderr


# --- adding a model ---------------------------------------------------------------

def test_a_third_model_adds_exactly_one_of_each_per_model_object(tmp_path):
    root = copy_project(tmp_path)
    chart = root / "charts" / "hub"
    before = collections.Counter(d["kind"] for d in render(chart=chart))
    values_text = (chart / "values.yaml").read_text()
    entry = yaml.safe_load(values_text)["models"][0]
    entry.update(name="disk-pressure", notebook="notebooks/disk-pressure.ipynb", schedule="0 4 * * 0")
    (root / "notebooks" / "disk-pressure.ipynb").write_text("{}")
    (chart / "values.yaml").write_text(values_text + yaml.safe_dump([entry], sort_keys=False).replace("\n", "\n  ").join(["  ", ""]).rstrip() + "\n")
    result = run_generator(root)
    assert result.returncode == 0, result.stderr
    assert (chart / "templates" / "generated" / "model-disk-pressure.yaml").is_file()
    docs = render(chart=chart)
    after = collections.Counter(d["kind"] for d in docs)
    # ... and its own train Task (train-<model>, with its resources) in the Pipeline.
    assert after - before == collections.Counter({"CronJob": 1, "InferenceService": 1, "Service": 1, "ConfigMap": 1,
                                                  "Task": 1})
    assert before - after == collections.Counter()
    cron = find(docs, "CronJob", "weekly-disk-pressure-training")
    assert cron["spec"]["schedule"] == "0 4 * * 0"
    assert find(docs, "InferenceService", "disk-pressure")["spec"]["predictor"]["model"]["storageUri"] == \
        "pvc://model-storage-pvc/disk-pressure/"
    run = run_spec(docs, "disk-pressure")
    assert params(run)["notebook-path"] == "notebooks/disk-pressure.ipynb"
    sources = volume(find(docs, "Job", "model-first-training"), "pipelineruns")["projected"]["sources"]
    assert len(sources) == 3
    registry = yaml.safe_load(find(docs, "ConfigMap", "model-registry")["data"]["registry.json"])
    assert [m["name"] for m in registry["models"]] == [*MODELS, "disk-pressure"]
    # its override key is in the generated schema
    assert render(chart=chart, sets=["tekton.modelTraining.diskPressure.schedule=0 6 * * 0"])
