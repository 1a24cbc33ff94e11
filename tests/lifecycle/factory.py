"""Real scikit-learn model versions for lifecycle tests, written with VersionWriter.

`test_registry` writes a registry with the project's two default models and
thresholds/promotion settings the tests control, so the tests do not depend on the
thresholds someone tunes in charts/hub/values.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.ensemble import IsolationForest
from sklearn.multioutput import MultiOutputRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelkit import artifacts
from modelkit.lifecycle.gate import run_gate
from modelkit.lifecycle.promotion import promote
from modelkit.served_state import file_sha256
from modelkit.registry import find_registry_file, get_model
from modelkit.training import forecaster as forecaster_model

DETECTOR = "anomaly-detector"
FORECASTER = "predictive-analytics"
DETECTOR_THRESHOLDS = {"minEventRecall": 0.6, "maxAlarmsPerDay": 6}
FORECASTER_THRESHOLDS = {"maxMape": 0.25}
GOOD_DETECTOR_METRICS = {"event_recall": 0.9, "alarms_per_day": 2.0, "point_precision": 0.8,
                         "false_alarms_per_day": 1.0, "false_alarm_days": 1.4}
GOOD_FORECASTER_METRICS = {"mape": 0.1, "beats_baselines": True, "mae_ratio": 0.8}


def project_entries() -> list[dict[str, Any]]:
    return yaml.safe_load(find_registry_file(Path(__file__).parent).read_text())["models"]


def write_test_registry(path: Path, require_real_data: bool = False, keep_versions: int = 3) -> Path:
    entries = []
    for entry in project_entries():
        if entry["name"] not in (DETECTOR, FORECASTER):
            continue
        entry = dict(entry, requireRealData=require_real_data,
                     thresholds=DETECTOR_THRESHOLDS if entry["name"] == DETECTOR else FORECASTER_THRESHOLDS,
                     promotion={"tolerance": 0.05, "keepVersions": keep_versions})
        entries.append(entry)
    path.write_text(yaml.safe_dump({"models": entries}))
    return path


def features_of(model: str) -> list[str]:
    return next(e["features"] for e in project_entries() if e["name"] == model)


def detector(n_features: int, seed: int = 0, n_estimators: int = 50) -> Pipeline:
    rows = np.random.default_rng(seed).normal(0.5, 0.1, size=(400, n_features))
    return Pipeline([("scale", StandardScaler()),
                     ("forest", IsolationForest(n_estimators=n_estimators, random_state=seed))]).fit(rows)


def forecaster(n_features: int, seed: int = 0) -> MultiOutputRegressor:
    """The project's forecaster (the model loader admits only what the project's models pickle)."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(0.5, 0.1, size=(400, n_features))
    return forecaster_model.build_model(seed, len(rows)).fit(rows, rows[:, :2] @ rng.normal(size=(2, 2)))


def write_version(root: Path, model: str, run_id: str, *, estimator: Any = None, metrics: dict | None = None,
                  created_at: str | None = None, model_bytes: bytes | None = None, **metadata: Any) -> Path:
    """A complete version; `model_bytes` replaces model.pkl with arbitrary bytes (a broken file)."""
    names = features_of(model)
    if estimator is None:
        estimator = detector(len(names)) if model == DETECTOR else forecaster(len(names))
    probe = np.random.default_rng(1).normal(0.5, 0.1, size=(4, len(names))).round(4).tolist()
    document = {
        "model": model, "kind": "anomaly-detector" if model == DETECTOR else "forecaster", "run_id": run_id,
        "created_at": created_at or artifacts.utc_now(), "git_ref": "test",
        "feature_contract": {"names": names, "count": len(names)},
        "metrics": metrics or (GOOD_DETECTOR_METRICS if model == DETECTOR else GOOD_FORECASTER_METRICS),
        "provenance": {"fallbacks": []}, "data_source": "prometheus", "training_hours": 24,
        "library_versions": artifacts.library_versions(),
        "probe_input": probe,
    }
    document.update(metadata)
    with artifacts.VersionWriter(root, model, run_id) as version:
        version.write_model(estimator)
        if model_bytes is not None:
            version.add_file(artifacts.MODEL_FILE, model_bytes)
        version.write_metadata(document)
    return artifacts.version_dir(root, model, run_id)


def mark_accepted(version: Path) -> Path:
    """Record a gate verdict accepting `version` as it is now (its model.pkl's sha256), without the slow probe."""
    artifacts.update_metadata(version, gate={"accepted": True, "reasons": [],
                                             "model_sha256": file_sha256(Path(version) / artifacts.MODEL_FILE)})
    return version


def promoted_setup(base: Path) -> tuple[Path, Path]:
    """Both default models as version "v1", gated and promoted under `base`/models: (models root, registry)."""
    registry = write_test_registry(base / "registry.yaml")
    root = base / "models"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELKIT_REGISTRY", str(registry))
        for model in (DETECTOR, FORECASTER):
            write_version(root, model, "v1")
            run_gate(root, get_model(model), "v1")
            promote(root, model, "v1", keep_versions=5)
    return root, registry
