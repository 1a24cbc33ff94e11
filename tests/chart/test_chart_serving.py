"""Serving on OpenShift AI and upstream KServe: a runtime the InferenceServices can select, the
deployment-mode annotation, Serverless predictors Knative accepts, readiness probes."""

from __future__ import annotations

import re
import tomllib

import pytest

from chart_helpers import OVERLAYS, PROJECT_ROOT, by_kind, find, helm, render, template_args

MODELS = ["anomaly-detector", "predictive-analytics"]
RWX = "storage.accessMode=ReadWriteMany"
# scikit-learn in kserve/sklearnserver images, from python/sklearnserver's lock file of each
# release (pyproject `scikit-learn = "~1.5.1"`; uv.lock resolves 1.5.2, the last 1.5 release).
SKLEARN_IN_SKLEARNSERVER = {"v0.15.0": "1.5.2"}

RUNTIME_OPTIONS = {
    "defaults": [],
    **{f"values/{p.name}": [f"@{p}"] for p in OVERLAYS},
    "modelkit": ["serving.runtime=modelkit"],
    "serverless": ["serving.deploymentMode=Serverless", RWX],
    "modelkit serverless": ["serving.runtime=modelkit", "serving.deploymentMode=Serverless", RWX],
}


def render_option(option):
    values = [item[1:] for item in RUNTIME_OPTIONS[option] if item.startswith("@")]
    sets = [item for item in RUNTIME_OPTIONS[option] if not item.startswith("@")]
    return render(values=values, sets=sets)


@pytest.mark.parametrize("option", RUNTIME_OPTIONS)
def test_every_inferenceservice_selects_a_rendered_sklearn_runtime(option):
    """OpenShift AI's KServe installs no ClusterServingRuntimes and does not even look them up
    (opendatahub-io/kserve pkg/controller/v1beta1/inferenceservice/utils/utils.go GetServingRuntime:
    "ODH does not support ClusterServingRuntimes"), so `modelFormat: sklearn` alone matches nothing
    there. Upstream KServe's GetServingRuntime checks the ISVC's namespace first, then cluster
    runtimes. The runtime must list the model format it serves (supportedModelFormats)."""
    docs = render_option(option)
    runtimes = {r["metadata"]["name"]: r for r in by_kind(docs, "ServingRuntime")}
    for model in MODELS:
        isvc = find(docs, "InferenceService", model)
        name = isvc["spec"]["predictor"]["model"]["runtime"]
        assert name in runtimes, f"{model}: runtime {name!r} is not rendered ({sorted(runtimes)})"
        runtime = runtimes[name]
        assert runtime["metadata"]["namespace"] == isvc["metadata"]["namespace"]
        formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
        assert isvc["spec"]["predictor"]["model"]["modelFormat"]["name"] in formats
        assert "v1" in runtime["spec"]["protocolVersions"]
        [container] = runtime["spec"]["containers"]
        assert container["name"] == "kserve-container" and "/mnt/models" in " ".join(container["args"])


def test_the_stock_runtime_ships_the_scikit_learn_the_models_are_pickled_with():
    """A model pickled by one scikit-learn may not load in another (DESIGN: pinned to the runtime's
    version); the stock server's image tag must be one whose lock file pins pyproject's scikit-learn."""
    pins = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    [pinned] = [re.fullmatch(r"scikit-learn==(\S+)", p).group(1) for p in pins if p.startswith("scikit-learn")]
    [runtime] = by_kind(render(), "ServingRuntime")
    [container] = runtime["spec"]["containers"]
    repository, tag = container["image"].rsplit(":", 1)
    assert repository.endswith("kserve/sklearnserver")
    assert SKLEARN_IN_SKLEARNSERVER.get(tag) == pinned, f"{container['image']} ships scikit-learn {SKLEARN_IN_SKLEARNSERVER.get(tag)}, models use {pinned}"
    assert container["args"] == ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"]


def test_a_runtime_the_cluster_has_is_used_and_none_rendered():
    """serving.existingRuntime: a namespaced ServingRuntime (OpenShift AI) or a ClusterServingRuntime
    (upstream KServe's kserve-sklearnserver) the user says exists; the name must be a DNS label."""
    docs = render(sets=["serving.existingRuntime=kserve-sklearnserver"])
    assert not by_kind(docs, "ServingRuntime")
    for model in MODELS:
        assert find(docs, "InferenceService", model)["spec"]["predictor"]["model"]["runtime"] == "kserve-sklearnserver"
    bad = helm(*template_args(sets=["serving.existingRuntime=Not A Name"]), check=False)
    assert bad.returncode != 0 and "/serving/existingRuntime" in bad.stderr


@pytest.mark.parametrize("option", RUNTIME_OPTIONS)
def test_the_deployment_mode_is_always_explicit(option):
    """argo-cd resource_customizations/serving.kserve.io/InferenceService/health.lua counts RawDeployment's
    three Ready conditions only when the annotation says `RawDeployment`; otherwise it waits for five,
    which a RawDeployment service never has, and reports Progressing forever."""
    docs = render_option(option)
    expected = "Serverless" if "serving.deploymentMode=Serverless" in RUNTIME_OPTIONS[option] else "RawDeployment"
    for isvc in by_kind(docs, "InferenceService"):
        assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == expected
    bad = helm(*template_args(sets=["serving.deploymentMode="]), check=False)
    assert bad.returncode != 0 and "/serving/deploymentMode" in bad.stderr


@pytest.mark.parametrize("option", [o for o in RUNTIME_OPTIONS if "serverless" in o])
def test_serverless_predictors_use_nothing_knative_refuses_by_default(option):
    """knative/serving config/core/configmaps/features.yaml: kubernetes.podspec-init-containers,
    kubernetes.podspec-securitycontext, kubernetes.podspec-persistent-volume-claim and
    kubernetes.podspec-affinity are "disabled" by default (OpenShift AI's KnativeServing enables only
    affinity, nodeSelector, tolerations); emptyDir is allowed but not needed. The PVC named by
    storageUri is mounted by KServe's pod webhook (storage_initializer_injector.go), past Knative.
    The container-level restricted context stays: Knative accepts seccompProfile and
    allowPrivilegeEscalation there since 1.8 (knative/serving PRs #13401, #13395)."""
    for isvc in by_kind(render_option(option), "InferenceService"):
        context = isvc["spec"]["predictor"]["model"]["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["seccompProfile"] == {"type": "RuntimeDefault"}
    for isvc in by_kind(render_option(option), "InferenceService"):
        predictor = isvc["spec"]["predictor"]
        where = isvc["metadata"]["name"]
        for key in ("initContainers", "securityContext", "volumes", "affinity"):
            assert key not in predictor, f"{where}: Serverless predictor has {key}"
        assert "volumeMounts" not in predictor["model"], where
        assert predictor["model"]["storageUri"].startswith("pvc://model-storage-pvc/")
        # Knative allows a probe on the serving port only; with no port it probes that one.
        assert "port" not in predictor["model"]["readinessProbe"]["httpGet"]


def test_serverless_needs_shared_storage():
    """With ReadWriteOnce the predictors must join the storage anchor's node through pod affinity,
    which Knative refuses unless kubernetes.podspec-affinity is enabled: the chart says what to set."""
    result = helm(*template_args(sets=["serving.deploymentMode=Serverless"]), check=False)
    assert result.returncode != 0
    assert "serving.deploymentMode=Serverless: set storage.accessMode=ReadWriteMany" in result.stderr


@pytest.mark.parametrize("option", [o for o in RUNTIME_OPTIONS if "serverless" not in o])
def test_raw_predictors_wait_for_their_model_and_probe_it(option):
    """KServe's model servers answer GET /v1/models/<name> only once the model is loaded (kserve
    python/kserve/kserve/protocol/rest/v1_endpoints.py model_ready raises ModelNotReady, 503), so a pod is Ready only
    when it can predict; the init container keeps it from crash-looping before the first model."""
    for model in MODELS:
        predictor = find(render_option(option), "InferenceService", model)["spec"]["predictor"]
        probe = predictor["model"]["readinessProbe"]["httpGet"]
        assert probe == {"path": f"/v1/models/{model}", "port": 8080}
        [wait] = predictor["initContainers"]
        assert {"name": "MODEL_FILE", "value": f"/mnt/models/{model}/model.pkl"} in wait["env"]
        # a writable /tmp under readOnlyRootFilesystem
        assert {"name": "tmp", "mountPath": "/tmp"} in predictor["model"]["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in predictor["volumes"]
