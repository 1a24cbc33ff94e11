"""Run settings read from the environment the Tekton Tasks (and `modelkit train`) set.

Every variable is listed in VARIABLES with its meaning; a bad value raises ConfigError
naming the variable. Notebooks call `Settings.from_env()` and nothing else reads os.environ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Mapping

from .errors import ConfigError

DATA_SOURCES = ("synthetic", "prometheus", "hybrid")
FALLBACK_POLICIES = ("fail", "synthetic")
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "self-healing-platform"
CLUSTER_MODELS_ROOT = Path("/mnt/models")

VARIABLES = {
    "MODEL_NAME": "model to train, a name from the models registry (required)",
    "DATA_SOURCE": "synthetic | prometheus | hybrid (default: the registry entry's dataSource)",
    "TRAINING_HOURS": "positive whole number of hours of history (default: the registry entry's trainingHours)",
    "MODELS_ROOT": "where model directories live (default /mnt/models when it exists, else ./models)",
    "RUN_ID": "name of this training run's version directory (default: UTC timestamp)",
    "GIT_REF": "git ref the code was fetched at, recorded in metadata (default: unknown)",
    "MODELKIT_REGISTRY": "path of the models registry (default: charts/hub/values.yaml of the project)",
    "PROMETHEUS_URL": "Prometheus or Thanos Querier base URL (required for prometheus and hybrid)",
    "PROMETHEUS_TOKEN": "bearer token for Prometheus",
    "PROMETHEUS_TOKEN_FILE": "file holding the bearer token (default: the pod's service account token when present)",
    "PROMETHEUS_CA_BUNDLE": "CA bundle file used to verify Prometheus' TLS certificate",
    "PROMETHEUS_TLS_VERIFY": "true (default) | false; false is for throwaway test clusters only",
    "PROMETHEUS_STEP_SECONDS": "query resolution in seconds (default 60)",
    "PROMETHEUS_TIMEOUT_SECONDS": "timeout of each request in seconds (default 30)",
    "ANOMALY_RATE": "share of synthetic-mode rows inside labelled anomaly events, 0 < rate < 0.5 (default 0.05); prometheus and hybrid inject the guide's 20 %",
    "FALLBACK_POLICY": "fail | synthetic: what to do when Prometheus is unreachable or empty (default fail)",
    "SEED": "random seed for synthetic data and injected anomalies (default 42)",
    "DATA_END": "end of the training window, ISO 8601 with a time zone, e.g. 2026-03-01T00:00:00Z (default: now); with SEED it makes a run reproducible",
    "INFERENCE_SERVICE_NAME": "InferenceService the promote step rolls and the smoke test calls (default: MODEL_NAME)",
    "NAMESPACE": "namespace of the InferenceService (default: the pod's namespace, else self-healing-platform)",
    "MODELKIT_STAGING_DIR": "set by `modelkit run-notebook`: the notebook writes its version here and the runner publishes it",
}


def _positive_int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a whole number; {VARIABLES[name]}") from None
    if value <= 0:
        raise ConfigError(f"{name}={text!r} must be greater than 0; {VARIABLES[name]}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    text = env.get(name, "").strip()
    if not text:
        return default
    if text not in choices:
        raise ConfigError(f"{name}={text!r} is not one of {', '.join(choices)}")
    return text


def _rate(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number; {VARIABLES[name]}") from None
    if not 0 < value < 0.5:
        raise ConfigError(f"{name}={text!r} must be between 0 and 0.5 (exclusive)")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigError(f"{name}={text!r} must be true or false")


def source_and_hours(settings: "Settings", spec) -> tuple[str, int]:
    """Data source and training hours of a run: the environment's when set, else the registry entry's.

    `spec` is a modelkit.registry.ModelSpec. 0 hours (possible through overrides) stays 0, so the
    data module refuses it instead of silently using the default.
    """
    source = spec.data_source if settings.data_source is None else settings.data_source
    hours = spec.training_hours if settings.training_hours is None else settings.training_hours
    return source, hours


def _data_end(env: Mapping[str, str]) -> datetime | None:
    text = env.get("DATA_END", "").strip()
    if not text:
        return None
    try:
        end = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"DATA_END={text!r} is not an ISO 8601 time; {VARIABLES['DATA_END']}") from None
    if end.tzinfo is None:
        raise ConfigError(f"DATA_END={text!r} has no time zone; add Z for UTC")
    return end


def default_models_root() -> Path:
    return CLUSTER_MODELS_ROOT if CLUSTER_MODELS_ROOT.is_dir() else Path("models")


def models_root_from_env(env: Mapping[str, str] | None = None) -> Path:
    """MODELS_ROOT, else the default; for commands that need no MODEL_NAME (serve, versions)."""
    env = os.environ if env is None else env
    return Path(env.get("MODELS_ROOT", "").strip() or default_models_root())


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
    data_end: datetime | None = None  # None: the window ends now

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        model_name = env.get("MODEL_NAME", "").strip()
        if not model_name:
            raise ConfigError(f"MODEL_NAME is not set; {VARIABLES['MODEL_NAME']}")
        ca = env.get("PROMETHEUS_CA_BUNDLE", "").strip()
        if ca and not Path(ca).is_file():
            raise ConfigError(f"PROMETHEUS_CA_BUNDLE={ca!r}: no such file")
        seed_text = env.get("SEED", "42").strip() or "42"
        if not seed_text.isdigit():
            raise ConfigError(f"SEED={seed_text!r} is not a whole number")
        return cls(
            model_name=model_name,
            data_source=_choice(env, "DATA_SOURCE", DATA_SOURCES, None),
            training_hours=_positive_int(env, "TRAINING_HOURS", None),
            models_root=models_root_from_env(env),
            run_id=env.get("RUN_ID", "").strip() or None,
            git_ref=env.get("GIT_REF", "").strip() or "unknown",
            prometheus_url=env.get("PROMETHEUS_URL", "").strip().rstrip("/") or None,
            prometheus_token=_token(env),
            prometheus_ca_bundle=Path(ca) if ca else None,
            prometheus_tls_verify=_bool(env, "PROMETHEUS_TLS_VERIFY", True),
            prometheus_step_seconds=_positive_int(env, "PROMETHEUS_STEP_SECONDS", 60),
            prometheus_timeout_seconds=_positive_int(env, "PROMETHEUS_TIMEOUT_SECONDS", 30),
            anomaly_rate=_rate(env, "ANOMALY_RATE", 0.05),
            fallback_policy=_choice(env, "FALLBACK_POLICY", FALLBACK_POLICIES, "fail"),
            seed=int(seed_text),
            staging_dir=Path(env["MODELKIT_STAGING_DIR"]) if env.get("MODELKIT_STAGING_DIR", "").strip() else None,
            inference_service_name=env.get("INFERENCE_SERVICE_NAME", "").strip() or model_name,
            namespace=env.get("NAMESPACE", "").strip() or _pod_namespace(),
            data_end=_data_end(env),
        )


def _pod_namespace() -> str:
    if SERVICE_ACCOUNT_NAMESPACE.is_file():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or DEFAULT_NAMESPACE
    return DEFAULT_NAMESPACE


def _token(env: Mapping[str, str]) -> str | None:
    token = env.get("PROMETHEUS_TOKEN", "").strip()
    if token:
        return token
    token_file = env.get("PROMETHEUS_TOKEN_FILE", "").strip()
    if token_file:
        path = Path(token_file)
        if not path.is_file():
            raise ConfigError(f"PROMETHEUS_TOKEN_FILE={token_file!r}: no such file")
        return path.read_text().strip() or None
    if SERVICE_ACCOUNT_TOKEN.is_file():
        return SERVICE_ACCOUNT_TOKEN.read_text().strip() or None
    return None
