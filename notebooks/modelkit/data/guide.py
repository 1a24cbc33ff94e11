"""The user guide's names, for notebooks written from its "Adding Your Own Custom Model"
template: `data = fetch_prometheus_data(hours=...)` / `generate_synthetic_data(hours=...)`,
then `model.fit(data)`. They return the feature columns only (ready to fit); labels and
provenance ride along in `data.attrs["is_anomaly"]` / `data.attrs["provenance"]`.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

import pandas as pd

from ..errors import ConfigError
from ..registry import load_registry
from ..settings import Settings
from .loader import load_training_frame, with_overrides

log = logging.getLogger("modelkit.data")

DEFAULT_MODEL = "anomaly-detector"


def _model_and_settings(model: str | None):
    env = dict(os.environ)
    name = model or env.get("MODEL_NAME", "").strip()
    registry = load_registry()
    if name not in registry:
        if model:
            raise ConfigError(f"model {model!r} is not in the models registry (known: {', '.join(sorted(registry))})")
        fallback = DEFAULT_MODEL if DEFAULT_MODEL in registry else next(iter(registry))
        log.info("MODEL_NAME=%r is not in the registry; using %s's metrics", name, fallback)
        name = fallback
    env["MODEL_NAME"] = name
    return registry[name], Settings.from_env(env)


def _features(source: str, hours: int, model: str | None, seed: int | None, end: datetime | float | None) -> pd.DataFrame:
    spec, settings = _model_and_settings(model)
    settings = with_overrides(settings, data_source=source, training_hours=hours, seed=seed)
    loaded = load_training_frame(spec, settings, end=end)
    data = loaded.features
    data.attrs["is_anomaly"] = loaded.frame["is_anomaly"].to_numpy()
    data.attrs["provenance"] = loaded.provenance
    return data


def generate_synthetic_data(hours: int = 168, *, model: str | None = None, seed: int | None = None, end=None) -> pd.DataFrame:
    """Synthetic training data for the last `hours` (MODEL_NAME's metrics, or the default model's)."""
    return _features("synthetic", hours, model, seed, end)


def fetch_prometheus_data(hours: int = 168, *, model: str | None = None, seed: int | None = None, end=None) -> pd.DataFrame:
    """Real metrics with injected labelled anomalies (DATA_SOURCE=prometheus semantics) from PROMETHEUS_URL."""
    return _features("prometheus", hours, model, seed, end)
