"""The user guide's names, for notebooks written from its "Adding Your Own Custom Model"
template: `data = fetch_prometheus_data(hours=...)` / `generate_synthetic_data(hours=...)`,
then `model.fit(data)`. They return the feature columns only (ready to fit); labels and
provenance ride along in `data.attrs["is_anomaly"]` / `data.attrs["provenance"]`, and for a
per-entity model (the default detector is per node) each row's entity labels in
`data.attrs["entities"]`.
"""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd

from ..entities import entity_columns
from ..errors import ConfigError
from ..registry import ModelSpec, load_registry
from ..settings import Settings, read
from .loader import load_training_frame

log = logging.getLogger("modelkit.data")

DEFAULT_MODEL = "anomaly-detector"


def _model(model: str | None) -> ModelSpec:
    """`model`, else MODEL_NAME, else (with a note) the default model: the guide's template runs without one."""
    name = model or read("MODEL_NAME")
    registry = load_registry()
    if name not in registry:
        if model:
            raise ConfigError(f"model {model!r} is not in the models registry (known: {', '.join(sorted(registry))})",
                              variable="MODEL_NAME")
        fallback = DEFAULT_MODEL if DEFAULT_MODEL in registry else next(iter(registry))
        log.info("MODEL_NAME=%r is not in the registry; using %s's metrics", name, fallback)
        name = fallback
    return registry[name]


def _features(source: str, hours: int, model: str | None, seed: int | None, end: datetime | float | None) -> pd.DataFrame:
    """The arguments win over the environment (modelkit.settings' precedence rule), as options do in the CLIs."""
    spec = _model(model)
    options = {"MODEL_NAME": ("model", spec.name), "DATA_SOURCE": ("source", source),
               "TRAINING_HOURS": ("hours", hours), "SEED": ("seed", seed)}
    settings = Settings.from_env(options=options)
    loaded = load_training_frame(spec, settings, end=end)
    labels = entity_columns(spec)  # a per-entity model's rows: one entity's metrics each, its labels in attrs
    data = loaded.features.drop(columns=labels)
    if labels:
        data.attrs["entities"] = loaded.frame[labels].to_numpy()
    data.attrs["is_anomaly"] = loaded.frame["is_anomaly"].to_numpy()
    data.attrs["provenance"] = loaded.provenance
    return data


def generate_synthetic_data(hours: int = 168, *, model: str | None = None, seed: int | None = None, end=None) -> pd.DataFrame:
    """Synthetic training data for the last `hours` (MODEL_NAME's metrics, or the default model's)."""
    return _features("synthetic", hours, model, seed, end)


def fetch_prometheus_data(hours: int = 168, *, model: str | None = None, seed: int | None = None, end=None) -> pd.DataFrame:
    """Real metrics with injected labelled anomalies (DATA_SOURCE=prometheus semantics) from PROMETHEUS_URL."""
    return _features("prometheus", hours, model, seed, end)
