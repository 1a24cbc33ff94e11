"""Roll a KServe InferenceService to a promoted version, from inside a pipeline pod.

Plain `requests` to the API server with the pod's service-account token, TLS verified
against the in-cluster CA. The promote step merge-patches the predictor's pod
annotation `modelkit.io/served-version`, so KServe rolls out new predictor pods that
load the new file (no pod deleted by hand), then waits until the InferenceService has
observed the change, is Ready, and every live predictor pod carries the new version:
old pods that still look Running do not count.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import requests

from ..errors import ConfigError
from ..settings import SERVICE_ACCOUNT_TOKEN

SERVICE_ACCOUNT_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
VERSION_ANNOTATION = "modelkit.io/served-version"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
ISVC_PATH = "/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices/{name}"
PODS_PATH = "/api/v1/namespaces/{namespace}/pods"
REQUEST_TIMEOUT = 30


def in_cluster() -> bool:
    """True inside a pod that can talk to the API server (Kubernetes sets these)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_TOKEN.is_file()


class ClusterClient:
    def __init__(self) -> None:
        host = os.environ["KUBERNETES_SERVICE_HOST"]
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        self.base = f"https://{host}:{port}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {SERVICE_ACCOUNT_TOKEN.read_text().strip()}"
        self.session.verify = str(SERVICE_ACCOUNT_CA)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(method, self.base + path, timeout=REQUEST_TIMEOUT, **kwargs)
        if response.status_code >= 400:
            raise ConfigError(f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json()

    def annotate_predictor(self, namespace: str, name: str, run_id: str) -> int:
        """Merge-patch the served-version annotation; returns the new metadata.generation."""
        patch = {"spec": {"predictor": {"annotations": {VERSION_ANNOTATION: run_id}}}}
        result = self._call("PATCH", ISVC_PATH.format(namespace=namespace, name=name), json=patch,
                            headers={"Content-Type": "application/merge-patch+json"})
        return int(result["metadata"]["generation"])

    def inference_service(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call("GET", ISVC_PATH.format(namespace=namespace, name=name))

    def predictor_pods(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return self._call("GET", PODS_PATH.format(namespace=namespace), params={"labelSelector": f"{ISVC_LABEL}={name}"})["items"]


def readiness_problem(isvc: dict[str, Any]) -> str | None:
    """None when the InferenceService is Ready, else why not (from its conditions)."""
    conditions = isvc.get("status", {}).get("conditions", [])
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready and ready.get("status") == "True":
        return None
    failing = [f"{c.get('type')}: {c.get('reason') or c.get('status')} {c.get('message') or ''}".strip()
               for c in conditions if c.get("status") != "True"]
    return "not Ready (" + ("; ".join(failing) or "no status yet") + ")"


def rollout_state(isvc: dict[str, Any], pods: list[dict[str, Any]], generation: int, run_id: str) -> str | None:
    """None when the rollout to `run_id` is complete, else what is still missing."""
    status = isvc.get("status", {})
    if int(status.get("observedGeneration", 0)) < generation:
        return f"KServe has not yet observed generation {generation}"
    problem = readiness_problem(isvc)
    if problem:
        return f"InferenceService {problem}"
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    stale = [p["metadata"]["name"] for p in live
             if p["metadata"].get("annotations", {}).get(VERSION_ANNOTATION) != run_id]
    if stale:
        return f"pods still on another version: {stale}"
    unready = [p["metadata"]["name"] for p in live
               if not all(c.get("ready") for c in p.get("status", {}).get("containerStatuses", []))]
    if unready or not live:
        return f"new predictor pods not ready yet: {unready or 'none running'}"
    return None


def roll_inference_service(namespace: str, name: str, run_id: str, timeout_seconds: int = 600,
                           client: ClusterClient | None = None) -> None:
    client = client or ClusterClient()
    generation = client.annotate_predictor(namespace, name, run_id)
    deadline = time.monotonic() + timeout_seconds
    while True:
        missing = rollout_state(client.inference_service(namespace, name),
                                client.predictor_pods(namespace, name), generation, run_id)
        if missing is None:
            return
        if time.monotonic() > deadline:
            raise ConfigError(f"InferenceService {namespace}/{name} did not serve {run_id} within "
                              f"{timeout_seconds} s: {missing}")
        time.sleep(3)


def endpoint_url(isvc: dict[str, Any], namespace: str, name: str) -> str:
    """Base URL of the predictor inside the cluster."""
    status = isvc.get("status", {})
    url = (status.get("address") or {}).get("url") or status.get("url")
    return (url or f"http://{name}-predictor.{namespace}.svc.cluster.local").rstrip("/")
