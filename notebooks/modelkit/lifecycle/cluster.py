"""Roll a KServe InferenceService to a promoted version, from inside a pipeline pod.

Plain `requests` to the API server with the pod's service-account token, TLS verified
against the in-cluster CA (passed on every request, so REQUESTS_CA_BUNDLE cannot
replace it). The promote step merge-patches the predictor's annotation
`modelkit.io/served-version`, so KServe rolls out new predictor pods that load the new
file (no pod deleted by hand), then waits, at most the budget MODELKIT_ROLLOUT_TIMEOUT
(480 s; the promote Task has 10 min), until what answers requests is the new version:

- RawDeployment: the predictor Deployment (labels serving.kserve.io/inferenceservice,
  component=predictor) has the annotation in its pod template and its controller has
  observed it; every live pod (not Failed/Succeeded, not being deleted) belongs to the
  Deployment's new ReplicaSet and carries the annotation; as many are Ready as the
  Deployment wants now (spec.replicas, which an HPA scales). The InferenceService's
  status.observedGeneration is the Deployment's (KServe copies it), so it says nothing
  about the InferenceService's own generation and is not used.
- Serverless: status.components.predictor.latestReadyRevision == latestCreatedRevision,
  that Revision carries the annotation, and no traffic goes to another revision.
Either way the InferenceService must then be Ready.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ..errors import ConfigError
from ..settings import SERVICE_ACCOUNT_TOKEN

SERVICE_ACCOUNT_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
VERSION_ANNOTATION = "modelkit.io/served-version"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
COMPONENT_LABEL = "component"  # KServe's constants.KServiceComponentLabel
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
ISVC_PATH = "/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices/{name}"
DEPLOYMENTS_PATH = "/apis/apps/v1/namespaces/{namespace}/deployments"
REPLICA_SETS_PATH = "/apis/apps/v1/namespaces/{namespace}/replicasets"
PODS_PATH = "/api/v1/namespaces/{namespace}/pods"
REVISION_PATH = "/apis/serving.knative.dev/v1/namespaces/{namespace}/revisions/{name}"
REQUEST_TIMEOUT = 30
POLL_SECONDS = 3
ROLLOUT_TIMEOUT_ENV = "MODELKIT_ROLLOUT_TIMEOUT"
RAW_MODES = ("RawDeployment", "Standard")  # KServe's newer name for RawDeployment
FINISHED_POD_PHASES = ("Failed", "Succeeded")  # evicted or completed pods stay listed with the old annotation


class RolloutFailed(ConfigError):
    """The rollout cannot finish (for example the Deployment's progress deadline passed)."""


def api_server_url(host: str, port: str) -> str:
    """https URL of the API server; an IPv6 address is bracketed (RFC 3986 host syntax)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"https://{host}:{port}"


class ClusterClient:
    def __init__(self, base: str | None = None, token: str | None = None, ca_bundle: str | None = None) -> None:
        self.base = base or api_server_url(os.environ["KUBERNETES_SERVICE_HOST"],
                                           os.environ.get("KUBERNETES_SERVICE_PORT", "443"))
        self.verify = ca_bundle or str(SERVICE_ACCOUNT_CA)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token or SERVICE_ACCOUNT_TOKEN.read_text().strip()}"

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        # verify= per request: a Session's own verify loses to REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE.
        response = self.session.request(method, self.base + path, timeout=REQUEST_TIMEOUT, verify=self.verify, **kwargs)
        if response.status_code >= 400:
            raise ConfigError(f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json()

    def _list(self, path: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        return self._call("GET", path.format(namespace=namespace), params={"labelSelector": selector})["items"]

    def annotate_predictor(self, namespace: str, name: str, run_id: str) -> None:
        patch = {"spec": {"predictor": {"annotations": {VERSION_ANNOTATION: run_id}}}}
        self._call("PATCH", ISVC_PATH.format(namespace=namespace, name=name), json=patch,
                   headers={"Content-Type": "application/merge-patch+json"})

    def inference_service(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call("GET", ISVC_PATH.format(namespace=namespace, name=name))

    def snapshot(self, namespace: str, name: str) -> "Snapshot":
        """What the rollout checks need, read now."""
        isvc = self.inference_service(namespace, name)
        if is_raw_deployment(isvc):
            selector = f"{ISVC_LABEL}={name},{COMPONENT_LABEL}=predictor"
            return Snapshot(isvc, deployments=self._list(DEPLOYMENTS_PATH, namespace, selector),
                            replica_sets=self._list(REPLICA_SETS_PATH, namespace, selector),
                            pods=self._list(PODS_PATH, namespace, selector))
        revision_name = _predictor_status(isvc).get("latestReadyRevision")
        revision = self._call("GET", REVISION_PATH.format(namespace=namespace, name=revision_name)) if revision_name else None
        return Snapshot(isvc, revision=revision)


@dataclass
class Snapshot:
    """An InferenceService and the objects that show whether its predictor serves a version."""

    isvc: dict[str, Any]
    deployments: list[dict[str, Any]] = field(default_factory=list)  # RawDeployment
    replica_sets: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    revision: dict[str, Any] | None = None  # Serverless: the latest ready Revision


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _annotation(obj: dict[str, Any] | None) -> str | None:
    return (_meta(obj or {}).get("annotations") or {}).get(VERSION_ANNOTATION)


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def _predictor_status(isvc: dict[str, Any]) -> dict[str, Any]:
    return ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}


def is_raw_deployment(isvc: dict[str, Any]) -> bool:
    """status.deploymentMode (KServe records the mode it used), else the annotation, else:
    a predictor with Knative revisions is Serverless."""
    mode = (isvc.get("status") or {}).get("deploymentMode") or (_meta(isvc).get("annotations") or {}).get(DEPLOYMENT_MODE_ANNOTATION)
    if mode:
        return mode in RAW_MODES
    return not _predictor_status(isvc).get("latestCreatedRevision")


def readiness_problem(isvc: dict[str, Any]) -> str | None:
    """None when the InferenceService is Ready, else why not (from its conditions)."""
    conditions = (isvc.get("status") or {}).get("conditions") or []
    if _condition(isvc, "Ready").get("status") == "True":
        return None
    failing = [f"{c.get('type')}: {c.get('reason') or c.get('status')} {c.get('message') or ''}".strip()
               for c in conditions if c.get("status") != "True"]
    return "not Ready (" + ("; ".join(failing) or "no status yet") + ")"


def _live(pod: dict[str, Any]) -> bool:
    return not _meta(pod).get("deletionTimestamp") and (pod.get("status") or {}).get("phase") not in FINISHED_POD_PHASES


def _names(objects: list[dict[str, Any]]) -> list[str]:
    return [_meta(o).get("name", "?") for o in objects]


def _new_replica_set(deployment: dict[str, Any], replica_sets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ReplicaSet of the Deployment's current revision (the controller gives both the same
    deployment.kubernetes.io/revision annotation)."""
    uid, revision = _meta(deployment).get("uid"), (_meta(deployment).get("annotations") or {}).get(REVISION_ANNOTATION)
    for replica_set in replica_sets:
        owners = {o.get("uid") for o in _meta(replica_set).get("ownerReferences") or []}
        if uid in owners and revision and (_meta(replica_set).get("annotations") or {}).get(REVISION_ANNOTATION) == revision:
            return replica_set
    return None


def raw_deployment_state(snapshot: Snapshot, run_id: str) -> str | None:
    """None when the predictor Deployment serves `run_id` on every live pod, else what is missing."""
    main = [d for d in snapshot.deployments if not _meta(d).get("name", "").endswith("-worker")]
    if not main:
        return "no predictor Deployment exists yet"
    deployment = main[0]
    name = _meta(deployment).get("name")
    template = ((deployment.get("spec") or {}).get("template") or {})
    if _annotation(template) != run_id:
        return f"Deployment {name}'s pod template is still on {_annotation(template) or 'no version'} (KServe has not applied the annotation yet)"
    generation, observed = int(_meta(deployment).get("generation", 0)), int((deployment.get("status") or {}).get("observedGeneration", 0))
    if observed < generation:
        return f"the Deployment controller has not observed generation {generation} of {name} yet (observed {observed})"
    progressing = _condition(deployment, "Progressing")
    if progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        raise RolloutFailed(f"Deployment {name} will not finish its rollout: {progressing.get('message') or 'ProgressDeadlineExceeded'}")
    new_set = _new_replica_set(deployment, snapshot.replica_sets)
    if new_set is None:
        return f"the new ReplicaSet of Deployment {name} does not exist yet"
    template_hash = (_meta(new_set).get("labels") or {}).get("pod-template-hash")
    live = [p for p in snapshot.pods if _live(p)]
    new = [p for p in live if (_meta(p).get("labels") or {}).get("pod-template-hash") == template_hash]
    old = [p for p in live if p not in new]
    if old:
        return f"pods of an older ReplicaSet still run: {_names(old)}"
    stale = [p for p in new if _annotation(p) != run_id]
    if stale:
        return f"pods still on another version: {_names(stale)}"
    wanted = int((deployment.get("spec") or {}).get("replicas", 1))  # what an HPA scaled it to, now
    if wanted == 0:
        return f"Deployment {name} is scaled to 0 replicas: no pod would serve {run_id}"
    ready = [p for p in new if _condition(p, "Ready").get("status") == "True"]
    if len(ready) < wanted:
        waiting = [n for n in _names(new) if n not in _names(ready)]
        return f"{len(ready)} of {wanted} pods of ReplicaSet {_meta(new_set).get('name')} Ready (waiting for: {waiting or 'pods to be created'})"
    return None


def serverless_state(snapshot: Snapshot, run_id: str) -> str | None:
    """None when the latest created Knative revision is ready, carries `run_id` and takes all traffic."""
    predictor = _predictor_status(snapshot.isvc)
    created, ready = predictor.get("latestCreatedRevision"), predictor.get("latestReadyRevision")
    if not created:
        return "KServe reports no predictor revision yet"
    if created != ready:
        configuration = _condition(snapshot.isvc, "PredictorConfigurationReady")
        why = f"; {configuration.get('reason')}: {configuration.get('message')}" if configuration.get("status") == "False" else ""
        return f"revision {created} is not ready yet (latest ready: {ready or 'none'}{why})"
    if _annotation(snapshot.revision) != run_id:
        return f"the latest ready revision {ready} is on {_annotation(snapshot.revision) or 'no version'} (the revision for {run_id} is not created yet)"
    elsewhere = [f"{t.get('revisionName')} {t.get('percent')}%" for t in predictor.get("traffic") or []
                 if t.get("revisionName") != ready and t.get("percent")]
    if elsewhere:
        return f"traffic still goes to {', '.join(elsewhere)}"
    return None


def rollout_state(snapshot: Snapshot, run_id: str) -> str | None:
    """None when the InferenceService serves `run_id` everywhere and is Ready, else what is missing."""
    state = raw_deployment_state if is_raw_deployment(snapshot.isvc) else serverless_state
    missing = state(snapshot, run_id)
    if missing is None and readiness_problem(snapshot.isvc):
        return f"InferenceService {readiness_problem(snapshot.isvc)}"
    return missing


def awaited(isvc: dict[str, Any], run_id: str) -> str:
    """What the wait is for, in words, for the timeout message."""
    if is_raw_deployment(isvc):
        return (f"RawDeployment: every live predictor pod in the Deployment's new ReplicaSet Ready with "
                f"{VERSION_ANNOTATION}={run_id}")
    return f"Serverless: latest ready revision == latest created revision, with {VERSION_ANNOTATION}={run_id}"


def roll_inference_service(namespace: str, name: str, run_id: str, timeout_seconds: int,
                           client: ClusterClient | None = None, poll_seconds: float = POLL_SECONDS) -> None:
    client = client or ClusterClient()
    client.annotate_predictor(namespace, name, run_id)
    deadline = time.monotonic() + timeout_seconds
    while True:
        snapshot = client.snapshot(namespace, name)
        missing = rollout_state(snapshot, run_id)
        if missing is None:
            return
        if time.monotonic() >= deadline:
            raise ConfigError(f"InferenceService {namespace}/{name} did not serve {run_id} within {timeout_seconds} s "
                              f"(${ROLLOUT_TIMEOUT_ENV}); waited for {awaited(snapshot.isvc, run_id)}; "
                              f"still missing: {missing}")
        time.sleep(poll_seconds)


def endpoint_url(isvc: dict[str, Any], namespace: str, name: str) -> str:
    """Base URL of the predictor inside the cluster."""
    status = isvc.get("status", {})
    url = (status.get("address") or {}).get("url") or status.get("url")
    return (url or f"http://{name}-predictor.{namespace}.svc.cluster.local").rstrip("/")
