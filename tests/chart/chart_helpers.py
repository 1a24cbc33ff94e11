"""Render the hub chart with the real helm binary and check objects against strict schemas."""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import yaml
from fixtures.project import CHART, PROJECT_ROOT, SHARED, copy_project, require_shared  # noqa: F401 (re-exported to the chart tests)

OVERLAYS = sorted((PROJECT_ROOT / "values").glob("*.yaml"))
CRD_DIR = SHARED / "schemas" / "crds"
GUIDE = SHARED / "seed" / "training-ml-models-with-tekton.md"
NAMESPACE = "self-healing-platform"
RELEASE = "self-healing-platform"
KUBE_VERSION = "1.30.0"


def tool(name: str) -> str:
    """A tool from .cache/bin (hack/install-tools.sh), else from PATH; fails with what to run."""
    local = PROJECT_ROOT / ".cache" / "bin" / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found in .cache/bin or on PATH: run `make setup` (bash hack/install-tools.sh)")
    return found


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([tool("helm"), *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


def template_args(values: list[Path | str] = (), sets: list[str] = (), chart: Path = CHART) -> list[str]:
    args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
    for path in values:
        args += ["-f", str(path)]
    for item in sets:
        args += ["--set", item]
    return args


@functools.lru_cache(maxsize=32)
def _render_cached(values: tuple[str, ...], sets: tuple[str, ...], chart: str) -> str:
    return helm(*template_args(list(values), list(sets), Path(chart))).stdout


def render(values: list[Path | str] = (), sets: list[str] = (), chart: Path = CHART) -> list[dict[str, Any]]:
    """Every object `helm template` renders (hooks included), as fresh dicts."""
    key = (tuple(map(str, values)), tuple(sets), str(chart))
    # Only the project's own chart is cached: tests change their copies between renders.
    text = _render_cached(*key) if chart == CHART else _render_cached.__wrapped__(*key)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name!r} rendered")


# --- strict schemas --------------------------------------------------------------

def strict(schema: Any) -> Any:
    """Unknown fields become errors, as `kubectl apply --validate=strict` reports them."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def require_crds() -> Path:
    return require_shared(CRD_DIR, "Tekton/KServe/ArgoCD/monitoring objects not validated against their CRD schemas")


@functools.lru_cache(maxsize=None)
def crd_schema(kind: str, version: str) -> dict[str, Any]:
    crds = require_crds()
    yaml_crds = {"Pipeline": "tekton-pipeline.yaml", "PipelineRun": "tekton-pipelinerun.yaml",
              "Task": "tekton-task.yaml", "TaskRun": "tekton-taskrun.yaml",
              # prometheus-operator's CRDs (monitoring.coreos.com), same layout as Tekton's.
              "ServiceMonitor": "monitoring-servicemonitors.yaml", "PodMonitor": "monitoring-podmonitors.yaml",
              "PrometheusRule": "monitoring-prometheusrules.yaml"}
    json_files = {"InferenceService": "inferenceservice_v1beta1.json", "ServingRuntime": "servingruntime_v1alpha1.json",
                  "Application": "application_v1alpha1.json"}
    if kind in yaml_crds:
        crd = yaml.safe_load((crds / yaml_crds[kind]).read_text())
        for entry in crd["spec"]["versions"]:
            if entry["name"] == version:
                return strict(entry["schema"]["openAPIV3Schema"])
        raise AssertionError(f"{yaml_crds[kind]} has no version {version}")
    return strict(json.loads((crds / json_files[kind]).read_text()))


METADATA_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
CRD_KINDS = {
    "tekton.dev/v1": ("Pipeline", "PipelineRun", "Task", "TaskRun"),
    "tekton.dev/v1beta1": ("Pipeline", "PipelineRun", "Task", "TaskRun"),
    "serving.kserve.io/v1beta1": ("InferenceService",),
    "serving.kserve.io/v1alpha1": ("ServingRuntime",),
    "argoproj.io/v1alpha1": ("Application",),
    "monitoring.coreos.com/v1": ("ServiceMonitor", "PodMonitor", "PrometheusRule"),
}


def crd_errors(doc: dict[str, Any]) -> list[str]:
    """Every schema error of a Tekton, KServe, ArgoCD or Prometheus Operator object (empty list: valid)."""
    version = doc["apiVersion"].split("/")[1]
    validator = jsonschema.Draft7Validator(crd_schema(doc["kind"], version))
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '(object)'}: {e.message}" for e in validator.iter_errors(doc)]
    errors += [f"metadata.{'.'.join(map(str, e.absolute_path))}: {e.message}"
               for e in jsonschema.Draft7Validator(METADATA_SCHEMA).iter_errors(doc.get("metadata", {}))]
    return errors


def core_errors(doc: dict[str, Any]) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(copy.deepcopy(doc), KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path)) or '(object)'}: {exc.message}"]
    return []


def is_crd_kind(doc: dict[str, Any]) -> bool:
    return doc["kind"] in CRD_KINDS.get(doc["apiVersion"], ())


# --- pod specs ---------------------------------------------------------------------

def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any] | None, list[dict[str, Any]]]]:
    """(where, pod-level spec or None when the kind has none, containers) of every pod an object makes."""
    where = f"{doc['kind']}/{doc['metadata']['name']}"
    kind = doc["kind"]
    if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        spec = doc["spec"]["template"]["spec"]
        yield where, spec, spec.get("initContainers", []) + spec["containers"]
    elif kind == "CronJob":
        spec = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        yield where, spec, spec.get("initContainers", []) + spec["containers"]
    elif kind == "InferenceService":
        predictor = doc["spec"]["predictor"]
        # Serverless: Knative owns the pod-level context (kubernetes.podspec-securitycontext is off by default).
        serverless = doc["metadata"].get("annotations", {}).get("serving.kserve.io/deploymentMode") == "Serverless"
        yield where, None if serverless else predictor, predictor.get("initContainers", []) + [predictor["model"]]
    elif kind == "ServingRuntime":
        yield where, None, doc["spec"]["containers"]
    elif kind == "Task":
        # Tekton steps are containers; the pod-level context comes from the TaskRun's podTemplate.
        yield where, None, doc["spec"]["steps"]


def python() -> str:
    return sys.executable


def run_generator(project_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python(), "-m", "generator", "--project-root", str(project_root), *args],
                          capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
