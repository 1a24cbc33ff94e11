"""charts/hub/values.schema.json, derived from the registry entry schema.

`models.items` is `modelkit/registry_schema.json` itself (so `helm install` rejects what
`make generate` rejects, as far as JSON Schema can say it); the override layers
(`modelOverrides`, `tekton.modelTraining.<camelCaseName>`) accept the overridable subset
of the same properties; the rest of the chart's values are described here.
"""

from __future__ import annotations

import copy
from typing import Any

from modelkit.registry import CRON_FIELDS, DNS_1123_LABEL, DNS_1123_LABEL_MAX, entry_schema

# Registry fields that may be overridden at render time (per environment or per model).
OVERRIDABLE = (
    "enabled", "schedule", "dataSource", "trainingHours", "timeout",
    "cpu", "memory", "cpuLimit", "memoryLimit", "gpu", "syncWave", "serving",
)


def _digits(low: int, high: int) -> str:
    return str(low) if low == high else f"[{low}-{high}]"


def _number(low: int, high: int) -> str:
    """A regex alternation of the whole numbers low..high < 100 (one-digit ones may have a leading 0)."""
    parts = [f"0?{_digits(low, min(high, 9))}"] if low <= 9 else []
    tens = [(t, max(low, 10 * t) - 10 * t, min(high, 10 * t + 9) - 10 * t) for t in range(max(1, low // 10), high // 10 + 1)]
    full = [t for t, first, last in tens if (first, last) == (0, 9)]
    for t, first, last in tens:
        if (first, last) != (0, 9):
            parts.append(f"{t}{_digits(first, last)}")
    if full:  # full decades are consecutive: the first and last may be partial
        parts.append(f"{_digits(full[0], full[-1])}[0-9]")
    return "|".join(parts)


def cron_field_pattern(low: int, high: int) -> str:
    """One cron field: a list of '*', n or a-b (a <= b, both in low..high), each with an optional /step >= 1."""
    ranges = "|".join(f"(?:{_number(a, a)})-(?:{_number(a, high)})" for a in range(low, high + 1))
    item = rf"(?:\*|{ranges}|{_number(low, high)})(?:/0*[1-9][0-9]*)?"
    return rf"{item}(?:,{item})*"


def cron_fields() -> list[dict[str, Any]]:
    """Name, range and one-field regex of each schedule field, for the chart's render-time check
    (templates/validate.yaml): the schema keeps only the short CRON_PATTERN, because helm prints
    a failed pattern whole and 7 KB of regex would bury the message."""
    return [{"name": name, "low": low, "high": high, "pattern": cron_field_pattern(low, high)} for name, low, high in CRON_FIELDS]


# Five fields of the characters a schedule may hold: `helm install` refuses other text at once;
# ranges are checked by templates/validate.yaml at render time and by `make generate` (cronsim).
CRON_PATTERN = r"^\s*[0-9*,/-]+(\s+[0-9*,/-]+){4}\s*$"

_STR = {"type": "string"}
_BOOL = {"type": "boolean"}


def _obj(properties: dict[str, Any], required: list[str] | None = None, description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


# A tag as the OCI distribution spec defines it; "latest" is not pinned and is refused.
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
DIGEST_PATTERN = r"^(sha256:[a-f0-9]{64})?$"


def _image(description: str) -> dict[str, Any]:
    return _obj(
        {
            "repository": {"type": "string", "minLength": 1, "pattern": r"^[^@:\s]+(:[0-9]+/[^@:\s]+)?$",
                           "description": "registry/path without tag or digest"},
            "tag": {"type": "string", "pattern": TAG_PATTERN, "not": {"const": "latest"},
                    "description": "a pinned tag; 'latest' is refused"},
            "digest": {"type": "string", "pattern": DIGEST_PATTERN,
                       "description": "empty, or sha256:<64 hex>: then the image is pulled as repository@digest"},
        },
        required=["repository", "tag"],
        description=description,
    )


def _names(description: str, min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "minItems": min_items, "items": {"type": "string", "pattern": DNS_1123_LABEL, "maxLength": DNS_1123_LABEL_MAX},
            "description": description}


def _ports() -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1, "maximum": 65535}}


def _cidrs() -> dict[str, Any]:
    return {"type": "array", "minItems": 1,
            "items": {"type": "string", "pattern": r"^([0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9a-fA-F:]+/[0-9]{1,3})$"}}


def _network_policy() -> dict[str, Any]:
    return _obj({
        "enabled": _BOOL,
        "predictors": _obj({
            "fromNamespaces": _names("namespaces (kubernetes.io/metadata.name) whose pods may call the predictors"),
            "extraFrom": {"type": "array", "items": {"type": "object"}, "description": "more NetworkPolicyPeers"},
        }),
        "scorer": _obj({
            "scrapeNamespaces": _names("namespaces of the Prometheus that scrapes the scorer", 1),
            "predictorPorts": _ports(),
        }, required=["scrapeNamespaces", "predictorPorts"]),
        "training": _obj({
            "dns": _obj({"namespaces": _names("namespaces of the cluster DNS", 1), "ports": _ports()}, required=["namespaces", "ports"]),
            "apiServer": _obj({"cidrs": _cidrs(), "ports": _ports()}, required=["cidrs", "ports"]),
            "prometheus": _obj({"namespaces": _names("namespaces of Prometheus/Thanos", 1), "ports": _ports()},
                               required=["namespaces", "ports"]),
            "servingNamespaces": _names("namespaces of the gateways in front of Serverless predictors"),
            "git": _obj({"cidrs": _cidrs(), "ports": _ports()}, required=["cidrs", "ports"]),
        }, required=["dns", "apiServer", "prometheus", "git"]),
    }, required=["enabled"])


def _resources() -> dict[str, Any]:
    quantities = {"type": "object", "additionalProperties": {"type": ["string", "integer"]}}
    return _obj({"requests": quantities, "limits": quantities})


# A Prometheus duration as the PrometheusRule CRD takes it (monitoring.coreos.com/v1 `for`).
DURATION_PATTERN = r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$"
ALERTS = ("anomalyDetected", "modelStale", "forecastDegraded", "alarmRateOverBudget", "featureDrift",
          "scorerDown", "scoringErrors")


def _duration(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 2, "pattern": DURATION_PATTERN, "description": description}


def _labels(description: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {"type": "string"}, "description": description}


def _scorer() -> dict[str, Any]:
    return _obj({
        "enabled": _BOOL,
        "serviceAccount": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
        "interval": {"type": "integer", "minimum": 10, "maximum": 3600, "description": "seconds between scoring cycles"},
        "port": {"type": "integer", "minimum": 1024, "maximum": 65535},
        "predictUrlTemplate": {"type": "string", "pattern": r"^(https?://[^\s]*\{model\}[^\s]*)?$",
                               "description": "v1 predict URL with {model}; empty: the model's <model>-stable Service"},
        "resources": _resources(),
    }, required=["enabled", "serviceAccount", "interval", "port"])


def _monitoring() -> dict[str, Any]:
    alert = _obj({"for": _duration("how long the condition holds before the alert fires"),
                  "severity": {"enum": ["info", "warning", "critical"]}}, required=["for", "severity"])
    return _obj({
        "labels": _labels("extra labels of the ServiceMonitors and the PrometheusRule"),
        "serviceMonitors": _obj({"enabled": _BOOL, "interval": _duration("scrape interval"), "predictors": _BOOL},
                                required=["enabled", "interval"]),
        "rules": _obj({
            "enabled": _BOOL,
            "labels": _labels("labels of the PrometheusRule"),
            "alerts": _obj({name: alert for name in ALERTS}, required=list(ALERTS)),
            "staleMarginSeconds": {"type": "integer", "minimum": 0,
                                   "description": "ModelStale fires this long past the schedule's period"},
            "errorRateWindow": _duration("rate() window of ModelkitScoringErrors"),
        }, required=["enabled", "alerts", "staleMarginSeconds", "errorRateWindow"]),
        "dashboard": _obj({"enabled": _BOOL, "labels": _labels("labels the Grafana sidecar selects"),
                           "annotations": _labels("annotations of the dashboard ConfigMap")}, required=["enabled"]),
    }, required=["serviceMonitors", "rules", "dashboard"])


def registry_entry_schema() -> dict[str, Any]:
    schema = copy.deepcopy(entry_schema())
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    schema["properties"]["schedule"]["pattern"] = CRON_PATTERN
    return schema


def override_schema(description: str) -> dict[str, Any]:
    properties = registry_entry_schema()["properties"]
    return _obj({key: properties[key] for key in OVERRIDABLE}, description=description)


def values_schema(model_keys: dict[str, str]) -> dict[str, Any]:
    """The whole values.schema.json; `model_keys` maps model name -> camelCase key."""
    env_var = {"type": "object", "required": ["name"], "properties": {"name": _STR}}
    per_model = {
        key: override_schema(f"overrides for model {name!r}, applied on top of its registry entry and modelOverrides")
        for name, key in sorted(model_keys.items(), key=lambda item: item[1])
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "self-healing-platform hub chart values",
        "description": "Generated by `python -m generator` from notebooks/modelkit/registry_schema.json. Do not edit.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "global": {"type": "object", "properties": {"git": _obj({
                "repoURL": {"type": "string"},
                "revision": {"type": "string", "minLength": 1},
            }, required=["repoURL", "revision"])}},
            "main": _obj({"namespace": {"type": "string", "pattern": DNS_1123_LABEL, "maxLength": DNS_1123_LABEL_MAX}}),
            "images": _obj({
                "workbench": _image("workbench image (notebooks/Containerfile): git, the project, modelkit, nbconvert"),
                "cli": _image("image with kubectl (or oc) for the CronJobs, the first-training Job and the label step"),
                "sklearnServer": _image("KServe's stock sklearn server (serving.runtime: sklearn); its scikit-learn must be the models' (1.5.2)"),
                "servingRuntime": _image("the modelkit ServingRuntime image (serving.runtime: modelkit)"),
                "waitForModel": _image("small image with a POSIX shell for the predictors' wait-for-model init container"),
                "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
            }, required=["workbench", "cli", "sklearnServer", "servingRuntime", "waitForModel"]),
            "serviceAccounts": _obj({
                "training": {"type": "string", "minLength": 1},
                "trigger": {"type": "string", "minLength": 1},
                "manualRuns": {"type": "array", "items": {"type": "string", "minLength": 1}},
            }),
            "storage": _obj({
                "size": {"type": "string", "minLength": 1},
                "storageClassName": _STR,
                "accessMode": {"enum": ["ReadWriteMany", "ReadWriteOnce"]},
                "keepOnUninstall": _BOOL,
            }),
            "prometheus": _obj({
                "url": _STR,
                "tokenSecret": _obj({"name": _STR, "key": _STR}),
                "caBundle": _obj({"configMap": _STR, "key": _STR, "create": _BOOL}),
                "tlsVerify": _BOOL,
                "clusterMonitoringView": _BOOL,
                "clusterMonitoringViewManualRuns": _BOOL,
            }),
            "training": _obj({
                "runner": {"enum": ["inline", "notebookValidationJob"]},
                "resources": _resources(),
                "gitAllowedProtocols": {"type": "string", "pattern": "^[a-z0-9+]+(:[a-z0-9+]+)*$"},
                "extraEnv": {"type": "array", "items": env_var},
                "firstRun": _obj({"enabled": _BOOL}),
                "cron": _obj({
                    "timeZone": {"type": "string", "minLength": 1},
                    "startingDeadlineSeconds": {"type": "integer", "minimum": 10},
                    "successfulJobsHistoryLimit": {"type": "integer", "minimum": 0},
                    "failedJobsHistoryLimit": {"type": "integer", "minimum": 0},
                }),
            }),
            "serving": _obj({
                "runtime": {"enum": ["sklearn", "modelkit"]},
                "existingRuntime": {"type": "string", "pattern": f"^({DNS_1123_LABEL[1:-1]})?$", "maxLength": DNS_1123_LABEL_MAX,
                                    "description": "a (Cluster)ServingRuntime the cluster has for sklearn; empty: the chart renders one"},
                "deploymentMode": {"enum": ["RawDeployment", "Serverless"],
                                   "description": "rendered on every InferenceService (ArgoCD's health check reads it)"},
            }),
            "networkPolicy": _network_policy(),
            "troubleshooting": _obj({"enabled": _BOOL, "resources": _resources()}),
            "scorer": _scorer(),
            "monitoring": _monitoring(),
            "modelOverrides": override_schema(
                "applied to every model on top of its registry entry (environment overlays set dataSource, trainingHours, ...)"),
            "tekton": _obj({"modelTraining": _obj(
                per_model,
                description="per-model overrides keyed by the camelCase model name (the guide's `tekton.modelTraining.anomalyDetector.schedule`)",
            )}),
            "models": {
                "type": "array",
                "minItems": 1,
                "description": "the models registry (see docs/ARCHITECTURE.md); `make generate` after any change",
                "items": registry_entry_schema(),
            },
        },
    }
