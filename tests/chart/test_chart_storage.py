"""model-storage-pvc on any storage class: ReadWriteOnce by default, every pod that mounts it on
one node; ReadWriteMany as an option; never pruned by ArgoCD."""

from __future__ import annotations

import pytest
import yaml

from chart_helpers import OVERLAYS, by_kind, find, helm, render, template_args

CLAIM = "model-storage-pvc"
RWX = "storage.accessMode=ReadWriteMany"


def anchor_labels(docs):
    return find(docs, "Deployment", "model-troubleshooting-utilities")["spec"]["template"]["metadata"]["labels"]


def claim_users(docs):
    """(where, pod-level spec) of every pod that mounts the claim, the pipeline's task pods included."""
    users = []
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in ("Deployment", "Job"):
            spec = doc["spec"]["template"]["spec"]
            if any(v.get("persistentVolumeClaim", {}).get("claimName") == CLAIM for v in spec.get("volumes", [])):
                users.append((where, spec))
        elif doc["kind"] == "InferenceService":
            assert doc["spec"]["predictor"]["model"]["storageUri"].startswith(f"pvc://{CLAIM}/")
            users.append((where, doc["spec"]["predictor"]))
        elif doc["kind"] == "ConfigMap" and "pipelinerun.yaml" in doc.get("data", {}):
            run = yaml.safe_load(doc["data"]["pipelinerun.yaml"])
            users.append((f"{where} (its PipelineRun's task pods)", run["spec"]["taskRunTemplate"]["podTemplate"]))
    return users


def required_pod_affinity(spec):
    return (spec.get("affinity") or {}).get("podAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])


@pytest.mark.parametrize("values", [[], *[[p] for p in OVERLAYS]], ids=["defaults", *(p.name for p in OVERLAYS)])
def test_every_pod_that_mounts_a_readwriteonce_claim_joins_the_anchor_node(values):
    """A ReadWriteOnce volume attaches to one node (Kubernetes docs, persistent-volumes#access-modes);
    pods on other nodes wait in ContainerCreating (Multi-Attach error). gp3-csi, thin-csi, ceph-rbd and
    Azure disk offer nothing else. Required pod affinity on kubernetes.io/hostname to the
    troubleshooting Deployment's pod puts every user of the claim on that node; the anchor itself
    needs none (it mounts the claim first)."""
    docs = render(values=values)
    [pvc] = by_kind(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    anchor = anchor_labels(docs)
    users = claim_users(docs)
    kinds = {where.split("/")[0] for where, _ in users}
    assert kinds == {"Deployment", "Job", "InferenceService", "ConfigMap"}, users
    for where, spec in users:
        if where == "Deployment/model-troubleshooting-utilities":
            assert not required_pod_affinity(spec)
            continue
        [term] = required_pod_affinity(spec)
        assert term["topologyKey"] == "kubernetes.io/hostname", where
        assert term["labelSelector"] == {"matchLabels": anchor}, where


def test_readwritemany_lets_the_pods_spread():
    docs = render(sets=[RWX])
    assert find(docs, "PersistentVolumeClaim", CLAIM)["spec"]["accessModes"] == ["ReadWriteMany"]
    assert all(not required_pod_affinity(spec) for _, spec in claim_users(docs))


@pytest.mark.parametrize("sets,message", [
    (["troubleshooting.enabled=false"],
     "storage.accessMode=ReadWriteOnce: troubleshooting.enabled must be true"),
    (["training.runner=notebookValidationJob", "global.git.repoURL=https://example.invalid/fork.git"],
     "training.runner=notebookValidationJob: set storage.accessMode=ReadWriteMany"),
])
def test_readwriteonce_refuses_what_cannot_be_co_located(sets, message):
    """Without the anchor no pod would pin the node; the NotebookValidationJob's pod is made by its
    operator, which takes no affinity. Each fails at install time, saying what to set.
    (gpu: true is refused whatever the storage: no model kind uses a GPU.)"""
    result = helm(*template_args(sets=sets), check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert render(sets=[*sets, RWX])


@pytest.mark.parametrize("keep,options", [("true", "Prune=false,Delete=false"), ("false", "Prune=false")])
def test_argocd_never_prunes_the_claim(keep, options):
    """argocd.argoproj.io/sync-options Prune=false keeps an object a sync would prune, Delete=false one
    the Application's deletion would delete (argo-cd docs/user-guide/sync-options.md; several options
    are comma-separated). The trained models live on this claim."""
    pvc = find(render(sets=[f"storage.keepOnUninstall={keep}"]), "PersistentVolumeClaim", CLAIM)
    assert pvc["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == options
    assert (pvc["metadata"]["annotations"].get("helm.sh/resource-policy") == "keep") == (keep == "true")
