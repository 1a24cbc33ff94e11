"""Registry specs and settings for the data-module tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from modelkit.entities import cluster_wide
from modelkit.registry import get_model
from modelkit.settings import Settings

REGISTRY = Path(__file__).resolve().parents[2] / "charts" / "hub" / "values.yaml"
FIXED_END = 1_700_000_000  # 2023-11-14T22:13:20Z; fixed so frames compare across calls


def spec(name: str = "anomaly-detector"):
    """The registry entry as a cluster-wide model (its `entity` dropped): the tests of the cluster-wide
    path use the default detector's real metrics; the per-node default has its own tests."""
    return cluster_wide(get_model(name, REGISTRY))


def registry_spec(name: str = "anomaly-detector"):
    """The registry entry as it is (the default detector is per node)."""
    return get_model(name, REGISTRY)


def settings(model: str = "anomaly-detector", **env: str) -> Settings:
    return Settings.from_env({"MODEL_NAME": model, **env})


def spec_with(*metrics, base: str = "anomaly-detector"):
    """A registry spec whose metrics (and features) are replaced by `metrics`."""
    return dataclasses.replace(spec(base), metrics=tuple(metrics), features=tuple(m.name for m in metrics))
