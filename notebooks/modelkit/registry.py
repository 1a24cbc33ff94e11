"""The models registry: the `models:` list of charts/hub/values.yaml.

One source of truth for the generator (chart objects), the data module (which metrics
to load), the training code (feature contract) and the gate (thresholds). In the cluster
the chart mounts the rendered registry as JSON and sets MODELKIT_REGISTRY to its path.

The registry's naming rules live here once: the DNS-1123 label, the CronJob name and its
52-character limit (hence MODEL_NAME_MAX), the cron check. The generator writes them into
charts/hub/templates/generated/_models.tpl (for templates/validate.yaml) and the values
schema; scripts call `python -m modelkit.registry check-name`. `find_project_root` is the one
finder of the project checkout (the folder holding charts/hub/values.yaml).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from cronsim import CronSim, CronSimError

from .errors import ConfigError
from .features import parse_features

REGISTRY_ENV = "MODELKIT_REGISTRY"
DEFAULT_VALUES = Path("charts/hub/values.yaml")
# A Kubernetes object name that is a DNS-1123 label (apimachinery validation.IsDNS1123Label).
DNS_1123_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_1123_LABEL_MAX = 63
DNS_1123_LABEL_RULE = "a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit"
# Each model has a CronJob named CRONJOB_NAME % name; Kubernetes refuses CronJob names over 52
# characters (batch validation: its Jobs get an 11-character suffix and must stay within 63).
CRONJOB_NAME = "weekly-%s-training"
CRONJOB_NAME_LIMIT = 52
MODEL_NAME_MAX = CRONJOB_NAME_LIMIT - len(CRONJOB_NAME % "")
# Kubernetes parses CronJob schedules with robfig/cron v3 (spec.go: dow = bounds{0, 6}, so 7 is an
# error there, not Sunday). Names, '?', 'L', '#' and @macros are left out: digits, '*', ',', '-', '/'.
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 6))
CRON_SYNTAX = "numbers, '*', lists a,b, ranges a-b with a <= b, steps */n or a-b/n with n >= 1"
_CRON_CHARACTERS = re.compile(r"[0-9*,/-]+", re.ASCII)
# Per-entity models (`entity:`): how a metric joins the entity rows, and the label names a model may
# not be about: Prometheus reserves `__*`; `model` labels every exported score; the rest are frame columns.
GROUP, BROADCAST = "group", "broadcast"
DEFAULT_SYNTHETIC_ENTITIES = 3
RESERVED_ENTITY_LABELS = frozenset({"model", "timestamp", "is_anomaly", "anomaly_kind", "source"})


@dataclass(frozen=True)
class MetricSpec:
    name: str
    query: str
    type: str = "gauge"
    aggregate: str = "sum"
    unit: str = ""
    synthetic: dict[str, Any] = field(default_factory=dict)
    entity_join: str = GROUP  # entity models: GROUP (query grouped by the entity labels) or BROADCAST (one cluster value for all)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str
    notebook: str
    schedule: str
    data_source: str
    training_hours: int
    metrics: tuple[MetricSpec, ...]
    features: tuple[str, ...]
    thresholds: dict[str, Any]
    enabled: bool = True
    require_real_data: bool = False
    forecast_horizon_minutes: int | None = None
    timeout: str | None = None  # the training PipelineRun's timeout (Go duration); None: the pipeline's default
    promotion: dict[str, Any] = field(default_factory=dict)  # the `promotion:` block, read by lifecycle/policy.py
    entity: tuple[str, ...] = ()  # label names of a per-entity model (e.g. ("instance",)); () = cluster-wide
    synthetic_entities: int = DEFAULT_SYNTHETIC_ENTITIES  # entities synthetic data generates (SYNTHETIC_ENTITIES wins)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)


def cronjob_name(model: str) -> str:
    return CRONJOB_NAME % model


def is_dns_label(text: str) -> bool:
    return len(text) <= DNS_1123_LABEL_MAX and re.fullmatch(DNS_1123_LABEL, text) is not None


def model_name_problem(name: str) -> str | None:
    """Why `name` cannot be a model name (not a DNS-1123 label, or its CronJob name too long), else None."""
    if not is_dns_label(name):
        return f"model name {name!r} is not {DNS_1123_LABEL_RULE}, at most {DNS_1123_LABEL_MAX} characters"
    if len(cronjob_name(name)) > CRONJOB_NAME_LIMIT:
        return (f"model name {name!r} is too long: its CronJob name {cronjob_name(name)!r} exceeds {CRONJOB_NAME_LIMIT} "
                f"characters (at most {MODEL_NAME_MAX} for the name)")
    return None


@lru_cache(maxsize=1)
def entry_schema() -> dict[str, Any]:
    """registry_schema.json with the name rule filled in from the constants above."""
    schema = json.loads(resources.files("modelkit").joinpath("registry_schema.json").read_text())
    schema["properties"]["name"].update(
        pattern=DNS_1123_LABEL, maxLength=MODEL_NAME_MAX,
        description=f"{DNS_1123_LABEL_RULE}; its CronJob name {cronjob_name('<name>')!r} must fit the "
                    f"{CRONJOB_NAME_LIMIT}-character CronJob limit, so at most {MODEL_NAME_MAX} characters")
    return schema


def _where(index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"models[{index}] ({name!r})" if name else f"models[{index}]"


def check_cron(expr: str) -> str | None:
    """Return a reason when `expr` is not a 5-field cron expression Kubernetes accepts, else None.

    Ranges and steps are checked by cronsim (a maintained cron parser), which also refuses a
    day that never comes (31 2 = 31 February)."""
    fields = expr.split()
    if len(fields) != 5:
        return f"cron expression {expr!r} must have 5 fields (minute hour day-of-month month day-of-week), found {len(fields)}"
    for text, (name, low, high) in zip(fields, CRON_FIELDS):
        if not _CRON_CHARACTERS.fullmatch(text):
            return f"cron expression {expr!r}: {name} field {text!r} may hold only {CRON_SYNTAX}"
    try:
        CronSim(" ".join(fields), datetime(2026, 1, 1, tzinfo=timezone.utc))
    except CronSimError as exc:
        bad = next((i for i, (name, _, _) in enumerate(CRON_FIELDS) if name in str(exc).lower()), None)
        if bad is None:
            return f"cron expression {expr!r}: {exc}"
        name, low, high = CRON_FIELDS[bad]
        days = ", on days its months have" if name == "day-of-month" else ""
        return f"cron expression {expr!r}: bad {name} field {fields[bad]!r} (allowed {low}-{high}{days}; {CRON_SYNTAX})"
    weekdays = [int(n) for part in fields[4].split(",") for n in re.findall(r"[0-9]+", part.split("/")[0])]
    if any(day > 6 for day in weekdays):
        return f"cron expression {expr!r}: bad day-of-week field {fields[4]!r} (allowed 0-6, Sunday is 0: Kubernetes refuses 7)"
    return None


def validate_entries(entries: Any, source: str = "models") -> None:
    """Raise ConfigError naming the model and field of the first problem found."""
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: `models` must be a non-empty list of model entries")
    validator = jsonschema.Draft202012Validator(entry_schema())
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"{source}: {_where(index, entry)}"
        errors = sorted(validator.iter_errors(entry), key=lambda e: list(e.absolute_path))
        if errors:
            err = errors[0]
            path = [str(p) for p in err.absolute_path]
            message = err.message
            if err.validator == "additionalProperties" and isinstance(err.instance, dict):
                allowed = err.schema.get("properties", {})
                patterns = err.schema.get("patternProperties", {})
                path.append(sorted(k for k in err.instance if k not in allowed and not any(re.search(p, k) for p in patterns))[0])
                message = f"unknown field (allowed: {', '.join(sorted(allowed) or (f'names matching {p}' for p in patterns))})"
            raise ConfigError(f"{where} field `{'.'.join(path) or '(entry)'}`: {message}")
        name = entry["name"]
        if name in seen:
            raise ConfigError(f"{where} field `name`: duplicate model name {name!r} (also models[{seen[name]}])")
        seen[name] = index
        if len(cronjob_name(name)) > CRONJOB_NAME_LIMIT:
            raise ConfigError(f"{where} field `name`: too long, CronJob name {cronjob_name(name)!r} exceeds {CRONJOB_NAME_LIMIT} characters")
        reason = check_cron(entry["schedule"])
        if reason:
            raise ConfigError(f"{where} field `schedule`: {reason}")
        metric_names = [m["name"] for m in entry["metrics"]]
        if len(set(metric_names)) != len(metric_names):
            raise ConfigError(f"{where} field `metrics`: metric names must be unique")
        try:
            parse_features(entry["features"], metric_names)
        except ConfigError as exc:
            raise ConfigError(f"{where} field `features`: {exc}") from None
        if entry["kind"] == "forecaster" and "forecastHorizonMinutes" not in entry:
            raise ConfigError(f"{where} field `forecastHorizonMinutes`: required for a forecaster")
        _check_entity(entry, where, metric_names)


def _check_entity(entry: dict[str, Any], where: str, metric_names: list[str]) -> None:
    """The `entity`, `syntheticEntities` and `metrics[].entityJoin` fields agree with each other."""
    labels = entry.get("entity")
    joins = [m.get("entityJoin") for m in entry["metrics"]]
    if labels is None:
        for position, join in enumerate(joins):
            if join is not None:
                raise ConfigError(f"{where} field `metrics[{position}].entityJoin`: only for a per-entity model; "
                                  f"set `entity` (e.g. [instance]) or drop entityJoin from metric {metric_names[position]!r}")
        if "syntheticEntities" in entry:
            raise ConfigError(f"{where} field `syntheticEntities`: only for a per-entity model; set `entity` (e.g. [instance]) or drop it")
        return
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ConfigError(f"{where} field `entity`: label {duplicates[0]!r} is listed twice; each label once")
    for position, label in enumerate(labels):
        if label.startswith("__"):
            raise ConfigError(f"{where} field `entity[{position}]`: {label!r} starts with '__', which Prometheus reserves for internal labels")
        if label in RESERVED_ENTITY_LABELS or label in metric_names:
            raise ConfigError(f"{where} field `entity[{position}]`: {label!r} would clash with a column or label modelkit writes "
                              f"({', '.join(sorted(RESERVED_ENTITY_LABELS))} and the metric names); use another label")
    if all(join == BROADCAST for join in joins):
        raise ConfigError(f"{where} field `metrics`: every metric has entityJoin: broadcast, so no metric tells the entities "
                          f"{labels} apart; group at least one by the entity labels (entityJoin: group, the default)")


def _spec(entry: dict[str, Any]) -> ModelSpec:
    return ModelSpec(
        name=entry["name"],
        kind=entry["kind"],
        notebook=entry["notebook"],
        schedule=entry["schedule"],
        data_source=entry["dataSource"],
        training_hours=int(entry["trainingHours"]),
        metrics=tuple(_metric(m) for m in entry["metrics"]),
        features=tuple(entry["features"]),
        thresholds=dict(entry["thresholds"]),
        enabled=entry.get("enabled", True),
        require_real_data=entry.get("requireRealData", False),
        forecast_horizon_minutes=entry.get("forecastHorizonMinutes"),
        timeout=entry.get("timeout"),
        promotion=dict(entry.get("promotion", {})),
        entity=tuple(entry.get("entity", ())),
        synthetic_entities=int(entry.get("syntheticEntities", DEFAULT_SYNTHETIC_ENTITIES)),
    )


def _metric(entry: dict[str, Any]) -> MetricSpec:
    fields = {key: value for key, value in entry.items() if key != "entityJoin"}
    return MetricSpec(**fields, entity_join=entry.get("entityJoin", GROUP))


class RegistryYAMLError(yaml.YAMLError):
    def __init__(self, message: str, node: yaml.Node):
        super().__init__(f"{message} (line {node.start_mark.line + 1}, column {node.start_mark.column + 1})")


class StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loading (libyaml's parser when present: the pure-Python one dominates the run time of big
    registries) that refuses what YAML allows but a registry must not hold: a key given twice in one
    mapping (the last would silently win) and aliases (`*name`, also in `<<:` merges), which can
    expand a small file into gigabytes (an alias bomb)."""

    def construct_object(self, node, deep=False):
        if node in self.constructed_objects or node in self.recursive_objects:
            raise RegistryYAMLError("YAML aliases (*name) are not allowed in the models registry; write the value out "
                                    "instead of aliasing the anchored value that starts here", node)
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = (key_node.tag, key_node.value)  # the tag tells 1 from "1"
                if key in seen:
                    raise RegistryYAMLError(f"duplicate key {key_node.value!r} (first on line {seen[key]}); a key may appear once per mapping", key_node)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def find_project_root(start: Path | None = None) -> Path | None:
    """The project checkout: `start` (default: the working directory) or the nearest parent folder
    holding charts/hub/values.yaml; None outside any checkout."""
    here = (start or Path.cwd()).resolve()
    return next((folder for folder in (here, *here.parents) if (folder / DEFAULT_VALUES).is_file()), None)


def find_registry_file(start: Path | None = None) -> Path:
    """MODELKIT_REGISTRY if set, else charts/hub/values.yaml of the project checkout."""
    configured = os.environ.get(REGISTRY_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ConfigError(f"{REGISTRY_ENV}={configured!r}: no such file", variable=REGISTRY_ENV)
        return path
    root = find_project_root(start)
    if root is None:
        raise ConfigError(f"no models registry found: set {REGISTRY_ENV} or run inside the project (looked for {DEFAULT_VALUES})",
                          variable=REGISTRY_ENV)
    return root / DEFAULT_VALUES


def load_entries(path: Path, source: str | None = None) -> list[dict[str, Any]]:
    """The validated `models:` list of a values file; errors name `source` (default: the path)."""
    source = source or str(path)
    try:
        document = yaml.load(path.read_text(), Loader=StrictLoader)
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML/JSON: {exc}") from exc
    if not isinstance(document, dict) or "models" not in document:
        raise ConfigError(f"{source}: no top-level `models:` list (the models registry)")
    validate_entries(document["models"], source=source)
    return document["models"]


def load_registry(path: Path | None = None) -> dict[str, ModelSpec]:
    """All models of the registry, by name, validated."""
    path = path or find_registry_file()
    return {entry["name"]: _spec(entry) for entry in load_entries(path)}


def get_model(name: str, path: Path | None = None) -> ModelSpec:
    models = load_registry(path)
    if name not in models:
        known = ", ".join(sorted(models)) or "none"
        raise ConfigError(f"MODEL_NAME={name!r} is not in the models registry (known: {known})", variable="MODEL_NAME")
    return models[name]
