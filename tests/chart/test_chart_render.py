"""The chart renders, lints and validates strictly with defaults and every values/ overlay."""

from __future__ import annotations

import pytest

from chart_helpers import (CHART, NAMESPACE, OVERLAYS, PROJECT_ROOT, by_kind, core_errors, crd_errors, find, helm,
                           is_crd_kind, pod_specs, render)

VARIANTS = {
    "defaults": {"values": [], "sets": []},
    **{f"values/{p.name}": {"values": [p], "sets": []} for p in OVERLAYS},
    "modelkit-runtime+nvj+git": {"values": [], "sets": [
        "serving.runtime=modelkit", "training.runner=notebookValidationJob", "storage.accessMode=ReadWriteMany",
        "global.git.repoURL=https://example.invalid/fork.git", "prometheus.tokenSecret.name=thanos-token",
        "serving.deploymentMode=RawDeployment"]},
    "serverless+rwx": {"values": [], "sets": ["serving.deploymentMode=Serverless", "storage.accessMode=ReadWriteMany"]},
    "existing-runtime": {"values": [], "sets": ["serving.existingRuntime=kserve-sklearnserver"]},
}


def test_overlays_exist():
    assert {p.name for p in OVERLAYS} >= {"dev.yaml", "staging.yaml", "prod.yaml"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_helm_lint_strict(variant):
    args = ["lint", "--strict", str(CHART), "--namespace", NAMESPACE]
    for path in VARIANTS[variant]["values"]:
        args += ["-f", str(path)]
    for item in VARIANTS[variant]["sets"]:
        args += ["--set", item]
    result = helm(*args, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


def test_make_lint_script_covers_every_overlay():
    import subprocess

    result = subprocess.run(["bash", str(PROJECT_ROOT / "hack" / "helm-lint.sh")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for overlay in ["defaults", *(f"values/{p.name}" for p in OVERLAYS)]:
        assert f"({overlay})" in result.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_validates_strictly(variant):
    docs = render(**VARIANTS[variant])
    problems = []
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        errors = crd_errors(doc) if is_crd_kind(doc) else core_errors(doc)
        problems += [f"{where}: {e}" for e in errors]
    assert not problems, "\n".join(problems)


def test_strict_validation_catches_unknown_fields():
    """The validators above would report a typo: they are not vacuous."""
    docs = render()
    isvc = find(docs, "InferenceService", "anomaly-detector")
    isvc["spec"]["predictor"]["model"]["storageURI"] = "typo"
    assert any("storageURI" in e for e in crd_errors(isvc))
    pipeline = find(docs, "Pipeline", "model-training-pipeline")
    pipeline["spec"]["tasks"][0]["retry"] = 1
    assert crd_errors(pipeline)
    cronjob = find(docs, "CronJob", "weekly-anomaly-detector-training")
    cronjob["spec"]["concurrency"] = "Forbid"
    assert core_errors(cronjob)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_pod_meets_the_restricted_profile(variant):
    problems = []
    for doc in render(**VARIANTS[variant]):
        for where, pod, containers in pod_specs(doc):
            pod_ctx = (pod or {}).get("securityContext", {})
            if pod is not None:
                if pod_ctx.get("runAsNonRoot") is not True:
                    problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
                if pod_ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                    problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
                for key in ("hostNetwork", "hostPID", "hostIPC"):
                    if pod.get(key):
                        problems.append(f"{where}: {key}")
                for volume in pod.get("volumes", []):
                    if "hostPath" in volume:
                        problems.append(f"{where}: hostPath volume {volume['name']}")
            for ctx in [pod_ctx, *(c.get("securityContext", {}) for c in containers)]:
                for key in ("runAsUser", "runAsGroup", "fsGroup"):
                    if key in ctx:
                        problems.append(f"{where}: fixed {key} (OpenShift assigns UIDs)")
            for c in containers:
                ctx = c.get("securityContext", {})
                name = f"{where} container {c.get('name', '(model)')}"
                if ctx.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{name}: allowPrivilegeEscalation is not false")
                if "ALL" not in ctx.get("capabilities", {}).get("drop", []) or ctx.get("capabilities", {}).get("add"):
                    problems.append(f"{name}: capabilities must drop ALL and add none")
                if ctx.get("privileged"):
                    problems.append(f"{name}: privileged")
                if ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is not True:
                    problems.append(f"{name}: runAsNonRoot is not true")
                if ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {})).get("type") != "RuntimeDefault":
                    problems.append(f"{name}: seccompProfile is not RuntimeDefault")
                image = c.get("image")
                if image is not None and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
                    problems.append(f"{name}: image {image!r} is not pinned to a tag")
    assert not problems, "\n".join(problems)


def test_scheduled_runs_ask_for_a_restricted_pod():
    import yaml

    for cm in by_kind(render(), "ConfigMap"):
        if cm["metadata"]["name"].endswith("-training-run"):
            run = yaml.safe_load(cm["data"]["pipelinerun.yaml"])
            ctx = run["spec"]["taskRunTemplate"]["podTemplate"]["securityContext"]
            assert ctx == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def test_pod_spec_check_sees_every_workload():
    kinds = {doc["kind"] for doc in render(**VARIANTS["modelkit-runtime+nvj+git"]) if list(pod_specs(doc))}
    assert kinds == {"CronJob", "Deployment", "Job", "InferenceService", "ServingRuntime", "Task"}


# (role, apiGroup, resource, verb, resourceNames): () is every name of that resource.
ISVCS = ("anomaly-detector", "predictive-analytics")
EXPECTED_RULES = {
    ("model-training", "tekton.dev", "pipelineruns", "get", ()),
    ("model-training", "tekton.dev", "pipelineruns", "patch", ()),
    ("model-training", "serving.kserve.io", "inferenceservices", "get", ISVCS),
    ("model-training", "serving.kserve.io", "inferenceservices", "patch", ISVCS),
    ("model-training", "", "pods", "get", ()),
    ("model-training", "", "pods", "list", ()),
    ("model-training", "apps", "deployments", "list", ()),
    ("model-training", "apps", "replicasets", "list", ()),
    ("model-training-trigger", "tekton.dev", "pipelineruns", "create", ()),
    ("model-training-trigger", "tekton.dev", "pipelineruns", "list", ()),
}
NVJ_RULES = {
    ("model-training", "mlops.mlops.dev", "notebookvalidationjobs", "create", ()),
    ("model-training", "mlops.mlops.dev", "notebookvalidationjobs", "get", ()),
}


def granted(docs):
    rules = set()
    for role in by_kind(docs, "Role"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert "resourceNames" not in rule or rule["resourceNames"], "an empty resourceNames allows every name"
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        rules.add((role["metadata"]["name"], group, resource, verb, tuple(rule.get("resourceNames", ()))))
    return rules


@pytest.mark.parametrize("runner,expected", [("inline", EXPECTED_RULES), ("notebookValidationJob", EXPECTED_RULES | NVJ_RULES)])
def test_rbac_grants_exactly_what_is_used(runner, expected):
    docs = render(sets=[f"training.runner={runner}", "global.git.repoURL=https://example.invalid/fork.git",
                         "storage.accessMode=ReadWriteMany"])
    assert granted(docs) == expected
    assert not by_kind(docs, "ClusterRole")
    bindings = {b["metadata"]["name"]: b for b in by_kind(docs, "RoleBinding")}
    assert {(b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings.values()} == {
        ("Role", "model-training"), ("Role", "model-training-trigger")}
    assert [s["name"] for s in bindings["model-training"]["subjects"]] == ["self-healing-workbench", "pipeline"]
    assert [s["name"] for s in bindings["model-training-trigger"]["subjects"]] == ["model-training-trigger"]
    # Reading metrics through Thanos: the training account and the scorer's, each in its own binding.
    crbs = {tuple((s["kind"], s["name"]) for s in b["subjects"]): b["roleRef"] for b in by_kind(docs, "ClusterRoleBinding")}
    view = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-monitoring-view"}
    assert crbs == {(("ServiceAccount", "self-healing-workbench"),): view, (("ServiceAccount", "modelkit-scorer"),): view}


def test_serverless_promotion_reads_revisions_instead_of_deployments():
    """cluster.py waits for the latest Knative Revision in Serverless, for the Deployment's
    ReplicaSets and pods in RawDeployment: each mode is granted only what its wait reads."""
    rules = granted(render(sets=["serving.deploymentMode=Serverless", "storage.accessMode=ReadWriteMany"]))
    raw = {("model-training", "apps", "deployments", "list", ()), ("model-training", "apps", "replicasets", "list", ())}
    assert rules == (EXPECTED_RULES - raw) | {("model-training", "serving.knative.dev", "revisions", "get", ())}


def test_service_accounts_match_what_pods_use():
    docs = render()
    trigger = {d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] for d in by_kind(docs, "CronJob")}
    assert trigger == {"model-training-trigger"}
    assert find(docs, "Job", "model-first-training")["spec"]["template"]["spec"]["serviceAccountName"] == "model-training-trigger"
    assert find(docs, "Deployment", "modelkit-scorer")["spec"]["template"]["spec"]["serviceAccountName"] == "modelkit-scorer"
    assert {sa["metadata"]["name"] for sa in by_kind(docs, "ServiceAccount")} == {
        "self-healing-workbench", "model-training-trigger", "modelkit-scorer"}


def test_standard_labels_and_names():
    for doc in render():
        meta = doc["metadata"]
        assert len(meta["name"]) <= 63, meta["name"]
        labels = meta.get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart"):
            assert key in labels, f"{doc['kind']}/{meta['name']} has no label {key}"
