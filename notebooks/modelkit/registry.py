"""The models registry: the `models:` list of charts/hub/values.yaml.

One source of truth for the generator (chart objects), the data module (which metrics
to load), the training code (feature contract) and the gate (thresholds). In the cluster
the chart mounts the rendered registry as JSON and sets MODELKIT_REGISTRY to its path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError
from .features import parse_features

REGISTRY_ENV = "MODELKIT_REGISTRY"
DEFAULT_VALUES = Path("charts/hub/values.yaml")
CRONJOB_NAME_LIMIT = 52
CRON_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


@dataclass(frozen=True)
class MetricSpec:
    name: str
    query: str
    type: str = "gauge"
    aggregate: str = "sum"
    unit: str = ""
    synthetic: dict[str, Any] = field(default_factory=dict)


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
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)


@lru_cache(maxsize=1)
def entry_schema() -> dict[str, Any]:
    text = resources.files("modelkit").joinpath("registry_schema.json").read_text()
    return json.loads(text)


def _where(index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"models[{index}] ({name!r})" if name else f"models[{index}]"


def check_cron(expr: str) -> str | None:
    """Return a reason when `expr` is not a 5-field cron expression, else None."""
    fields = expr.split()
    if len(fields) != 5:
        return f"cron expression {expr!r} must have 5 fields (minute hour day month weekday), found {len(fields)}"
    for text, (low, high) in zip(fields, CRON_FIELD_RANGES):
        for part in text.split(","):
            base, _, step = part.partition("/")
            if step and not step.isdigit():
                return f"cron field {text!r} has a bad step {step!r}"
            if base == "*":
                continue
            bounds = base.split("-")
            if len(bounds) > 2 or not all(b.isdigit() for b in bounds):
                return f"cron field {text!r} is not a number, range or '*'"
            if not all(low <= int(b) <= high for b in bounds):
                return f"cron field {text!r} is outside {low}-{high}"
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
                path.append(sorted(k for k in err.instance if k not in allowed)[0])
                message = f"unknown field (allowed: {', '.join(sorted(allowed))})"
            raise ConfigError(f"{where} field `{'.'.join(path) or '(entry)'}`: {message}")
        name = entry["name"]
        if name in seen:
            raise ConfigError(f"{where} field `name`: duplicate model name {name!r} (also models[{seen[name]}])")
        seen[name] = index
        if len(f"weekly-{name}-training") > CRONJOB_NAME_LIMIT:
            raise ConfigError(f"{where} field `name`: too long, CronJob name 'weekly-{name}-training' exceeds {CRONJOB_NAME_LIMIT} characters")
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


def _spec(entry: dict[str, Any]) -> ModelSpec:
    return ModelSpec(
        name=entry["name"],
        kind=entry["kind"],
        notebook=entry["notebook"],
        schedule=entry["schedule"],
        data_source=entry["dataSource"],
        training_hours=int(entry["trainingHours"]),
        metrics=tuple(MetricSpec(**m) for m in entry["metrics"]),
        features=tuple(entry["features"]),
        thresholds=dict(entry["thresholds"]),
        enabled=entry.get("enabled", True),
        require_real_data=entry.get("requireRealData", False),
        forecast_horizon_minutes=entry.get("forecastHorizonMinutes"),
        raw=entry,
    )


def find_registry_file(start: Path | None = None) -> Path:
    """MODELKIT_REGISTRY if set, else charts/hub/values.yaml in this or a parent folder."""
    configured = os.environ.get(REGISTRY_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ConfigError(f"{REGISTRY_ENV}={configured!r}: no such file")
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_VALUES).is_file():
            return folder / DEFAULT_VALUES
    raise ConfigError(f"no models registry found: set {REGISTRY_ENV} or run inside the project (looked for {DEFAULT_VALUES})")


def load_entries(path: Path, source: str | None = None) -> list[dict[str, Any]]:
    """The validated `models:` list of a values file; errors name `source` (default: the path)."""
    source = source or str(path)
    try:
        # libyaml's loader when present: the pure-Python one dominates the run time of big registries.
        document = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
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
        raise ConfigError(f"MODEL_NAME={name!r} is not in the models registry (known: {known})")
    return models[name]
