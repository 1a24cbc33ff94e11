"""Run settings: one precedence rule, and the one place that reads the environment.

Precedence, for every CLI (`modelkit data`, `train`, `validate`, `promote`, `rollback`,
`versions`, `serve`, `smoke-test`, `report-run`) and the guide's `fetch_prometheus_data`:
a command-line option (or the guide function's argument) wins over the environment variable
it stands for, which wins over the model's registry entry (`source_and_hours`; fields left
None defer to it). `options_from(args, dest=VARIABLE, ...)` names the options of a parsed
command line; `Settings.from_env(env, options)`, `models_root_from_env`, `rollout_timeout`
and `read` apply the rule, and an error names the option or the variable the bad value
came from.

Every variable is listed in VARIABLES with its meaning; a bad value raises ConfigError with
`.variable` set. Nothing else in modelkit reads os.environ, except where the environment is
the platform's, is passed on whole, or is found before any settings exist:
- registry.py: MODELKIT_REGISTRY (find_registry_file: which registry to validate settings against);
- lifecycle/cluster.py: KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT (set by Kubernetes
  in every pod; they only say where the API server is, and `in_cluster` here whether there is one);
- lifecycle/local_pipeline.py and training/notebook_runner.py pass the whole environment on to
  the step commands and the notebook kernel (which read it here again);
- training/cli.py hands os.environ to check-params (`training/params.py` checks it through here).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError
from .registry import find_project_root

DATA_SOURCES = ("synthetic", "prometheus", "hybrid", "file")
FALLBACK_POLICIES = ("fail", "synthetic")
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "self-healing-platform"
CLUSTER_MODELS_ROOT = Path("/mnt/models")
# Upper bounds of the whole-number settings: a year of history (also the registry's trainingHours
# maximum; 8760 h at 60 s is 525,600 rows a metric), an hour per step, 10 min per request.
MAX_TRAINING_HOURS = 8760
MAX_STEP_SECONDS = 3600
MAX_TIMEOUT_SECONDS = 600
MAX_SEED = 2**32 - 1
MAX_SYNTHETIC_ENTITIES = 1000  # also the registry's syntheticEntities maximum
DEFAULT_ROLLOUT_TIMEOUT = 480  # 8 min: inside the promote Task's 10 min, with time for the copy and the patch
MAX_ROLLOUT_TIMEOUT = 3600
# DATA_END: RFC 3339 in UTC, at most a clock skew ahead of now and not before Prometheus 1.0
# (2016-07-18): no cluster has metrics from before it, so an earlier end is a typo.
DATA_END_FLOOR = datetime(2016, 7, 18, tzinfo=timezone.utc)
DATA_END_MAX_SKEW = timedelta(minutes=5)
_ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_RFC3339_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?([Zz]|\+00:00)", re.ASCII)

VARIABLES = {
    "MODEL_NAME": "model to train, a name from the models registry (required)",
    "DATA_SOURCE": "synthetic | prometheus | hybrid | file (default: the registry entry's dataSource; file when only DATA_FILE is set)",
    "DATA_FILE": "CSV or Parquet of the model's metrics for DATA_SOURCE=file: a timestamp column, one column per registry "
                 "metric (and per entity label of an entity model), optional is_anomaly labels",
    "TRAINING_HOURS": f"whole number of hours of history, 1 to {MAX_TRAINING_HOURS}, ASCII digits only (default: the registry entry's trainingHours)",
    "MODELS_ROOT": "where model directories live (default /mnt/models when it exists, else models/ of the project "
                   "checkout holding charts/hub/values.yaml, found from the working directory up; else ./models)",
    "RUN_ID": "name of this training run's version directory (default: UTC timestamp)",
    "GIT_REF": "git ref the code was fetched at, recorded in metadata (default: unknown)",
    "MODELKIT_REGISTRY": "path of the models registry (default: charts/hub/values.yaml of the project)",
    "MODELKIT_ROLLOUT_TIMEOUT": f"seconds promote/rollback/report-run wait for the InferenceService rollout, 1 to "
                                f"{MAX_ROLLOUT_TIMEOUT} (default {DEFAULT_ROLLOUT_TIMEOUT}; --rollout-timeout wins)",
    "PROMETHEUS_URL": "Prometheus or Thanos Querier base URL (required for prometheus and hybrid)",
    "PROMETHEUS_TOKEN": "bearer token for Prometheus",
    "PROMETHEUS_TOKEN_FILE": "file holding the bearer token (default: the pod's service account token when present)",
    "PROMETHEUS_CA_BUNDLE": "CA bundle file used to verify Prometheus' TLS certificate",
    "PROMETHEUS_TLS_VERIFY": "true (default) | false; false is for throwaway test clusters only",
    "PROMETHEUS_STEP_SECONDS": f"query resolution in seconds, 1 to {MAX_STEP_SECONDS} (default 60)",
    "PROMETHEUS_TIMEOUT_SECONDS": f"timeout of each request in seconds, 1 to {MAX_TIMEOUT_SECONDS} (default 30)",
    "ANOMALY_RATE": "share of synthetic-mode rows inside labelled anomaly events, 0 < rate < 0.5 (default 0.05); prometheus and hybrid inject the guide's 20 %",
    "FALLBACK_POLICY": "fail | synthetic: what to do when Prometheus is unreachable or empty (default fail)",
    "SYNTHETIC_ENTITIES": f"entities synthetic data generates for a per-entity model, 1 to {MAX_SYNTHETIC_ENTITIES} "
                          "(default: the registry entry's syntheticEntities, else 3)",
    "SEED": f"random seed for synthetic data and injected anomalies, 0 to {MAX_SEED} (default 42)",
    "DATA_END": (
        "end of the training window, RFC 3339 in UTC, e.g. 2026-03-01T00:00:00Z, not in the future, not before "
        f"{DATA_END_FLOOR:%Y-%m-%d} (default: now); with SEED it makes a run reproducible"
    ),
    "INFERENCE_SERVICE_NAME": "InferenceService the promote step rolls and the smoke test calls (default: MODEL_NAME)",
    "NAMESPACE": "namespace of the InferenceService (default: the pod's namespace, else self-healing-platform)",
    "MODELKIT_STAGING_DIR": "set by `modelkit run-notebook`: the notebook writes its version here and the runner publishes it",
    "PIPELINE_TASKS_STATUS": "set by the pipeline's finally task for `modelkit report-run`: Tekton's $(tasks.status) (--status wins)",
}


def options_from(args: argparse.Namespace, **variables: str) -> dict[str, tuple[str, Any]]:
    """{VARIABLE: (option, value)} for the parsed options given as `dest=VARIABLE`; None = not given."""
    return {variable: (f"--{dest.replace('_', '-')}", getattr(args, dest, None)) for dest, variable in variables.items()}


class _Layers:
    """A variable's text by the precedence rule: the option standing for it when given, else the
    environment. `fail` builds the ConfigError naming where the bad text came from."""

    def __init__(self, env: Mapping[str, str] | None, options: Mapping[str, tuple[str, Any]] | None) -> None:
        self.env = os.environ if env is None else env
        self.given = {variable: (option, value) for variable, (option, value) in (options or {}).items() if value is not None}

    def get(self, name: str, default: str = "") -> str:
        if name in self.given:
            return str(self.given[name][1])
        return self.env.get(name, default)

    def fail(self, name: str, text: str, reason: str) -> ConfigError:
        where = f"{self.given[name][0]} {shlex.quote(text)}" if name in self.given else f"{name}={text!r}"
        return ConfigError(f"{where} {reason}", variable=name)


def read(name: str, options: Mapping[str, tuple[str, Any]] | None = None, env: Mapping[str, str] | None = None) -> str:
    """One variable's text by the precedence rule (stripped; '' when neither option nor environment sets it)."""
    return _Layers(env, options).get(name).strip()


def _whole_number(env: _Layers, name: str, default: int | None, low: int, high: int) -> int | None:
    """A whole number in [low, high] written with ASCII digits only: int() would also take
    '２４', '2_4', '+24' and ' 24', which a PipelineRun param should not be."""
    text = env.get(name)
    if not text:
        return default
    if not _ASCII_DIGITS.fullmatch(text):
        raise env.fail(name, text, f"is not a whole number (ASCII digits only); {VARIABLES[name]}")
    value = int(text)
    if value < low:
        raise env.fail(name, text, f"must be greater than {low - 1}; {VARIABLES[name]}")
    if value > high:
        raise env.fail(name, text, f"is more than {high}; {VARIABLES[name]}")
    return value


def _choice(env: _Layers, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    text = env.get(name).strip()
    if not text:
        return default
    if text not in choices:
        raise env.fail(name, text, f"is not one of {', '.join(choices)}")
    return text


def _rate(env: _Layers, name: str, default: float) -> float:
    text = env.get(name).strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise env.fail(name, text, f"is not a number; {VARIABLES[name]}") from None
    if not 0 < value < 0.5:
        raise env.fail(name, text, "must be between 0 and 0.5 (exclusive)")
    return value


def _bool(env: _Layers, name: str, default: bool) -> bool:
    text = env.get(name).strip().lower()
    if not text:
        return default
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise env.fail(name, text, "must be true or false")


def _file(env: _Layers, name: str) -> Path | None:
    text = env.get(name).strip()
    if text and not Path(text).is_file():
        raise env.fail(name, text, "is not an existing file")
    if text and not os.access(text, os.R_OK):
        raise env.fail(name, text, "cannot be read (permission denied)")
    return Path(text) if text else None


def source_and_hours(settings: "Settings", spec) -> tuple[str, int]:
    """Data source and training hours of a run: the option's or environment's when set, else the registry entry's.

    `spec` is a modelkit.registry.ModelSpec. 0 hours (possible through overrides) stays 0, so the
    data module refuses it instead of silently using the default.
    """
    source = spec.data_source if settings.data_source is None else settings.data_source
    hours = spec.training_hours if settings.training_hours is None else settings.training_hours
    return source, hours


def synthetic_entity_count(settings: "Settings", spec) -> int:
    """Entities of a per-entity model's synthetic data: SYNTHETIC_ENTITIES when set, else the registry entry's."""
    return spec.synthetic_entities if settings.synthetic_entities is None else settings.synthetic_entities


def _data_end(env: _Layers, now: datetime | None = None) -> datetime | None:
    name, text = "DATA_END", env.get("DATA_END")
    if not text:
        return None
    if not _RFC3339_UTC.fullmatch(text):
        raise env.fail(name, text, f"is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ); {VARIABLES[name]}")
    try:
        end = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError as exc:
        raise env.fail(name, text, f"is not a valid time ({exc}); {VARIABLES[name]}") from None
    now = now or datetime.now(timezone.utc)
    if end > now + DATA_END_MAX_SKEW:
        raise env.fail(name, text, f"is in the future (now is {now:%Y-%m-%dT%H:%M:%SZ}); {VARIABLES[name]}")
    if end < DATA_END_FLOOR:
        raise env.fail(name, text, f"is before {DATA_END_FLOOR:%Y-%m-%d}; {VARIABLES[name]}")
    return end


def in_cluster() -> bool:
    """True inside a pod that can talk to the API server (Kubernetes sets these)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_TOKEN.is_file()


def default_models_root(start: Path | None = None) -> Path:
    """/mnt/models (the cluster's volume) when it exists, else models/ of the project checkout found
    from `start` (default: the working directory) up, so a notebook run from its own folder, as
    Jupyter runs it, writes beside the repository's other models and not into notebooks/;
    outside any checkout ./models."""
    if CLUSTER_MODELS_ROOT.is_dir():
        return CLUSTER_MODELS_ROOT
    root = find_project_root(start)
    return root / "models" if root else Path("models")


def models_root_from_env(env: Mapping[str, str] | None = None, options: Mapping[str, tuple[str, Any]] | None = None) -> Path:
    """--models-root (in `options`), else MODELS_ROOT, else the default; for commands that need no MODEL_NAME."""
    return Path(read("MODELS_ROOT", options, env) or default_models_root())


def rollout_timeout(options: Mapping[str, tuple[str, Any]] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Seconds to wait for an InferenceService rollout: --rollout-timeout, else MODELKIT_ROLLOUT_TIMEOUT, else 480."""
    return _whole_number(_Layers(env, options), "MODELKIT_ROLLOUT_TIMEOUT", DEFAULT_ROLLOUT_TIMEOUT, 1, MAX_ROLLOUT_TIMEOUT)


@dataclass(frozen=True)
class Settings:
    model_name: str
    data_source: str | None  # None: take the registry entry's
    training_hours: int | None  # None: take the registry entry's
    models_root: Path
    run_id: str | None
    git_ref: str
    prometheus_url: str | None
    prometheus_token: str | None
    prometheus_ca_bundle: Path | None
    prometheus_tls_verify: bool
    prometheus_step_seconds: int
    prometheus_timeout_seconds: int
    anomaly_rate: float
    fallback_policy: str
    seed: int
    staging_dir: Path | None = None  # set: `modelkit run-notebook` publishes the version
    inference_service_name: str = ""  # from_env: INFERENCE_SERVICE_NAME or the model name
    namespace: str = DEFAULT_NAMESPACE
    data_end: datetime | None = None  # None: the window ends now (DATA_SOURCE=file: at the file's last row)
    data_file: Path | None = None  # the file of DATA_SOURCE=file
    synthetic_entities: int | None = None  # None: take the registry entry's

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, options: Mapping[str, tuple[str, Any]] | None = None) -> "Settings":
        """The settings of `env` (default: os.environ) with `options` ({VARIABLE: (option, value)},
        see options_from) taking precedence."""
        env = _Layers(env, options)
        model_name = env.get("MODEL_NAME").strip()
        if not model_name:
            raise ConfigError(f"MODEL_NAME is not set; {VARIABLES['MODEL_NAME']}", variable="MODEL_NAME")
        ca = _file(env, "PROMETHEUS_CA_BUNDLE")
        data_source, data_file = _source_and_file(env)
        return cls(
            model_name=model_name,
            data_source=data_source,
            training_hours=_whole_number(env, "TRAINING_HOURS", None, 1, MAX_TRAINING_HOURS),
            models_root=Path(env.get("MODELS_ROOT").strip() or default_models_root()),
            run_id=env.get("RUN_ID").strip() or None,
            git_ref=env.get("GIT_REF").strip() or "unknown",
            prometheus_url=env.get("PROMETHEUS_URL").strip().rstrip("/") or None,
            prometheus_token=_token(env),
            prometheus_ca_bundle=ca,
            prometheus_tls_verify=_bool(env, "PROMETHEUS_TLS_VERIFY", True),
            prometheus_step_seconds=_whole_number(env, "PROMETHEUS_STEP_SECONDS", 60, 1, MAX_STEP_SECONDS),
            prometheus_timeout_seconds=_whole_number(env, "PROMETHEUS_TIMEOUT_SECONDS", 30, 1, MAX_TIMEOUT_SECONDS),
            anomaly_rate=_rate(env, "ANOMALY_RATE", 0.05),
            fallback_policy=_choice(env, "FALLBACK_POLICY", FALLBACK_POLICIES, "fail"),
            seed=_whole_number(env, "SEED", 42, 0, MAX_SEED),
            staging_dir=Path(env.get("MODELKIT_STAGING_DIR")) if env.get("MODELKIT_STAGING_DIR").strip() else None,
            inference_service_name=env.get("INFERENCE_SERVICE_NAME").strip() or model_name,
            namespace=env.get("NAMESPACE").strip() or _pod_namespace(),
            data_end=_data_end(env),
            data_file=data_file,
            synthetic_entities=_whole_number(env, "SYNTHETIC_ENTITIES", None, 1, MAX_SYNTHETIC_ENTITIES),
        )


def _source_and_file(env: _Layers) -> tuple[str | None, Path | None]:
    """DATA_SOURCE and DATA_FILE, which go together: a file alone means DATA_SOURCE=file, a file
    with another source (or file without a file) is refused rather than silently ignored."""
    source = _choice(env, "DATA_SOURCE", DATA_SOURCES, None)
    data_file = _file(env, "DATA_FILE")
    if data_file and source is None:
        source = "file"
    if source == "file" and data_file is None:
        raise ConfigError(f"DATA_SOURCE=file needs DATA_FILE (--data-file): {VARIABLES['DATA_FILE']}", variable="DATA_FILE")
    if data_file and source != "file":
        raise env.fail("DATA_FILE", str(data_file), f"is set but DATA_SOURCE is {source}: a file is read only with DATA_SOURCE=file")
    return source, data_file


def _pod_namespace() -> str:
    if SERVICE_ACCOUNT_NAMESPACE.is_file():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or DEFAULT_NAMESPACE
    return DEFAULT_NAMESPACE


def _token(env: _Layers) -> str | None:
    token = env.get("PROMETHEUS_TOKEN").strip()
    if token:
        return token
    path = _file(env, "PROMETHEUS_TOKEN_FILE")
    if path:
        return path.read_text().strip() or None
    if SERVICE_ACCOUNT_TOKEN.is_file():
        return SERVICE_ACCOUNT_TOKEN.read_text().strip() or None
    return None
