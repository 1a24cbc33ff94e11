"""Check the PipelineRun params (as env vars) before any training: `modelkit check-params`."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Mapping

from ..data.prometheus import PrometheusClient
from ..data.retention import server_retention
from ..errors import ConfigError, DataError
from ..pipeline_steps import PARAM_ENV
from ..registry import DNS_1123_LABEL_MAX, DNS_1123_LABEL_RULE, ModelSpec, find_project_root, get_model, is_dns_label
from ..settings import Settings, in_cluster, source_and_hours
from ..staging import refuse_duplicate_run
from .warmup import warmup_hours

log = logging.getLogger("modelkit.training")

ENV_PARAM = {env: param for param, env in PARAM_ENV.items()}


def param_error(variable: str, message: str) -> ConfigError:
    """A ConfigError about `variable`, its message prefixed with the variable and the PipelineRun param it comes from."""
    param = ENV_PARAM.get(variable)
    return ConfigError(f"{variable} (PipelineRun param `{param}`): {message}" if param else f"{variable}: {message}",
                       variable=variable)


def project_root(start: Path | None = None) -> Path:
    """The project checkout (registry.find_project_root), else the working directory (the cloned source)."""
    return find_project_root(start) or (start or Path.cwd()).resolve()


def resolve_notebook(text: str, root: Path) -> Path:
    """An existing .ipynb inside `root`, given relative to it; no absolute paths, no way out."""
    relative = Path(text)
    if relative.is_absolute() or ".." in relative.parts:
        raise param_error("NOTEBOOK_PATH", f"{text!r} must be a path inside the repository, relative to its root (no '..', not absolute)")
    if relative.suffix != ".ipynb":
        raise param_error("NOTEBOOK_PATH", f"{text!r} is not a notebook (.ipynb)")
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise param_error("NOTEBOOK_PATH", f"{text!r} leaves the repository (through a symlink)")
    if not path.is_file():
        raise param_error("NOTEBOOK_PATH", f"{text!r}: no such notebook in {root}")
    return path


def _settings(env: Mapping[str, str]) -> Settings:
    try:
        return Settings.from_env(env)
    except ConfigError as exc:
        if exc.variable is None:
            raise
        raise param_error(exc.variable, str(exc)) from None


def check_retention(settings: Settings, spec: ModelSpec) -> None:
    """Refuse a window (hours + warm-up) longer than the Prometheus server keeps; warn and go on when
    the server does not say (a Thanos Querier answers neither status endpoint)."""
    source, hours = source_and_hours(settings, spec)
    if source == "synthetic":
        return
    if not settings.prometheus_url:
        log.warning("PROMETHEUS_URL is not set: the training window is not checked against Prometheus' retention here "
                    "(run-notebook checks it again before training)")
        return
    window = hours + warmup_hours(spec)
    retention, why = server_retention(PrometheusClient.from_settings(settings))
    if retention is None:
        log.warning("%s does not say how long it keeps data (%s; a Thanos Querier serves neither): the %d h window "
                    "(training hours + warm-up) is not checked against its retention; going on", settings.prometheus_url, why, window)
        return
    if retention.hours is not None and window > retention.hours:
        fits = math.floor(retention.hours) - (window - hours)
        raise param_error("TRAINING_HOURS", (
            f"{hours} h of training + {window - hours} h of warm-up = {window} h is longer than Prometheus at "
            f"{settings.prometheus_url} keeps ({retention.hours:g} h, {retention.told_by}): the oldest part would have no data; "
            + (f"use at most {fits} h, or read long-term storage (Thanos) instead" if fits > 0 else "read long-term storage (Thanos) instead")
        ))
    if retention.size:
        log.warning("Prometheus at %s also deletes data beyond %s (%s): the oldest hours of the %d h window may already be gone",
                    settings.prometheus_url, retention.size, retention.told_by, window)


def check_params(env: Mapping[str, str], root: Path | None = None) -> tuple[Settings, ModelSpec, Path]:
    """Raise ConfigError naming the first bad param; return the checked settings, model and notebook."""
    settings = _settings(env)
    try:
        spec = get_model(settings.model_name)
    except ConfigError as exc:
        raise param_error("MODEL_NAME", str(exc)) from None
    notebook = resolve_notebook(env.get("NOTEBOOK_PATH", "").strip() or spec.notebook, root or project_root())
    service = env.get("INFERENCE_SERVICE_NAME", "").strip()
    if service and not is_dns_label(service):
        raise param_error("INFERENCE_SERVICE_NAME", f"{service!r} is not {DNS_1123_LABEL_RULE}, at most {DNS_1123_LABEL_MAX} characters")
    if settings.run_id:
        refuse_duplicate_run(settings.models_root, spec.name, settings.run_id)
    check_retention(settings, spec)
    if settings.data_file:
        check_data_file(settings, spec)
    return settings, spec, notebook


def check_data_file(settings: Settings, spec: ModelSpec) -> None:
    """Read the whole file now (columns, times, numbers, labels, entity labels), so a bad file fails
    here naming its row and column, not an hour into training. In a cluster the train step sees only
    the run's folder, so the file must be in the repository (a relative path, as notebook-path is)."""
    from ..data.file_source import read_metrics_table

    path = settings.data_file
    if in_cluster() and (path.is_absolute() or ".." in path.parts):
        raise param_error("DATA_FILE", f"{str(path)!r} must be a path inside the repository, relative to its root (no '..', "
                                       "not absolute): the train step sees only the fetched (or baked) source")
    try:
        table = read_metrics_table(path, spec.metric_names, settings.prometheus_step_seconds, tuple(spec.entity))
    except (ConfigError, DataError) as exc:
        raise param_error("DATA_FILE", str(exc)) from None
    if table.one_entity:  # said now, in case the entity column was forgotten, not an hour into training
        log.warning("DATA_FILE %s: %s", path, table.one_entity)
