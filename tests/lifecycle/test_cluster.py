"""Rolling the InferenceService: when is a rollout really done? Cluster calls need KUBECONFIG."""

import json
import os
import subprocess

import pytest

from modelkit.lifecycle.cluster import VERSION_ANNOTATION, endpoint_url, readiness_problem, rollout_state
from modelkit.lifecycle.smoke import compare


def isvc(generation=2, observed=2, ready="True"):
    return {"metadata": {"generation": generation},
            "status": {"observedGeneration": observed,
                       "conditions": [{"type": "PredictorReady", "status": ready},
                                      {"type": "Ready", "status": ready, "reason": None if ready == "True" else "RevisionMissing"}],
                       "address": {"url": "http://anomaly-detector-predictor.ns.svc.cluster.local"}}}


def pod(name, version, ready=True, terminating=False):
    metadata = {"name": name, "annotations": {VERSION_ANNOTATION: version}}
    if terminating:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": metadata, "status": {"phase": "Running", "containerStatuses": [{"ready": ready}]}}


def test_rollout_is_done_only_when_observed_ready_and_every_live_pod_is_new_and_ready():
    assert rollout_state(isvc(), [pod("new", "v2")], 2, "v2") is None
    assert rollout_state(isvc(), [pod("new", "v2"), pod("old", "v1", terminating=True)], 2, "v2") is None


@pytest.mark.parametrize("service, pods, missing", [
    (isvc(observed=1), [pod("new", "v2")], "not yet observed generation 2"),
    (isvc(ready="False"), [pod("new", "v2")], "not Ready"),
    (isvc(), [pod("old", "v1"), pod("new", "v2")], "pods still on another version: ['old']"),  # old pod still Running
    (isvc(), [pod("new", "v2", ready=False)], "not ready yet"),
    (isvc(), [], "none running"),
])
def test_rollout_is_not_done_while(service, pods, missing):
    assert missing in rollout_state(service, pods, 2, "v2")


def test_readiness_problem_names_the_failing_conditions():
    assert readiness_problem(isvc()) is None
    assert "RevisionMissing" in readiness_problem(isvc(ready="False"))
    assert readiness_problem({}) == "not Ready (no status yet)"


def test_endpoint_url_prefers_the_status_address():
    assert endpoint_url(isvc(), "ns", "anomaly-detector") == "http://anomaly-detector-predictor.ns.svc.cluster.local"
    assert endpoint_url({}, "ns", "x") == "http://x-predictor.ns.svc.cluster.local"


def test_smoke_comparison_needs_the_same_predictions_and_version():
    assert compare({"predictions": [1, -1], "model_version": "v2"}, [1, -1], "v2") == []
    assert "reports version 'v1'" in compare({"predictions": [1, -1], "model_version": "v1"}, [1, -1], "v2")[0]
    assert "differ from version v2" in compare({"predictions": [1, 1]}, [1, -1], "v2")[0]  # stock runtime: no version
    assert "expected 2 predictions" in compare({"error": "boom"}, [1, -1], "v2")[0]


@pytest.mark.cluster
@pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="cluster path: set KUBECONFIG to a cluster with the chart installed")
def test_cluster_inference_services_have_converged_on_their_served_version():
    namespace = os.environ.get("NAMESPACE", "self-healing-platform")
    for name in ("anomaly-detector", "predictive-analytics"):
        service = json.loads(subprocess.run(["kubectl", "-n", namespace, "get", "inferenceservice", name, "-o", "json"],
                                            capture_output=True, text=True, check=True).stdout)
        pods = json.loads(subprocess.run(["kubectl", "-n", namespace, "get", "pods", "-l",
                                          f"serving.kserve.io/inferenceservice={name}", "-o", "json"],
                                         capture_output=True, text=True, check=True).stdout)["items"]
        version = service["spec"]["predictor"].get("annotations", {}).get(VERSION_ANNOTATION)
        if version:
            assert rollout_state(service, pods, service["metadata"]["generation"], version) is None
        else:
            assert readiness_problem(service) is None
