"""The served model of the serving benchmarks: an anomaly detector built like the trained
one (`modelkit.training.anomaly_detector.build_pipeline`: scaler, whitening PCA,
IsolationForest), written as a version under a temporary models root and judged by the
real quality gate. Its metrics are stated to pass the registry's thresholds: the
benchmarks measure serving, not model quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from modelkit import artifacts
from modelkit.lifecycle.gate import run_gate
from modelkit.registry import get_model
from modelkit.training.anomaly_detector import build_pipeline

MODEL = "anomaly-detector"
STATED_METRICS = {"events": 5, "event_recall": 0.9, "point_precision": 0.8, "false_alarms_per_day": 1.0,
                  "false_alarm_days": 1.4, "false_alarm_time_share": 0.01}  # on 1.4 days of untouched held-out rows


def gated_detector_version(root: Path, run_id: str, trees: int, seed: int = 0) -> Pipeline:
    """Fit, write and gate version `run_id`; returns the fitted model (the in-process baseline)."""
    spec = get_model(MODEL)
    rng = np.random.default_rng(seed)
    rows = rng.normal(0.5, 0.1, size=(10_000, len(spec.features)))
    model = build_pipeline(seed, len(rows), n_estimators=trees).fit(rows)
    with artifacts.VersionWriter(root, MODEL, run_id) as version:
        version.write_model(model)
        version.write_metadata({
            "model": MODEL, "kind": spec.kind, "run_id": run_id, "created_at": artifacts.utc_now(),
            "feature_contract": {"names": list(spec.features), "count": len(spec.features)},
            "metrics": STATED_METRICS, "provenance": {"fallbacks": []}, "data_source": "synthetic",
            "training_hours": 24, "library_versions": artifacts.library_versions(),
            "probe_input": rows[:4].round(4).tolist(),
        })
    run_gate(root, spec, run_id)
    return model


def request_rows(count: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.5, 0.1, size=(count, len(get_model(MODEL).features)))
