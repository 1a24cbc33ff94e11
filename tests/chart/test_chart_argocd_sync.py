"""A fresh ArgoCD sync of the chart converges, for the defaults, every overlay and every option
that moves objects between waves; Helm's own hooks still run after every object exists.

The sync model and its upstream rules are in argocd_sync.py (gitops-engine sync_context.go:
the next wave waits for the current one to be Healthy, PostSync for everything, the last wave
for nothing; a Pending claim is Progressing).
"""

from __future__ import annotations

import pytest
import yaml

from argocd_sync import HOOK, WAVE, argocd_items, simulate
from chart_helpers import OVERLAYS, by_kind, find, render

RWX = "storage.accessMode=ReadWriteMany"
VARIANTS = {
    "defaults": ([], []),
    **{f"values/{p.name}": ([p], []) for p in OVERLAYS},
    "modelkit runtime": ([], ["serving.runtime=modelkit"]),
    "existing runtime": ([], ["serving.existingRuntime=kserve-sklearnserver"]),
    "serverless": ([], ["serving.deploymentMode=Serverless", RWX]),
    "rwx": ([], [RWX]),
    "rwx, no troubleshooting": ([], [RWX, "troubleshooting.enabled=false"]),
    "nvj runner": ([], [RWX, "training.runner=notebookValidationJob", "global.git.repoURL=https://example.invalid/fork.git"]),
    "a model in a later wave": ([{"tekton": {"modelTraining": {"predictiveAnalytics": {"syncWave": "7"}}}}], []),
    "one model disabled": ([], ["tekton.modelTraining.anomalyDetector.enabled=false"]),
}


def cluster_has(sets):
    """Objects the user says the cluster already has (they are not rendered)."""
    return {("ServingRuntime", s.split("=", 1)[1]) for s in sets if s.startswith("serving.existingRuntime=")}


def values_files(values, tmp_path):
    """Overlay paths as they are; inline dicts written to a file (--set cannot pass "7" as a string)."""
    files = []
    for i, value in enumerate(values):
        if isinstance(value, dict):
            path = tmp_path / f"values-{i}.yaml"
            path.write_text(yaml.safe_dump(value))
            value = path
        files.append(value)
    return files


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_fresh_sync_converges(variant, tmp_path):
    """gitops-engine applies a wave only when the earlier ones are Healthy and runs PostSync only when
    all are; InferenceServices cannot be Healthy before a first model, so the first training must be
    started before them and nothing may wait behind them (argo-cd docs/user-guide/sync-waves.md)."""
    values, sets = VARIANTS[variant]
    docs = render(values=values_files(values, tmp_path), sets=sets)
    assert simulate(docs, cluster_has(sets)) == []


def test_without_a_first_run_the_sync_completes_and_predictors_wait_for_the_schedule():
    """training.firstRun.enabled=false: nothing holds the sync; the predictors (last wave, not waited
    for) wait for the weekly CronJob's first run, and say so."""
    problems = simulate(render(sets=["training.firstRun.enabled=false"]))
    assert len(problems) == 2 and all("never becomes healthy: waits for a first model" in p for p in problems), problems


def test_first_training_is_an_argocd_sync_hook_before_the_predictors():
    """ArgoCD ignores helm.sh/hook when argocd.argoproj.io/hook is set (gitops-engine pkg/sync/hook/hook.go;
    argo-cd PR #14283), so Helm keeps post-install/post-upgrade while ArgoCD runs a Sync hook."""
    docs = render()
    items = {i.name: i for i in argocd_items(docs)}
    job = items["Job/model-first-training"]
    assert (job.phase, job.hook) == ("Sync", True)
    runs = [items[f"ConfigMap/{m}-training-run"].wave for m in ("anomaly-detector", "predictive-analytics")]
    isvcs = [i.wave for i in items.values() if i.doc["kind"] == "InferenceService"]
    assert max(runs) < job.wave < min(isvcs)
    assert max(i.wave for i in items.values()) == min(isvcs), "nothing may wait behind the InferenceServices"
    annotations = find(docs, "Job", "model-first-training")["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"


def test_helm_runs_the_hook_after_every_object_it_needs():
    """Helm creates every non-hook object before post-install hooks (helm docs, charts_hooks): the
    run-spec ConfigMaps, the PVC, the Pipeline and the trigger RBAC must not be hooks themselves."""
    docs = render()
    hooks = [d for d in docs if "helm.sh/hook" in d["metadata"].get("annotations", {})]
    assert [f"{d['kind']}/{d['metadata']['name']}" for d in hooks] == ["Job/model-first-training"]


def test_the_pvc_is_in_the_wave_of_its_first_consumer():
    """A WaitForFirstConsumer claim stays Pending, which ArgoCD reports as Progressing (gitops-engine
    pkg/health/health_pvc.go), until a pod mounts it: an earlier wave would never finish."""
    for sets, consumer in [([], ("Deployment", "model-troubleshooting-utilities")),
                           ([RWX, "troubleshooting.enabled=false"], ("Job", "model-first-training"))]:
        items = {i.name: i for i in argocd_items(render(sets=sets))}
        assert items["PersistentVolumeClaim/model-storage-pvc"].wave == items[f"{consumer[0]}/{consumer[1]}"].wave


def test_the_simulation_reports_the_old_deadlocks():
    """Not vacuous: the layout before this change (InferenceServices in wave 2, run specs and CronJobs
    in wave 3, first training PostSync, PVC in wave 0 with no consumer) is refused, each for its reason."""
    # The layout of that time, which had no scorer.
    docs = render(sets=[RWX, "troubleshooting.enabled=false", "scorer.enabled=false"])
    for doc in by_kind(docs, "InferenceService") + by_kind(docs, "Service"):
        doc["metadata"]["annotations"][WAVE] = "2"
    for doc in by_kind(docs, "CronJob") + [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-training-run")]:
        doc["metadata"]["annotations"][WAVE] = "3"
    job = find(docs, "Job", "model-first-training")["metadata"]["annotations"]
    job[HOOK] = "PostSync"
    del job[WAVE]
    find(docs, "PersistentVolumeClaim", "model-storage-pvc")["metadata"]["annotations"][WAVE] = "0"
    [problem] = simulate(docs)
    assert "PersistentVolumeClaim/model-storage-pvc never becomes healthy: Pending" in problem
    find(docs, "PersistentVolumeClaim", "model-storage-pvc")["metadata"]["annotations"][WAVE] = "2"
    [problem] = simulate(docs)
    assert "InferenceService/anomaly-detector" in problem and "no first training was started before it" in problem
    # Predictors (and their claim) in the last wave: a PostSync hook after them makes ArgoCD wait for them.
    for doc in by_kind(docs, "InferenceService") + by_kind(docs, "Service") + by_kind(docs, "PersistentVolumeClaim"):
        doc["metadata"]["annotations"][WAVE] = "5"
    [problem] = simulate(docs)
    assert problem.startswith("sync stops at Sync wave 5: InferenceService/anomaly-detector never becomes healthy")
    # The same hook as a Sync hook in the predictors' wave: converges.
    job[HOOK] = "Sync"
    job[WAVE] = "5"
    assert simulate(docs) == []
