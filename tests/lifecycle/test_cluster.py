"""Rolling the InferenceService: when is a rollout really done? (issue 9 item 8)

The wait is played against recorded KServe/Kubernetes status objects (tests/lifecycle/
kserve_status), served by a real HTTPS API on loopback (fake_kube_api.py). The rules come
from KServe's source (kserve/kserve):

- pkg/apis/serving/v1beta1/inference_service_status.go: PropagateRawStatus ends with
  `ss.ObservedGeneration = deploymentList[0].Status.ObservedGeneration` and PropagateStatus
  (Serverless) with the Knative Service's, so the InferenceService's
  status.observedGeneration is never comparable with its own metadata.generation;
  PredictorReady follows the Deployment's Available condition, True all through a rolling
  update. ComponentStatusSpec has latestCreatedRevision / latestReadyRevision / traffic
  (status.components.predictor), and PropagateModelStatus treats a Serverless model as
  loaded only when the latest created revision is the latest ready one.
- pkg/controller/v1beta1/inferenceservice/reconcilers/deployment/deployment_reconciler.go:
  the predictor Deployment takes the component's metadata (labels
  serving.kserve.io/inferenceservice, component=predictor; the predictor annotations) for
  itself and its pod template; for an HPA (autoscalerClass != external) spec.replicas is
  left to the autoscaler; progressDeadlineSeconds defaults to 600.
- pkg/constants/constants.go: InferenceServicePodLabelKey, KServiceComponentLabel
  ("component"), DeploymentModeType RawDeployment/Serverless.
"""

import copy
import json
import os
import subprocess

import pytest
import requests

from modelkit.errors import ConfigError
from modelkit.lifecycle import cluster
from modelkit.lifecycle.cluster import (ROLLOUT_TIMEOUT_ENV, VERSION_ANNOTATION, ClusterClient,
                                        RolloutFailed, Snapshot, api_server_url, endpoint_url, readiness_problem,
                                        roll_inference_service, rollout_state)
from modelkit.lifecycle.smoke import compare
from modelkit.settings import DEFAULT_ROLLOUT_TIMEOUT, rollout_timeout

from .fake_kube_api import FakeKubeAPI, recorded

NAMESPACE, NAME, NEW, OLD = "self-healing-platform", "anomaly-detector", "run-20261201-v2", "run-20261124-v1"
TOKEN = "sa-token-for-tests"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    from fixtures.tls import make_pki

    return make_pki(tmp_path_factory.mktemp("kube-pki"))


@pytest.fixture
def in_pod(tmp_path, monkeypatch, pki):
    """The service-account files a pod gets, pointing at the test CA."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    monkeypatch.setattr(cluster, "SERVICE_ACCOUNT_TOKEN", token)
    monkeypatch.setattr(cluster, "SERVICE_ACCOUNT_CA", pki.ca_cert)

    def point_at(api):
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", api.host)
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(api.port))
    return point_at


def raw_stage(deployment="raw/deployment-complete", pods="raw/pods-complete"):
    return {"isvc": recorded("raw/inferenceservice"), "deployments": [recorded(deployment)],
            "replicasets": recorded("raw/replicasets")["items"], "pods": recorded(pods)["items"]}


def serverless_stage(isvc="serverless/inferenceservice-complete"):
    return {"isvc": recorded(isvc), "revisions": {f"anomaly-detector-predictor-{n}": recorded(f"serverless/revision-{n}")
                                                  for n in ("00003", "00004")}}


def raw_snapshot(**changes):
    stage = raw_stage(**changes)
    return Snapshot(stage["isvc"], deployments=stage["deployments"], replica_sets=stage["replicasets"], pods=stage["pods"])


def serverless_snapshot(isvc="serverless/inferenceservice-complete"):
    stage = serverless_stage(isvc)
    ready = stage["isvc"]["status"]["components"]["predictor"]["latestReadyRevision"]
    return Snapshot(stage["isvc"], revision=stage["revisions"][ready])


def test_a_raw_rollout_is_waited_for_through_the_rolling_update(in_pod, pki):
    """The recorded ISVC says observedGeneration 4 while its generation is 7 (KServe copied the
    Deployment's): the old wait never ended. The finished rollout still lists an evicted (Failed)
    pod and a terminating one, both with the old annotation: they do not count."""
    stages = [raw_stage("raw/deployment-rolling", "raw/pods-rolling"), raw_stage("raw/deployment-rolling", "raw/pods-rolling"),
              raw_stage()]
    with FakeKubeAPI(pki, TOKEN, stages) as api:
        in_pod(api)
        roll_inference_service(NAMESPACE, NAME, NEW, timeout_seconds=30, poll_seconds=0.01)
    assert api.stage == 2, "it waited until the rollout was complete"
    assert api.patches == [("application/merge-patch+json", {"spec": {"predictor": {"annotations": {VERSION_ANNOTATION: NEW}}}})]
    selector = "labelSelector=serving.kserve.io%2Finferenceservice%3Danomaly-detector%2Ccomponent%3Dpredictor"
    assert f"GET /apis/apps/v1/namespaces/{NAMESPACE}/deployments?{selector}" in api.requests


def test_a_serverless_rollout_ends_when_the_latest_created_revision_is_ready_with_the_version(in_pod, pki):
    stages = [serverless_stage("serverless/inferenceservice-rolling"), serverless_stage()]
    with FakeKubeAPI(pki, TOKEN, stages) as api:
        in_pod(api)
        roll_inference_service(NAMESPACE, NAME, NEW, timeout_seconds=30, poll_seconds=0.01)
    assert api.stage == 1
    assert f"GET /apis/serving.knative.dev/v1/namespaces/{NAMESPACE}/revisions/anomaly-detector-predictor-00004" in api.requests


@pytest.mark.parametrize("stage, waited_for, missing", [
    (raw_stage("raw/deployment-rolling", "raw/pods-rolling"), "RawDeployment: every live predictor pod",
     "pods of an older ReplicaSet still run: ['anomaly-detector-predictor-5d8f7c9b4-h4j8k'"),
    (serverless_stage("serverless/inferenceservice-failed-revision"), "Serverless: latest ready revision == latest created",
     "revision anomaly-detector-predictor-00004 is not ready yet (latest ready: anomaly-detector-predictor-00003; RevisionFailed"),
])
def test_a_rollout_that_never_finishes_times_out_naming_what_it_waited_for(in_pod, pki, stage, waited_for, missing):
    with FakeKubeAPI(pki, TOKEN, [stage]) as api:
        in_pod(api)
        with pytest.raises(ConfigError) as error:
            roll_inference_service(NAMESPACE, NAME, NEW, timeout_seconds=1, poll_seconds=0.05)
    message = str(error.value)
    assert f"did not serve {NEW} within 1 s (${ROLLOUT_TIMEOUT_ENV})" in message
    assert waited_for in message and missing in message


def scaled(deployment, replicas):
    deployment = copy.deepcopy(deployment)
    deployment["spec"]["replicas"] = replicas
    return deployment


def test_the_replica_count_is_whatever_the_hpa_scaled_the_deployment_to():
    snapshot = raw_snapshot()
    assert rollout_state(snapshot, NEW) is None  # 3 wanted, 3 new pods Ready
    snapshot.deployments = [scaled(snapshot.deployments[0], 4)]  # the HPA scaled up during the rollout
    assert "3 of 4 pods of ReplicaSet anomaly-detector-predictor-6b7d9f8c5 Ready" in rollout_state(snapshot, NEW)
    snapshot.deployments = [scaled(snapshot.deployments[0], 2)]  # or down: extra new pods are fine
    assert rollout_state(snapshot, NEW) is None


def with_changes(snapshot, change):
    change(snapshot)
    return snapshot


def _set(path, value):
    def change(snapshot):
        target = snapshot.deployments[0]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


@pytest.mark.parametrize("change, missing", [
    (_set(("spec", "template", "metadata", "annotations", VERSION_ANNOTATION), OLD),
     f"pod template is still on {OLD} (KServe has not applied the annotation yet)"),
    (_set(("metadata", "generation"), 5), "has not observed generation 5 of anomaly-detector-predictor yet (observed 4)"),
    (_set(("metadata", "annotations", "deployment.kubernetes.io/revision"), "4"), "the new ReplicaSet of Deployment"),
    (lambda s: s.pods[0]["status"]["conditions"][1].update(status="False"), "2 of 3 pods"),
    (lambda s: s.pods[0]["metadata"]["annotations"].update({VERSION_ANNOTATION: OLD}), "pods still on another version"),
    (lambda s: s.pods[4]["metadata"].pop("deletionTimestamp"), "pods of an older ReplicaSet still run"),
    (lambda s: s.isvc["status"]["conditions"][2].update(status="False", reason="IngressNotConfigured"), "InferenceService not Ready"),
    (lambda s: setattr(s, "deployments", []), "no predictor Deployment exists yet"),
    (_set(("spec", "replicas"), 0), "scaled to 0 replicas"),
])
def test_a_raw_rollout_is_not_done_while(change, missing):
    assert missing in rollout_state(with_changes(raw_snapshot(), change), NEW)


def test_a_deployment_past_its_progress_deadline_fails_at_once():
    snapshot = raw_snapshot(deployment="raw/deployment-rolling", pods="raw/pods-rolling")
    snapshot.deployments[0]["status"]["conditions"][1].update(
        status="False", reason="ProgressDeadlineExceeded",
        message='ReplicaSet "anomaly-detector-predictor-6b7d9f8c5" has timed out progressing.')
    with pytest.raises(RolloutFailed, match="has timed out progressing"):
        rollout_state(snapshot, NEW)


def test_a_serverless_rollout_is_not_done_while():
    assert "is not ready yet" in rollout_state(serverless_snapshot("serverless/inferenceservice-rolling"), NEW)
    stale = serverless_snapshot()
    stale.revision = recorded("serverless/revision-00003")  # Knative has not made the new revision yet
    assert f"is on {OLD} (the revision for {NEW} is not created yet)" in rollout_state(stale, NEW)
    split = serverless_snapshot()
    split.isvc["status"]["components"]["predictor"]["traffic"].append(
        {"latestRevision": False, "percent": 20, "revisionName": "anomaly-detector-predictor-00003"})
    assert "traffic still goes to anomaly-detector-predictor-00003 20%" in rollout_state(split, NEW)
    assert rollout_state(serverless_snapshot(), NEW) is None


def test_the_ca_is_passed_on_every_request_so_requests_ca_bundle_cannot_replace_it(in_pod, pki, tmp_path, monkeypatch):
    """requests merges REQUESTS_CA_BUNDLE over a Session's verify; a cluster image that sets it
    (for a proxy CA) made every API call fail certificate verification."""
    from fixtures.tls import make_pki

    (tmp_path / "other").mkdir()
    other = make_pki(tmp_path / "other")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_cert))
    with FakeKubeAPI(pki, TOKEN, [raw_stage()]) as api:
        in_pod(api)
        assert ClusterClient().inference_service(NAMESPACE, NAME)["metadata"]["name"] == NAME
        with pytest.raises(requests.exceptions.SSLError):  # the API server's CA is still required
            ClusterClient(ca_bundle=str(other.ca_cert)).inference_service(NAMESPACE, NAME)


def test_an_ipv6_api_server_address_is_bracketed(in_pod, pki):
    """KUBERNETES_SERVICE_HOST is an IPv6 address on single-stack IPv6 clusters (RFC 3986 wants brackets)."""
    assert api_server_url("fd00:10:96::1", "443") == "https://[fd00:10:96::1]:443"
    assert api_server_url("172.30.0.1", "443") == "https://172.30.0.1:443"
    with FakeKubeAPI(pki, TOKEN, [raw_stage()], host="::1") as api:
        in_pod(api)
        assert ClusterClient().inference_service(NAMESPACE, NAME)["kind"] == "InferenceService"


def test_the_rollout_budget_is_one_setting_below_the_promote_tasks_timeout(monkeypatch):
    """The promote Task's timeout is 10 min; the wait must end (with its message) before it."""
    monkeypatch.delenv(ROLLOUT_TIMEOUT_ENV, raising=False)
    assert rollout_timeout() == DEFAULT_ROLLOUT_TIMEOUT == 480 and DEFAULT_ROLLOUT_TIMEOUT < 9 * 60
    monkeypatch.setenv(ROLLOUT_TIMEOUT_ENV, "300")
    assert rollout_timeout() == 300 and rollout_timeout({ROLLOUT_TIMEOUT_ENV: ("--rollout-timeout", 120)}) == 120
    for bad in ("0", "1e3", "-5", "٣٠٠", "9999"):
        monkeypatch.setenv(ROLLOUT_TIMEOUT_ENV, bad)
        with pytest.raises(ConfigError, match=ROLLOUT_TIMEOUT_ENV):
            rollout_timeout()


def test_readiness_problem_names_the_failing_conditions():
    failed = recorded("serverless/inferenceservice-failed-revision")
    failed["status"]["conditions"][5].update(status="False", reason="RevisionMissing")
    assert readiness_problem(recorded("raw/inferenceservice")) is None
    assert "RevisionMissing" in readiness_problem(failed) and "RevisionFailed" in readiness_problem(failed)
    assert readiness_problem({}) == "not Ready (no status yet)"


def test_endpoint_url_prefers_the_status_address():
    isvc = recorded("raw/inferenceservice")
    assert endpoint_url(isvc, NAMESPACE, NAME) == "http://anomaly-detector-predictor.self-healing-platform.svc.cluster.local"
    assert endpoint_url({}, "ns", "x") == "http://x-predictor.ns.svc.cluster.local"


def test_smoke_comparison_needs_the_same_predictions_and_version():
    assert compare({"predictions": [1, -1], "model_version": "v2"}, [1, -1], "v2") == []
    assert "reports version 'v1'" in compare({"predictions": [1, -1], "model_version": "v1"}, [1, -1], "v2")[0]
    assert "differ from version v2" in compare({"predictions": [1, 1]}, [1, -1], "v2")[0]  # stock runtime: no version
    assert "expected 2 predictions" in compare({"error": "boom"}, [1, -1], "v2")[0]


def kubectl_json(*args):
    done = subprocess.run(["kubectl", *args, "-o", "json"], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.cluster
@pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="cluster path: set KUBECONFIG to a cluster with the chart installed")
def test_cluster_inference_services_have_converged_on_their_served_version():
    namespace = os.environ.get("NAMESPACE", "self-healing-platform")
    for name in ("anomaly-detector", "predictive-analytics"):
        isvc = kubectl_json("-n", namespace, "get", "inferenceservice", name)
        selector = f"serving.kserve.io/inferenceservice={name},component=predictor"
        revision = isvc.get("status", {}).get("components", {}).get("predictor", {}).get("latestReadyRevision")
        snapshot = Snapshot(isvc, **({"revision": kubectl_json("-n", namespace, "get", "revision", revision)} if revision else {
            "deployments": kubectl_json("-n", namespace, "get", "deployments", "-l", selector)["items"],
            "replica_sets": kubectl_json("-n", namespace, "get", "replicasets", "-l", selector)["items"],
            "pods": kubectl_json("-n", namespace, "get", "pods", "-l", selector)["items"]}))
        version = isvc["spec"]["predictor"].get("annotations", {}).get(VERSION_ANNOTATION)
        if version:
            assert rollout_state(snapshot, version) is None
        else:
            assert readiness_problem(isvc) is None
