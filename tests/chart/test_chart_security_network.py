"""NetworkPolicies, judged on the rendered objects: who reaches the predictors, what the pods reach.

The policies select pods by labels that controllers set, so the tests build each pod's labels
the way its controller does:
- KServe predictor pods carry `serving.kserve.io/inferenceservice: <InferenceService name>`
  (kserve/kserve pkg/constants/constants.go, InferenceServicePodLabelKey).
- Tekton task pods carry `tekton.dev/pipeline: <pipelineRef.name>` (set on the PipelineRun by
  pkg/reconciler/pipelinerun/pipelinerun.go propagatePipelineNameLabelToPipelineRun),
  `tekton.dev/task: <Task name>`, `tekton.dev/pipelineTask`, `tekton.dev/pipelineRun`, and the
  labels of the PipelineRun and of the Task (tektoncd/pipeline docs/labels.md).
- Deployments, Jobs and CronJobs: their pod template's labels.
Then a small evaluator applies the Kubernetes NetworkPolicy rules (policies add up; a pod no
policy selects for a direction is unrestricted in it; peers and ports of one rule must both match).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest
import yaml

from chart_helpers import NAMESPACE, OVERLAYS, by_kind, find, helm, render, template_args

PIPELINE = "model-training-pipeline"


@dataclass
class Pod:
    where: str
    labels: dict[str, str]
    namespace: str = NAMESPACE


@dataclass
class Remote:
    """The other end of a connection: a pod (namespace + labels) or an address outside the cluster."""
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    ip: str | None = None


# --- the pods the rendered objects make, labelled as their controllers label them --------------

def tekton_pods(docs: list[dict]) -> list[Pod]:
    """One pod per pipeline task of each scheduled run's Pipeline (the guide's runs name the same one)."""
    pods = []
    tasks = {t["metadata"]["name"]: t for t in by_kind(docs, "Task")}
    for cm in by_kind(docs, "ConfigMap"):
        if not cm["metadata"]["name"].endswith("-training-run"):
            continue
        run = yaml.safe_load(cm["data"]["pipelinerun.yaml"])
        pipeline_name = run["spec"]["pipelineRef"]["name"]
        pipeline = find(docs, "Pipeline", pipeline_name)
        for entry in pipeline["spec"]["tasks"] + pipeline["spec"].get("finally", []):
            task = tasks[entry["taskRef"]["name"]]
            labels = {**task["metadata"].get("labels", {}), **run["metadata"].get("labels", {}),
                      "tekton.dev/pipeline": pipeline_name, "tekton.dev/pipelineRun": f"{run['metadata']['generateName']}x1",
                      "tekton.dev/pipelineTask": entry["name"], "tekton.dev/task": task["metadata"]["name"],
                      "tekton.dev/taskRun": f"{run['metadata']['generateName']}x1-{entry['name']}",
                      "app.kubernetes.io/managed-by": "tekton-pipelines"}
            pods.append(Pod(f"Task/{task['metadata']['name']} ({cm['metadata']['name']})", labels))
    return pods


def rendered_pods(docs: list[dict]) -> list[Pod]:
    pods = tekton_pods(docs)
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind in ("Deployment", "Job"):
            pods.append(Pod(f"{kind}/{name}", doc["spec"]["template"]["metadata"]["labels"]))
        elif kind == "CronJob":
            pods.append(Pod(f"{kind}/{name}", doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]))
        elif kind == "InferenceService":
            pods.append(Pod(f"{kind}/{name}", {"serving.kserve.io/inferenceservice": name, "component": "predictor"}))
    return pods


def pod(pods: list[Pod], where_prefix: str) -> Pod:
    matching = [p for p in pods if p.where.startswith(where_prefix)]
    assert matching, f"no rendered pod {where_prefix!r}"
    return matching[0]


# --- NetworkPolicy semantics ------------------------------------------------------------------

def selects(selector: dict, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        present, value = expr["key"] in labels, labels.get(expr["key"])
        ok = {"In": present and value in expr.get("values", []),
              "NotIn": not (present and value in expr.get("values", [])),
              "Exists": present, "DoesNotExist": not present}[expr["operator"]]
        if not ok:
            return False
    return True


def peer_matches(peer: dict, policy_namespace: str, remote: Remote) -> bool:
    if "ipBlock" in peer:
        if remote.ip is None:
            return False
        address = ipaddress.ip_address(remote.ip)
        block = peer["ipBlock"]
        return (address in ipaddress.ip_network(block["cidr"])
                and not any(address in ipaddress.ip_network(e) for e in block.get("except", [])))
    if remote.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": remote.namespace}):
            return False
    elif remote.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector", {}), remote.labels)


def port_matches(ports: list[dict] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and ("port" not in p or p["port"] <= port <= p.get("endPort", p["port"]))
               for p in ports)


def allowed(docs: list[dict], local: Pod, direction: str, remote: Remote, port: int, protocol: str = "TCP") -> bool:
    """Whether the policies let `local` make (Egress) or accept (Ingress) this connection."""
    policies = [p for p in by_kind(docs, "NetworkPolicy")
                if p["metadata"]["namespace"] == local.namespace and selects(p["spec"]["podSelector"], local.labels)
                and direction in p["spec"].get("policyTypes", ["Ingress"])]
    if not policies:
        return True
    peers_key = "from" if direction == "Ingress" else "to"
    for policy in policies:
        for rule in policy["spec"].get(direction.lower(), []):
            peers = rule.get(peers_key) or [{"namespaceSelector": {}}, {"ipBlock": {"cidr": "0.0.0.0/0"}}]
            if (any(peer_matches(peer, policy["metadata"]["namespace"], remote) for peer in peers)
                    and port_matches(rule.get("ports"), port, protocol)):
                return True
    return False


def from_namespace(name: str, **labels: str) -> Remote:
    return Remote(namespace=name, labels=labels)


# --- tests ----------------------------------------------------------------------------------

def test_the_evaluator_applies_selectors_ports_and_blocks():
    """The helpers above are not vacuous: each kind of mismatch is told apart."""
    assert selects({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]}, {"a": "x"})
    assert not selects({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]}, {"a": "y"})
    assert not selects({"matchLabels": {"a": "x"}}, {})
    block = {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}
    assert peer_matches(block, NAMESPACE, Remote(ip="10.2.0.1")) and not peer_matches(block, NAMESPACE, Remote(ip="10.1.0.1"))
    assert not peer_matches({"podSelector": {}}, NAMESPACE, from_namespace("other"))
    assert not port_matches([{"protocol": "TCP", "port": 53}], 53, "UDP")


@pytest.mark.parametrize("values", [[], *OVERLAYS], ids=["defaults", *(p.name for p in OVERLAYS)])
def test_each_policy_selects_exactly_the_pods_it_is_for(values):
    docs = render(values=[values] if values else [])
    pods = rendered_pods(docs)
    expected = {
        "model-predictors": {p.where for p in pods if p.where.startswith("InferenceService/")},
        "model-training": {p.where for p in pods if p.where.startswith("Task/")},
        "model-training-git": {p.where for p in pods if p.where.startswith("Task/model-training-fetch-source ")},
        "model-training-trigger": {p.where for p in pods if p.where.startswith(("CronJob/", "Job/model-first-training"))},
        "model-troubleshooting-utilities": {"Deployment/model-troubleshooting-utilities"},
        "modelkit-scorer": {"Deployment/modelkit-scorer"},
    }
    if not any(p.where == "Deployment/modelkit-scorer" for p in pods):  # no prometheus.url, no scorer
        del expected["modelkit-scorer"]
    policies = {p["metadata"]["name"]: p for p in by_kind(docs, "NetworkPolicy")}
    assert set(policies) == set(expected)
    for name, policy in policies.items():
        selected = {p.where for p in pods if selects(policy["spec"]["podSelector"], p.labels)}
        assert selected == expected[name] and selected, name
    # Every pod the chart makes is covered in at least one direction.
    assert all(any(selects(p["spec"]["podSelector"], pd.labels) for p in policies.values()) for pd in pods)


def test_predictors_accept_only_this_namespace_and_the_platform_namespaces():
    docs = render()
    predictor = pod(rendered_pods(docs), "InferenceService/anomaly-detector")
    assert allowed(docs, predictor, "Ingress", from_namespace(NAMESPACE, app="self-healing-engine"), 8080)
    for platform in ("redhat-ods-applications", "knative-serving", "istio-system", "openshift-ingress", "openshift-monitoring"):
        assert allowed(docs, predictor, "Ingress", from_namespace(platform), 8080), platform
    assert not allowed(docs, predictor, "Ingress", from_namespace("another-tenant"), 8080)
    assert not allowed(docs, predictor, "Ingress", Remote(ip="203.0.113.7"), 8080)


def test_predictor_sources_are_configurable():
    docs = render(sets=["networkPolicy.predictors.fromNamespaces={my-gateway}",
                        "networkPolicy.predictors.extraFrom[0].ipBlock.cidr=192.0.2.0/24"])
    predictor = pod(rendered_pods(docs), "InferenceService/predictive-analytics")
    assert allowed(docs, predictor, "Ingress", from_namespace("my-gateway"), 8080)
    assert allowed(docs, predictor, "Ingress", Remote(ip="192.0.2.10"), 8080)
    assert not allowed(docs, predictor, "Ingress", from_namespace("istio-system"), 8080)


def test_a_disabled_model_gets_no_predictor_rule_and_none_at_all_leaves_no_empty_selector():
    docs = render(sets=["tekton.modelTraining.predictiveAnalytics.enabled=false"])
    selector = find(docs, "NetworkPolicy", "model-predictors")["spec"]["podSelector"]
    assert selector["matchExpressions"][0]["values"] == ["anomaly-detector"]
    docs = render(sets=["modelOverrides.enabled=false"])
    assert not [p for p in by_kind(docs, "NetworkPolicy") if p["metadata"]["name"] == "model-predictors"]


def test_troubleshooting_pod_accepts_no_connection():
    docs = render()
    utilities = pod(rendered_pods(docs), "Deployment/model-troubleshooting-utilities")
    for source in (from_namespace(NAMESPACE), from_namespace("openshift-monitoring"), Remote(ip="10.0.0.5")):
        assert not allowed(docs, utilities, "Ingress", source, 8080)
    # The guide's diagnosis queries Prometheus from it; nothing else leaves it.
    assert allowed(docs, utilities, "Egress", from_namespace("openshift-monitoring"), 9091)
    assert allowed(docs, utilities, "Egress", from_namespace("openshift-dns"), 5353, "UDP")
    assert not allowed(docs, utilities, "Egress", Remote(ip="140.82.112.3"), 443)
    assert not allowed(docs, utilities, "Egress", from_namespace(NAMESPACE), 8080)


def test_training_pods_reach_only_what_the_pipeline_needs():
    docs = render()
    pods = rendered_pods(docs)
    train, fetch = pod(pods, "Task/model-training-train-anomaly-detector "), pod(pods, "Task/model-training-fetch-source ")
    smoke = pod(pods, "Task/model-training-smoke-test ")
    for task in (train, fetch, smoke):
        assert allowed(docs, task, "Egress", from_namespace("openshift-dns"), 5353, "UDP")
        assert allowed(docs, task, "Egress", Remote(ip="10.0.0.1"), 6443), "API server"
        assert not allowed(docs, task, "Ingress", from_namespace(NAMESPACE), 8080)
        assert not allowed(docs, task, "Egress", from_namespace("another-tenant"), 8080)
    assert allowed(docs, train, "Egress", from_namespace("openshift-monitoring", **{"app.kubernetes.io/name": "thanos-query"}), 9091)
    assert allowed(docs, smoke, "Egress", from_namespace(NAMESPACE, **{"serving.kserve.io/inferenceservice": "anomaly-detector"}), 8080)
    # Serverless: `<isvc>-predictor.<ns>.svc` points at the local gateway (kserve constants.go LocalGatewayHost).
    assert allowed(docs, smoke, "Egress", from_namespace("istio-system", istio="knative-local-gateway"), 8081)
    # Only fetch-source reaches git; the train step, which runs the notebook's code, reaches no outside address.
    assert allowed(docs, fetch, "Egress", Remote(ip="140.82.112.3"), 443)
    assert allowed(docs, fetch, "Egress", Remote(ip="140.82.112.3"), 22)
    assert not allowed(docs, fetch, "Egress", Remote(ip="140.82.112.3"), 80)
    assert not allowed(docs, train, "Egress", Remote(ip="140.82.112.3"), 443)
    assert not allowed(docs, train, "Egress", Remote(ip="140.82.112.3"), 22)


def test_trigger_pods_reach_only_dns_and_the_api_server():
    docs = render()
    for trigger in (pod(rendered_pods(docs), "CronJob/weekly-anomaly-detector-training"),
                    pod(rendered_pods(docs), "Job/model-first-training")):
        assert allowed(docs, trigger, "Egress", Remote(ip="10.0.0.1"), 6443)
        assert allowed(docs, trigger, "Egress", from_namespace("openshift-dns"), 53, "UDP")
        assert not allowed(docs, trigger, "Egress", from_namespace("openshift-monitoring"), 9091)
        assert not allowed(docs, trigger, "Egress", Remote(ip="140.82.112.3"), 443)
        assert not allowed(docs, trigger, "Ingress", from_namespace(NAMESPACE), 8080)


def test_training_egress_is_configurable():
    docs = render(sets=["networkPolicy.training.git.cidrs={140.82.112.0/20}",
                        "networkPolicy.training.apiServer.cidrs={10.0.0.0/24}",
                        "networkPolicy.training.apiServer.ports={443,6443}",
                        "networkPolicy.training.prometheus.namespaces={monitoring}"])
    pods = rendered_pods(docs)
    fetch, train = pod(pods, "Task/model-training-fetch-source "), pod(pods, "Task/model-training-train-anomaly-detector ")
    assert allowed(docs, fetch, "Egress", Remote(ip="140.82.112.3"), 443)
    assert not allowed(docs, fetch, "Egress", Remote(ip="8.8.8.8"), 443)
    assert allowed(docs, train, "Egress", Remote(ip="10.0.0.1"), 443)
    assert not allowed(docs, train, "Egress", Remote(ip="10.9.0.1"), 6443)
    assert allowed(docs, train, "Egress", from_namespace("monitoring"), 9091)
    assert not allowed(docs, train, "Egress", from_namespace("openshift-monitoring"), 9091)


def test_no_prometheus_url_means_no_prometheus_egress():
    docs = render(values=[p for p in OVERLAYS if p.name == "dev.yaml"])
    train = pod(rendered_pods(docs), "Task/model-training-train-anomaly-detector ")
    assert not allowed(docs, train, "Egress", from_namespace("openshift-monitoring"), 9091)


def test_network_policies_can_be_turned_off():
    assert not by_kind(render(sets=["networkPolicy.enabled=false"]), "NetworkPolicy")


@pytest.mark.parametrize("setting,where", [
    ("networkPolicy.training.git.cidrs={github.com}", "/networkPolicy/training/git/cidrs/0"),
    ("networkPolicy.training.apiServer.ports={0}", "/networkPolicy/training/apiServer/ports/0"),
    ("networkPolicy.training.prometheus.namespaces=null", "/networkPolicy/training/prometheus"),
    ("networkPolicy.predictors.fromNamespaces={Not_A_Namespace}", "/networkPolicy/predictors/fromNamespaces/0"),
])
def test_the_schema_refuses_bad_network_settings(setting, where):
    result = helm(*template_args(sets=[setting]), check=False)
    assert result.returncode != 0 and where in result.stderr, result.stderr


def test_the_scorer_is_scraped_by_monitoring_only_and_reaches_what_it_scores():
    """Ingress only from the monitoring namespaces on the metrics port; egress to DNS, Prometheus
    and the predictors' model server port, not the API server nor the outside."""
    docs = render()
    scorer = pod(rendered_pods(docs), "Deployment/modelkit-scorer")
    for monitoring in ("openshift-monitoring", "openshift-user-workload-monitoring"):
        assert allowed(docs, scorer, "Ingress", from_namespace(monitoring, **{"app.kubernetes.io/name": "prometheus"}), 9100)
        assert not allowed(docs, scorer, "Ingress", from_namespace(monitoring), 8080)
    assert not allowed(docs, scorer, "Ingress", from_namespace(NAMESPACE), 9100)
    assert not allowed(docs, scorer, "Ingress", from_namespace("another-tenant"), 9100)
    assert allowed(docs, scorer, "Egress", from_namespace("openshift-dns"), 5353, "UDP")
    assert allowed(docs, scorer, "Egress", from_namespace("openshift-monitoring"), 9091)
    predictor = pod(rendered_pods(docs), "InferenceService/predictive-analytics")
    assert allowed(docs, scorer, "Egress", from_namespace(NAMESPACE, **predictor.labels), 8080)
    assert allowed(docs, predictor, "Ingress", from_namespace(NAMESPACE, **scorer.labels), 8080)
    assert not allowed(docs, scorer, "Egress", from_namespace(NAMESPACE, **predictor.labels), 22)
    assert not allowed(docs, scorer, "Egress", from_namespace(NAMESPACE), 8080), "only the predictors"
    assert not allowed(docs, scorer, "Egress", Remote(ip="10.0.0.1"), 6443), "no API server"
    assert not allowed(docs, scorer, "Egress", Remote(ip="140.82.112.3"), 443)
    docs = render(sets=["networkPolicy.scorer.scrapeNamespaces={monitoring}", "scorer.port=9200"])
    scorer = pod(rendered_pods(docs), "Deployment/modelkit-scorer")
    assert allowed(docs, scorer, "Ingress", from_namespace("monitoring"), 9200)
    assert not allowed(docs, scorer, "Ingress", from_namespace("openshift-monitoring"), 9200)
