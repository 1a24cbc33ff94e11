"""scripts/preflight.sh against a fake `oc` that answers from recorded cluster objects."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from scripts.fake_cluster import install

PROJECT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT / "scripts" / "preflight.sh"
NS = "self-healing-platform"
# What the registry's longest training window plus the 24 h feature warm-up needs of Prometheus.
NEEDED_HOURS = max(m["trainingHours"] for m in yaml.safe_load((PROJECT / "charts/hub/values.yaml").read_text())["models"]) + 24


def crd(name, versions=("v1",)):
    return {"kind": "CustomResourceDefinition", "metadata": {"name": name},
            "spec": {"versions": [{"name": v, "served": True} for v in versions]}}


def configmap(namespace, name, data):
    return {"kind": "ConfigMap", "metadata": {"namespace": namespace, "name": name}, "data": data}


def storage_class(name, provisioner, default=False, binding="WaitForFirstConsumer"):
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"kind": "StorageClass", "metadata": {"name": name, "annotations": annotations},
            "provisioner": provisioner, "volumeBindingMode": binding}


def namespace(name, labels=None):
    return {"kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


# An OpenShift 4.16 cluster with OpenShift Pipelines 1.15, OpenShift AI (RawDeployment default),
# gp3-csi as the default class, platform Prometheus keeping 60 days and OpenShift GitOps.
HEALTHY = [
    namespace("default"), namespace("openshift-gitops"),
    crd("pipelineruns.tekton.dev", ("v1beta1", "v1")),
    configmap("openshift-pipelines", "pipelines-info", {"version": "v0.59.2"}),
    configmap("openshift-pipelines", "feature-flags", {"enable-api-fields": "stable"}),
    crd("inferenceservices.serving.kserve.io", ("v1beta1",)), crd("servingruntimes.serving.kserve.io", ("v1alpha1",)),
    crd("datascienceclusters.datasciencecluster.opendatahub.io"),
    {"kind": "DataScienceCluster", "metadata": {"name": "default-dsc"},
     "spec": {"components": {"kserve": {"managementState": "Managed"}}}},
    configmap("redhat-ods-applications", "inferenceservice-config", {"deploy": '{"defaultDeploymentMode": "RawDeployment"}'}),
    storage_class("gp3-csi", "ebs.csi.aws.com", default=True),
    {"kind": "Prometheus", "metadata": {"namespace": "openshift-monitoring", "name": "k8s"}, "spec": {"retention": "60d"}},
]


def run(tmp_path, objects, *args):
    log = install(tmp_path / "bin", objects)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "KUBECTL": ""}
    done = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env=env)
    calls = log.read_text().splitlines() if log.exists() else []
    return done, calls


def line(done, check):
    [found] = [l for l in done.stdout.splitlines() if l.split()[1:2] == [check]]
    return found


def changed(edit):
    objects = copy.deepcopy(HEALTHY)
    edit(objects)
    return objects


def obj(objects, kind, name):
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def drop(kind, name):
    return lambda objects: objects.remove(obj(objects, kind, name))


def test_a_cluster_with_everything_passes_and_only_reads(tmp_path):
    done, calls = run(tmp_path, HEALTHY)
    assert done.returncode == 0, done.stdout + done.stderr
    statuses = {l.split()[1]: l.split()[0] for l in done.stdout.splitlines()[:-1]}
    assert statuses == {"cluster": "OK", "tekton": "OK", "tekton-api-fields": "OK", "kserve": "OK",
                        "sklearn-runtime": "OK", "storage": "OK", "prometheus": "OK", "argocd": "OK"}
    assert "Tekton Pipelines v0.59.2" in line(done, "tekton")
    assert "enable-api-fields=stable" in line(done, "tekton-api-fields")
    assert "gp3-csi (ebs.csi.aws.com, WaitForFirstConsumer): ReadWriteOnce" in line(done, "storage")
    assert calls and all(c.split()[2] == "get" for c in calls), calls


@pytest.mark.parametrize("edit,args,check,message", [
    (drop("CustomResourceDefinition", "pipelineruns.tekton.dev"), [], "tekton", "install OpenShift Pipelines 1.12 or later"),
    (lambda o: obj(o, "ConfigMap", "pipelines-info")["data"].update(version="v0.44.5"), [], "tekton",
     "Tekton Pipelines v0.44.5 is older than v0.50"),
    (drop("CustomResourceDefinition", "inferenceservices.serving.kserve.io"), [], "kserve", "no InferenceService API"),
    (drop("CustomResourceDefinition", "servingruntimes.serving.kserve.io"), [], "sklearn-runtime", "no ServingRuntime API"),
    (lambda o: obj(o, "DataScienceCluster", "default-dsc")["spec"]["components"]["kserve"].update(managementState="Removed"), [], "kserve",
     "kserve 'Removed': set spec.components.kserve.managementState=Managed"),
    (lambda o: None, ["--deployment-mode", "Serverless"], "kserve", "Knative Serving is not installed"),
    (lambda o: None, ["--access-mode", "ReadWriteMany"], "storage",
     "gp3-csi (ebs.csi.aws.com) offers ReadWriteOnce only: the ReadWriteMany claim would stay Pending"),
    (lambda o: obj(o, "StorageClass", "gp3-csi")["metadata"].update(annotations={}), [], "storage", "no default StorageClass"),
    (lambda o: None, ["--storage-class", "fast"], "storage", "no StorageClass 'fast'"),
    (lambda o: obj(o, "Prometheus", "k8s")["spec"].update(retention="1w"), [], "prometheus", f"keeps 1w (168 h) < {NEEDED_HOURS} h"),
    (lambda o: obj(o, "Prometheus", "k8s")["spec"].pop("retention"), ["--training-hours", "720"], "prometheus",
     "keeps 15d (360 h) < 744 h"),
    (lambda o: o.append(namespace(NS)), [], "argocd",
     f"oc label namespace {NS} argocd.argoproj.io/managed-by=openshift-gitops --overwrite"),
    (lambda o: None, ["--existing-runtime", "kserve-sklearnserver"], "sklearn-runtime", "no ServingRuntime 'kserve-sklearnserver'"),
    (lambda o: o.append({"kind": "ClusterServingRuntime", "metadata": {"name": "kserve-sklearnserver"},
                         "spec": {"supportedModelFormats": [{"name": "sklearn"}]}}),
     ["--existing-runtime", "kserve-sklearnserver"], "sklearn-runtime", "OpenShift AI never looks up"),
    (lambda o: o.append({"kind": "ServingRuntime", "metadata": {"namespace": NS, "name": "ovms"},
                         "spec": {"supportedModelFormats": [{"name": "onnx"}]}}),
     ["--existing-runtime", "ovms"], "sklearn-runtime", "ovms lists no sklearn model format"),
])
def test_a_missing_prerequisite_fails_naming_what_to_do(tmp_path, edit, args, check, message):
    done, _ = run(tmp_path, changed(edit), *args)
    assert done.returncode == 1, done.stdout
    assert line(done, check).startswith("FAIL") and message in line(done, check), done.stdout
    assert "check(s) failed" in done.stderr


@pytest.mark.parametrize("edit,args,check,message", [
    (lambda o: None, ["--training-hours", "168"], "prometheus", "keeps 60d (1440 h) >= 192 h"),
    (lambda o: None, [], "prometheus", f"keeps 60d (1440 h) >= {NEEDED_HOURS} h"),
    (lambda o: o.append(namespace(NS, {"argocd.argoproj.io/managed-by": "openshift-gitops"})), [], "argocd",
     f"namespace {NS} is managed by openshift-gitops"),
    (lambda o: o.append(storage_class("cephfs", "openshift-storage.cephfs.csi.ceph.com")),
     ["--access-mode", "ReadWriteMany", "--storage-class", "cephfs"], "storage", "cephfs (openshift-storage.cephfs.csi.ceph.com, WaitForFirstConsumer) offers ReadWriteMany"),
    (lambda o: o.append({"kind": "ServingRuntime", "metadata": {"namespace": NS, "name": "sk"},
                         "spec": {"supportedModelFormats": [{"name": "sklearn"}]}}),
     ["--existing-runtime", "sk"], "sklearn-runtime", "sk serves sklearn"),
    (drop("Namespace", "openshift-gitops"), [], "argocd", "SKIP"),
    (lambda o: None, ["--no-argocd"], "argocd", "SKIP"),
])
def test_what_the_options_change_passes(tmp_path, edit, args, check, message):
    done, _ = run(tmp_path, changed(edit), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert message in line(done, check)


def test_an_unknown_storage_provisioner_is_a_warning_for_readwritemany(tmp_path):
    objects = changed(lambda o: o.append(storage_class("nas", "example.com/nas")))
    done, _ = run(tmp_path, objects, "--access-mode", "ReadWriteMany", "--storage-class", "nas")
    assert done.returncode == 0 and line(done, "storage").startswith("WARN")


def test_an_unreachable_cluster_stops_at_the_first_check(tmp_path):
    done, calls = run(tmp_path, [])
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL cluster") and "log in (oc login" in done.stdout
    assert len(calls) == 1


@pytest.mark.parametrize("args,message", [
    (["--access-mode", "RWX"], "--access-mode must be ReadWriteOnce or ReadWriteMany"),
    (["--training-hours", "1; rm -rf /"], "--training-hours must be a whole number"),
    (["--bogus"], "unknown option '--bogus'"),
])
def test_bad_options_are_refused(tmp_path, args, message):
    done, calls = run(tmp_path, HEALTHY, *args)
    assert done.returncode != 0 and message in done.stderr and not calls
