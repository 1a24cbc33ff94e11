"""The live scorer and its Prometheus Operator objects, as rendered: what the Deployment runs
and mounts, who it is, what Prometheus scrapes, and that the monitoring kinds validate strictly
against prometheus-operator's CRDs (../shared/schemas/crds/monitoring-*.yaml)."""

from __future__ import annotations

import pytest

from chart_helpers import NAMESPACE, by_kind, crd_errors, find, helm, render, template_args

RWX = "storage.accessMode=ReadWriteMany"


def scorer_pod(docs):
    return find(docs, "Deployment", "modelkit-scorer")["spec"]["template"]["spec"]


def test_the_scorer_runs_modelkit_watch_on_the_served_models():
    spec = scorer_pod(render())
    [container] = spec["containers"]
    assert container["command"] == ["modelkit"]
    assert container["args"] == ["watch", "--models-root", "/mnt/models", "--interval", "60", "--port", "9100",
                                 "--predict-url-template",
                                 f"http://{{model}}-stable.{NAMESPACE}.svc/v1/models/{{model}}:predict"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PROMETHEUS_URL"] == "https://thanos-querier.openshift-monitoring.svc:9091"
    assert env["MODELKIT_REGISTRY"] == "/etc/modelkit/registry.json"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    [port] = container["ports"]
    assert port["containerPort"] == 9100


def test_the_scorer_cannot_change_the_models_and_fits_its_memory_budget():
    spec = scorer_pod(render())
    [container] = spec["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert mounts["model-storage"]["readOnly"] is True
    assert volumes["model-storage"]["persistentVolumeClaim"] == {"claimName": "model-storage-pvc", "readOnly": True}
    assert mounts["tmp"]["mountPath"] == "/tmp" and "emptyDir" in volumes["tmp"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["limits"]["memory"] == "300Mi", "issue 12: the scorer stays under 300 MiB"


def test_the_scorer_joins_the_storage_anchor_only_for_a_read_write_once_claim():
    """An RWO volume attaches to one node: the scorer must run where the troubleshooting pod holds it."""
    selector = scorer_pod(render())["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert selector["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "troubleshooting"
    assert "affinity" not in scorer_pod(render(sets=[RWX]))


def test_the_scorer_account_has_no_api_permissions_and_a_token_only_when_it_is_the_credential():
    docs = render()
    assert not [b for b in by_kind(docs, "RoleBinding") if any(s["name"] == "modelkit-scorer" for s in b["subjects"])]
    [binding] = [b for b in by_kind(docs, "ClusterRoleBinding") if b["subjects"][0]["name"] == "modelkit-scorer"]
    assert binding["roleRef"]["name"] == "cluster-monitoring-view"
    assert scorer_pod(docs)["automountServiceAccountToken"] is True
    spec = scorer_pod(render(sets=["prometheus.tokenSecret.name=thanos-token"]))
    assert spec["automountServiceAccountToken"] is False
    assert {"name": "prometheus-token", "mountPath": "/etc/prometheus-token", "readOnly": True} in spec["containers"][0]["volumeMounts"]
    docs = render(sets=["prometheus.clusterMonitoringView=false"])
    assert not [b for b in by_kind(docs, "ClusterRoleBinding") if b["subjects"][0]["name"] == "modelkit-scorer"]


@pytest.mark.parametrize("sets", [["prometheus.url="], ["scorer.enabled=false"]])
def test_no_scorer_without_prometheus_or_when_disabled(sets):
    docs = render(sets=sets)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert not {n for n in names if "modelkit-scorer" in n[1]}
    assert not by_kind(docs, "PrometheusRule")


def test_the_service_monitors_select_the_scorer_and_the_predictors_services():
    """prometheus-operator scrapes the Endpoints of the Services a ServiceMonitor selects, at the
    named Service port (the job label is the Service's name)."""
    docs = render()
    services = by_kind(docs, "Service")

    def selected(monitor):
        sel = monitor["spec"]["selector"]
        chosen = set()
        for svc in services:
            labels = svc["metadata"]["labels"]
            if all(labels.get(k) == v for k, v in sel.get("matchLabels", {}).items()) and all(
                    labels.get(e["key"]) in e["values"] for e in sel.get("matchExpressions", [])):
                ports = {p["name"] for p in svc["spec"]["ports"]}
                assert all(e["port"] in ports for e in monitor["spec"]["endpoints"]), svc["metadata"]["name"]
                chosen.add(svc["metadata"]["name"])
        return chosen

    assert selected(find(docs, "ServiceMonitor", "modelkit-scorer")) == {"modelkit-scorer"}
    assert selected(find(docs, "ServiceMonitor", "model-predictors")) == {"anomaly-detector-stable", "predictive-analytics-stable"}
    docs = render(sets=["monitoring.labels.release=kube-prometheus-stack"])
    assert all(m["metadata"]["labels"]["release"] == "kube-prometheus-stack"
               for m in by_kind(docs, "ServiceMonitor") + by_kind(docs, "PrometheusRule"))


def test_kserve_scraping_annotation_only_where_a_queue_proxy_serves_it():
    """KServe's pod webhook turns serving.kserve.io/enable-prometheus-scraping into prometheus.io/port
    of queue-proxy (kserve pkg/webhook/admission/pod/metrics_aggregate_injector.go); RawDeployment pods
    have none, so only Serverless InferenceServices carry it."""
    key = "serving.kserve.io/enable-prometheus-scraping"
    assert not [i for i in by_kind(render(), "InferenceService") if key in i["metadata"]["annotations"]]
    serverless = by_kind(render(sets=["serving.deploymentMode=Serverless", RWX]), "InferenceService")
    assert serverless and all(i["metadata"]["annotations"][key] == "true" for i in serverless)


def test_monitoring_objects_validate_strictly_and_the_check_is_not_vacuous():
    docs = render()
    monitoring = [d for d in docs if d["apiVersion"] == "monitoring.coreos.com/v1"]
    assert {d["kind"] for d in monitoring} == {"ServiceMonitor", "PrometheusRule"}
    assert not [e for d in monitoring for e in crd_errors(d)]
    monitor = find(docs, "ServiceMonitor", "modelkit-scorer")
    monitor["spec"]["endpoints"][0]["scrapeInterval"] = "30s"
    assert any("scrapeInterval" in e for e in crd_errors(monitor))
    rule = find(docs, "PrometheusRule", "modelkit-models")
    rule["spec"]["groups"][0]["rules"][0]["for"] = "3 minutes"
    assert any("for" in e for e in crd_errors(rule))


def test_the_scorer_does_not_hold_a_fresh_argocd_sync():
    """It is in the predictors' wave, the last one, which ArgoCD does not wait for (argocd_sync.py);
    its /readyz turns ready after its first cycle, which completes with no model served."""
    docs = render()
    waves = {(d["kind"], d["metadata"]["name"]): int(d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for d in docs}
    assert waves[("Deployment", "modelkit-scorer")] == waves[("InferenceService", "anomaly-detector")] == max(waves.values())


@pytest.mark.parametrize("setting,where", [
    ("monitoring.rules.alerts.anomalyDetected.for=3 minutes", "/monitoring/rules/alerts/anomalyDetected/for"),
    ("monitoring.rules.alerts.scorerDown.severity=page", "/monitoring/rules/alerts/scorerDown/severity"),
    ("monitoring.serviceMonitors.interval=30", "/monitoring/serviceMonitors/interval"),
    ("scorer.predictUrlTemplate=http://predictor/v1/models/x:predict", "/scorer/predictUrlTemplate"),
    ("scorer.interval=1", "/scorer/interval"),
    ("networkPolicy.scorer.scrapeNamespaces={Monitoring}", "/networkPolicy/scorer/scrapeNamespaces/0"),
])
def test_the_schema_refuses_bad_monitoring_settings(setting, where):
    result = helm(*template_args(sets=[setting]), check=False)
    assert result.returncode != 0 and where in result.stderr, result.stderr
