"""Pod security, image pinning and cluster permissions of the rendered chart."""

from __future__ import annotations

import json

import pytest
import yaml

from chart_helpers import CHART, NAMESPACE, OVERLAYS, by_kind, find, helm, pod_specs, render, template_args

VARIANTS = {
    "defaults": {"values": [], "sets": []},
    **{f"values/{p.name}": {"values": [p], "sets": []} for p in OVERLAYS},
    "modelkit-runtime+nvj": {"values": [], "sets": ["serving.runtime=modelkit", "training.runner=notebookValidationJob",
                                                  "storage.accessMode=ReadWriteMany",
                                                  "global.git.repoURL=https://example.invalid/fork.git"]},
}
DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGES = ("workbench", "cli", "sklearnServer", "servingRuntime", "waitForModel")


# --- read-only root filesystem, writable /tmp -------------------------------------------------

def nvj_pod(docs):
    """The NotebookValidationJob's pod settings (training.runner=notebookValidationJob), or None."""
    for cm in by_kind(docs, "ConfigMap"):
        if cm["metadata"]["name"] == "model-training-nvj-template":
            return json.loads(cm["data"]["job.json"])["spec"]["podConfig"]
    return None


def workloads(docs):
    """(kind, where, volumes, containers) of every pod the chart makes or has made.

    KServe builds the predictor pod from the InferenceService and its ServingRuntime: volumes
    and container mounts of both are merged (pkg/controller/v1beta1/inferenceservice/components
    /predictor.go, MergePodSpec / MergeRuntimeContainers)."""
    runtimes = {r["metadata"]["name"]: r for r in by_kind(docs, "ServingRuntime")}
    for doc in docs:
        for where, pod, containers in pod_specs(doc):
            if doc["kind"] == "ServingRuntime":
                continue  # judged inside the InferenceServices that use it
            volumes = list((pod or {}).get("volumes", []))
            if doc["kind"] == "Task":
                # Tekton merges the stepTemplate into every step (docs/tasks.md "Specifying a Step template").
                volumes = list(doc["spec"].get("volumes", []))
                template = doc["spec"].get("stepTemplate", {})
                containers = [{**c, "volumeMounts": template.get("volumeMounts", []) + c.get("volumeMounts", []),
                               "securityContext": c.get("securityContext") or template.get("securityContext", {})}
                              for c in containers]
            if doc["kind"] == "InferenceService":
                runtime = runtimes.get(doc["spec"]["predictor"]["model"].get("runtime"))
                if runtime:
                    volumes += runtime["spec"].get("volumes", [])
                    served = runtime["spec"]["containers"][0]
                    model = dict(containers[-1])
                    model["volumeMounts"] = model.get("volumeMounts", []) + served.get("volumeMounts", [])
                    model["securityContext"] = model.get("securityContext") or served.get("securityContext")
                    containers = containers[:-1] + [model]
            yield doc["kind"], where, volumes, containers
    pod = nvj_pod(docs)
    if pod is not None:
        yield "NotebookValidationJob", "NotebookValidationJob (model-training-nvj-template)", pod["volumes"], [
            {"name": "notebook", "volumeMounts": pod["volumeMounts"]}]


def tmp_problems(volumes, containers, where):
    empty_dirs = {v["name"] for v in volumes if "emptyDir" in v}
    problems = []
    for c in containers:
        mounts = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp" and not m.get("readOnly")]
        if not any(m["name"] in empty_dirs for m in mounts):
            problems.append(f"{where} container {c.get('name', '(model)')}: no writable emptyDir at /tmp")
    return problems


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_container_has_a_read_only_root_filesystem(variant):
    """checkov CKV_K8S_22; the restricted profile does not ask for it, a reviewer does."""
    problems = []
    for kind, where, _, containers in workloads(render(**VARIANTS[variant])):
        if kind == "NotebookValidationJob":
            continue  # the operator sets its pod's security context; podConfig has no field for it
        for c in containers:
            if c.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where} container {c.get('name', '(model)')}: readOnlyRootFilesystem is not true")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", ["Deployment", "NotebookValidationJob", "Task", "CronJob", "Job", "InferenceService"])
def test_every_container_can_write_tmp(kind):
    """With a read-only root, tools that write scratch files (git, kubectl's cache, Python's
    tempfile, joblib) need an emptyDir at /tmp."""
    problems, seen = [], False
    for variant in VARIANTS.values():
        for found, where, volumes, containers in workloads(render(**variant)):
            if found == kind:
                seen = True
                problems += tmp_problems(volumes, containers, where)
    assert seen, f"no {kind} rendered"
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_modelkit_runtime_brings_its_tmp_to_the_predictor():
    docs = render(sets=["serving.runtime=modelkit"])
    runtime = find(docs, "ServingRuntime", "modelkit-sklearn")
    assert runtime["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    assert {"name": "tmp", "mountPath": "/tmp"} in runtime["spec"]["containers"][0]["volumeMounts"]


def test_troubleshooting_pod_cannot_change_the_served_models():
    deployment = find(render(), "Deployment", "model-troubleshooting-utilities")
    spec = deployment["spec"]["template"]["spec"]
    [mount] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "model-storage"]
    [volume] = [v for v in spec["volumes"] if v["name"] == "model-storage"]
    assert mount["readOnly"] is True and volume["persistentVolumeClaim"]["readOnly"] is True


# --- images: digests beside tags -------------------------------------------------------------

def all_images(docs):
    images = [c["image"] for doc in docs for _, _, containers in pod_specs(doc) for c in containers if "image" in c]
    pod = nvj_pod(docs)
    return images + ([pod["containerImage"]] if pod else [])


@pytest.mark.parametrize("image", IMAGES)
def test_a_digest_pins_the_image_wherever_it_is_used(image):
    # The stock sklearn server is the default runtime; the others show with the modelkit runtime and NVJ runner.
    sets = [] if image == "sklearnServer" else VARIANTS["modelkit-runtime+nvj"]["sets"]
    repository = yaml.safe_load((CHART / "values.yaml").read_text())["images"][image]["repository"]
    tagged = [i for i in all_images(render(sets=sets)) if i.startswith(repository + ":")]
    assert tagged, f"images.{image} is used by no rendered container"
    pinned = all_images(render(sets=[*sets, f"images.{image}.digest={DIGEST}"]))
    assert pinned.count(f"{repository}@{DIGEST}") == len(tagged)
    assert not [i for i in pinned if i.startswith(repository + ":")]


@pytest.mark.parametrize("setting,where", [
    ("images.cli.tag=latest", "/images/cli/tag"),
    ("images.workbench.tag=", "/images/workbench/tag"),
    ("images.workbench.tag=0.1.0@sha256:abc", "/images/workbench/tag"),
    ("images.workbench.digest=sha256:abc", "/images/workbench/digest"),
    (f"images.workbench.digest={DIGEST.upper()}", "/images/workbench/digest"),
    (f"images.waitForModel.digest=md5:{'0' * 64}", "/images/waitForModel/digest"),
    ("images.servingRuntime.repository=quay.io/x/y:1.0", "/images/servingRuntime/repository"),
])
def test_the_schema_refuses_unpinned_or_malformed_images(setting, where):
    result = helm(*template_args(sets=[setting]), check=False)
    assert result.returncode != 0 and where in result.stderr, result.stderr


def test_a_registry_port_is_not_taken_for_a_tag():
    docs = render(sets=["images.cli.repository=registry.local:5000/openshift/cli"])
    assert "registry.local:5000/openshift/cli:4.17" in all_images(docs)


# --- cluster permissions ---------------------------------------------------------------------

CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "Namespace", "CustomResourceDefinition", "PersistentVolume",
                  "StorageClass", "PriorityClass", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}


def isvc_rules(docs):
    role = find(docs, "Role", "model-training")
    return [r for r in role["rules"] if "inferenceservices" in r["resources"]]


def test_promote_may_patch_only_the_enabled_models_inferenceservices():
    [rule] = isvc_rules(render())
    assert rule["resourceNames"] == ["anomaly-detector", "predictive-analytics"]
    [rule] = isvc_rules(render(sets=["tekton.modelTraining.anomalyDetector.enabled=false"]))
    assert rule["resourceNames"] == ["predictive-analytics"]
    # An empty resourceNames would allow every name: with no enabled model there is no rule.
    assert isvc_rules(render(sets=["modelOverrides.enabled=false"])) == []


def training_view_binding(docs):
    return find(docs, "ClusterRoleBinding", f"{NAMESPACE}-model-training-monitoring-view")


def test_only_the_training_account_reads_cluster_metrics_unless_asked():
    crb = training_view_binding(render())
    assert [s["name"] for s in crb["subjects"]] == ["self-healing-workbench"]
    crb = training_view_binding(render(sets=["prometheus.clusterMonitoringViewManualRuns=true"]))
    assert [s["name"] for s in crb["subjects"]] == ["self-healing-workbench", "pipeline"]
    assert all(s["namespace"] == NAMESPACE for s in crb["subjects"])


def test_a_namespace_admin_can_install_without_the_cluster_role_binding():
    """Without prometheus.clusterMonitoringView nothing cluster-scoped is rendered, and NOTES say
    how a cluster admin grants metrics access separately and what runs do meanwhile."""
    sets = ["prometheus.clusterMonitoringView=false"]
    docs = render(sets=sets)
    assert not [d for d in docs if d["kind"] in CLUSTER_SCOPED or "namespace" not in d["metadata"]]
    args = ["install", "--dry-run=client", *template_args(sets=sets)[1:]]
    notes = helm(*args).stdout.split("NOTES:", 1)[1]
    assert "oc adm policy add-cluster-role-to-user cluster-monitoring-view -z self-healing-workbench -n self-healing-platform" in notes
    assert "FALLBACK_POLICY=synthetic" in notes
    default_notes = helm("install", "--dry-run=client", *template_args()[1:]).stdout.split("NOTES:", 1)[1]
    assert "oc adm policy" not in default_notes
