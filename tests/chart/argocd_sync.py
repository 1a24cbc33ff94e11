"""A model of an ArgoCD sync of the rendered chart: does a fresh sync converge?

The rules, from argoproj/gitops-engine (pkg/sync/sync_context.go, pkg/sync/syncwaves/waves.go,
pkg/sync/hook/hook.go, pkg/health/health_pvc.go) and argo-cd docs/user-guide/sync-waves.md:
- objects run in (phase, wave) order: PreSync, Sync, PostSync; the wave is
  `argocd.argoproj.io/sync-wave`, else `helm.sh/hook-weight`, else 0;
- Helm hook annotations are ignored when `argocd.argoproj.io/hook` is set, otherwise
  pre-install/pre-upgrade map to PreSync and post-install/post-upgrade to PostSync;
- the next step starts only when every object of the current one is Healthy (a hook Job when
  it succeeded); PostSync runs only when every object is Healthy; but the sync does not wait
  for the objects of its last step when that step holds no hook;
- a Pending PVC is Progressing; on a WaitForFirstConsumer class it stays Pending until a pod
  that mounts it exists.

An object is healthy only when what it waits for exists: a pod when the claims, ConfigMaps and
service account it uses were applied in its step or before (Kubernetes retries), a pod with
required pod affinity when a pod it must join was applied; a PipelineRun started by a hook
when its Pipeline and Tasks were applied in an earlier step (Tekton fails a run whose
Pipeline is missing); an InferenceService when its runtime exists and a first training of its
model was started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

HOOK = "argocd.argoproj.io/hook"
WAVE = "argocd.argoproj.io/sync-wave"
PHASES = {"PreSync": 0, "Sync": 1, "PostSync": 2}
HELM_TO_ARGO = {"pre-install": "PreSync", "pre-upgrade": "PreSync", "post-install": "PostSync", "post-upgrade": "PostSync"}


@dataclass
class Item:
    doc: dict[str, Any]
    phase: str
    wave: int
    hook: bool

    @property
    def step(self) -> tuple[int, int]:
        return PHASES[self.phase], self.wave

    @property
    def name(self) -> str:
        return f"{self.doc['kind']}/{self.doc['metadata']['name']}"


def argocd_items(docs: list[dict[str, Any]]) -> list[Item]:
    items = []
    for doc in docs:
        ann = doc["metadata"].get("annotations", {})
        if HOOK in ann:
            phase, hook = ann[HOOK], True
        elif "helm.sh/hook" in ann:
            phases = {HELM_TO_ARGO[h.strip()] for h in ann["helm.sh/hook"].split(",") if h.strip() in HELM_TO_ARGO}
            assert len(phases) == 1, f"{doc['metadata']['name']}: Helm hooks {ann['helm.sh/hook']} map to {phases}"
            phase, hook = phases.pop(), True
        else:
            phase, hook = "Sync", False
        if WAVE in ann:
            wave = int(ann[WAVE])
        else:  # a Helm hook's weight stands in for the wave, unless ArgoCD's own hook is set
            wave = int(ann.get("helm.sh/hook-weight", "0")) if HOOK not in ann else 0
        items.append(Item(doc, phase, wave, hook))
    return items


# --- what a pod-bearing object uses --------------------------------------------------

def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    kind = doc["kind"]
    if kind in ("Deployment", "Job"):
        return doc["spec"]["template"]["spec"]
    if kind == "InferenceService":
        return doc["spec"]["predictor"]
    return None


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    if doc["kind"] in ("Deployment", "Job"):
        return doc["spec"]["template"]["metadata"].get("labels", {})
    return {}


def claims(doc: dict[str, Any]) -> set[str]:
    spec = pod_spec(doc) or {}
    used = {v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes", []) if "persistentVolumeClaim" in v}
    uri = (spec.get("model") or {}).get("storageUri", "")
    if uri.startswith("pvc://"):  # KServe's pod webhook mounts the claim itself
        used.add(uri[len("pvc://"):].split("/")[0])
    return used


def config_maps(doc: dict[str, Any]) -> set[str]:
    used = set()
    for volume in (pod_spec(doc) or {}).get("volumes", []):
        if "configMap" in volume:
            used.add(volume["configMap"]["name"])
        for source in volume.get("projected", {}).get("sources", []):
            if "configMap" in source:
                used.add(source["configMap"]["name"])
    return used


def required_affinity(spec: dict[str, Any]) -> list[dict[str, str]]:
    terms = (spec.get("affinity") or {}).get("podAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
    return [t["labelSelector"]["matchLabels"] for t in terms]


@dataclass
class World:
    """What has been applied so far (kind, name) -> step, and the pods' label sets."""
    applied: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    pods: list[tuple[dict[str, str], tuple[int, int]]] = field(default_factory=list)
    cluster_has: set[tuple[str, str]] = field(default_factory=set)
    first_trainings: dict[str, tuple[int, int]] = field(default_factory=dict)

    def has(self, kind: str, name: str, before: tuple[int, int], strictly: bool = False) -> bool:
        if (kind, name) in self.cluster_has:
            return True
        at = self.applied.get((kind, name))
        return at is not None and (at < before if strictly else at <= before)

    def joinable(self, selector: dict[str, str], step: tuple[int, int]) -> bool:
        return any(at <= step and all(labels.get(k) == v for k, v in selector.items()) for labels, at in self.pods)


def pod_problem(item: Item, world: World, spec: dict[str, Any]) -> str | None:
    for claim in sorted(claims(item.doc)):
        if not world.has("PersistentVolumeClaim", claim, item.step):
            return f"its claim {claim} is not applied yet"
    for cm in sorted(config_maps(item.doc)):
        if not world.has("ConfigMap", cm, item.step):
            return f"its ConfigMap {cm} is not applied yet"
    account = spec.get("serviceAccountName")
    if account and not world.has("ServiceAccount", account, item.step):
        return f"its service account {account} is not applied yet"
    own = pod_labels(item.doc)
    for selector in required_affinity(spec):
        if not (all(own.get(k) == v for k, v in selector.items()) or world.joinable(selector, item.step)):
            return f"no pod it must join ({selector}) is applied yet"
    return None


def run_problem(run: dict[str, Any], started_at: tuple[int, int], world: World, docs: list[dict[str, Any]]) -> str | None:
    """A PipelineRun created at `started_at`: its Pipeline and Tasks must already exist."""
    pipeline = run["spec"]["pipelineRef"]["name"]
    if not world.has("Pipeline", pipeline, started_at, strictly=True):
        return f"Pipeline {pipeline} is not applied before the run starts"
    [pipeline_doc] = [d for d in docs if d["kind"] == "Pipeline" and d["metadata"]["name"] == pipeline]
    for task in pipeline_doc["spec"]["tasks"] + pipeline_doc["spec"].get("finally", []):
        name = task["taskRef"]["name"]
        if not world.has("Task", name, started_at, strictly=True):
            return f"Task {name} is not applied before the run starts"
    pod_template = run["spec"].get("taskRunTemplate", {}).get("podTemplate", {})
    for selector in required_affinity(pod_template):
        if not world.joinable(selector, started_at):
            return f"no pod its task pods must join ({selector}) exists"
    return None


def first_training_runs(item: Item, docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """model -> PipelineRun spec, for a Job that creates runs from the run-spec ConfigMaps it mounts."""
    runs = {}
    for cm in config_maps(item.doc):
        [doc] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == cm]
        if "pipelinerun.yaml" in doc.get("data", {}):
            run = yaml.safe_load(doc["data"]["pipelinerun.yaml"])
            runs[run["metadata"]["labels"]["model-name"]] = run
    return runs


def health_problem(item: Item, world: World, items: list[Item]) -> str | None:
    kind, doc = item.doc["kind"], item.doc
    docs = [i.doc for i in items]
    if kind == "PersistentVolumeClaim":
        name = doc["metadata"]["name"]
        consumers = [i for i in items if name in claims(i.doc) and world.has(i.doc["kind"], i.doc["metadata"]["name"], item.step)]
        return None if consumers else "Pending: no pod that mounts it is applied in its wave or before (WaitForFirstConsumer)"
    spec = pod_spec(doc)
    if spec is None:
        return None
    problem = pod_problem(item, world, spec)
    if problem:
        return problem
    if kind == "Job":
        for model, run in first_training_runs(item, docs).items():
            problem = run_problem(run, item.step, world, docs)
            if problem:
                return f"the run it starts for {model} fails: {problem}"
            world.first_trainings.setdefault(model, item.step)
    if kind == "InferenceService":
        runtime = spec["model"].get("runtime")
        if runtime and not world.has("ServingRuntime", runtime, item.step):
            return f"runtime {runtime} is not applied yet"
        model = doc["metadata"]["labels"]["model-name"]
        started = world.first_trainings.get(model)
        if started is None or started > item.step:
            return f"waits for a first model of {model}, and no first training was started before it"
    return None


def simulate(docs: list[dict[str, Any]], cluster_has: set[tuple[str, str]] = frozenset()) -> list[str]:
    """Problems of a fresh sync (empty list: it completes and every InferenceService ends up healthy)."""
    items = argocd_items(docs)
    world = World(cluster_has=set(cluster_has))
    steps = sorted({i.step for i in items})
    for index, step in enumerate(steps):
        here = [i for i in items if i.step == step]
        if step[0] == PHASES["PostSync"]:
            unhealthy = [f"{i.name}: {p}" for i in items if not i.hook for p in [health_problem(i, world, items)] if p]
            if unhealthy:
                return [f"PostSync hooks {[i.name for i in here]} never run: " + "; ".join(unhealthy)]
        for item in here:
            world.applied[(item.doc["kind"], item.doc["metadata"]["name"])] = step
            if pod_spec(item.doc) is not None and item.doc["kind"] != "InferenceService":
                world.pods.append((pod_labels(item.doc), step))
        last = index == len(steps) - 1
        for item in sorted(here, key=lambda i: i.doc["kind"] != "Job"):  # hooks first: they start runs
            if item.hook or not last:
                problem = health_problem(item, world, items)
                if problem:
                    return [f"sync stops at {item.phase} wave {item.wave}: {item.name} never becomes healthy: {problem}"]
    # The sync is over; the objects of its last step still have to become healthy by themselves.
    return [f"{i.name} never becomes healthy: {p}" for i in items if not i.hook for p in [health_problem(i, world, items)] if p]
