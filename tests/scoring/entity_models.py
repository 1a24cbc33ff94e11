"""A per-node detector for the entity scoring tests, trained on the session Prometheus's per-node
history (tests/fixtures/entity_history.py: worker-1..4; worker-2 misbehaves from anchor - 6 h to
- 5 h) with the project's own pieces: the loader's panel frame (DATA_SOURCE=prometheus, its
injected per-entity events as labels), the per-entity feature code, the detector's pipeline, fit,
calibration and threshold, and the project's forecaster for a per-node forecaster. Not through the
training workflows, which do not take a panel frame yet; the training window ends an hour before
the incident, so the models never saw it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import yaml

from lifecycle.factory import GOOD_DETECTOR_METRICS, GOOD_FORECASTER_METRICS, mark_accepted
from modelkit import artifacts
from modelkit.data.loader import load_training_frame
from modelkit.features import model_inputs
from modelkit.lifecycle.promotion import promote
from modelkit.registry import load_registry
from modelkit.settings import Settings
from modelkit.training import anomaly_detector
from modelkit.training import forecaster as forecaster_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from entity_helpers import entity_entry  # noqa: E402

NODE_DETECTOR = "node-detector"
NODE_FORECASTER = "node-forecaster"
HORIZON_MINUTES = 60
NODE_FORECASTER_ENTRY = {
    "name": NODE_FORECASTER, "kind": "forecaster", "notebook": "notebooks/03-predictive-analytics/01-forecasting.ipynb",
    "schedule": "0 3 * * 0", "dataSource": "prometheus", "trainingHours": 48, "entity": ["instance"],
    "forecastHorizonMinutes": HORIZON_MINUTES,
    "metrics": [{"name": "node_cpu_utilisation", "query": "fleet:node_cpu:ratio", "aggregate": "mean", "unit": "ratio"},
                {"name": "node_memory_utilisation", "query": "fleet:node_memory_utilisation:ratio", "aggregate": "mean", "unit": "ratio"}],
    "features": ["node_cpu_utilisation_delta_15m", "node_memory_utilisation_delta_15m", "hour_of_day_sin", "hour_of_day_cos"],
    "thresholds": {"maxMape": 0.5},
}
HOUR = 3600
TRAINING_HOURS = 48


def write_entity_registry(path: Path) -> Path:
    entry = entity_entry(thresholds={"maxFalseAlarmsPerDay": 2})
    path.write_text(yaml.safe_dump({"models": [entry, NODE_FORECASTER_ENTRY]}))
    return path


def train_node_detector(root: Path, registry: Path, server, run_id: str = "v1", seed: int = 7) -> Path:
    """A promoted, gate-accepted version of NODE_DETECTOR trained on the `TRAINING_HOURS` ending
    7 h before the session's entity anchor."""
    spec = load_registry(registry)[NODE_DETECTOR]
    end = server.entity_anchor - 7 * HOUR
    settings = Settings.from_env({**server.env(), "MODEL_NAME": spec.name, "DATA_SOURCE": "prometheus",
                                  "TRAINING_HOURS": str(TRAINING_HOURS), "SEED": str(seed)})
    loaded = load_training_frame(spec, settings, end=float(end))
    names, entity = list(spec.features), list(spec.entity)
    untouched = model_inputs(loaded.untouched, names, 60, entity)[names]
    injected = model_inputs(loaded.frame, names, 60, entity)[names]
    model = anomaly_detector.fit(untouched, pd.Series(False, index=untouched.index),
                                 anomaly_detector.build_pipeline(seed, len(untouched)), seed=seed)
    calibration = anomaly_detector.calibrate(model.score_samples(injected.to_numpy(dtype=float)),
                                             loaded.frame["is_anomaly"].to_numpy(dtype=bool), 60,
                                             anomaly_detector.false_alarm_budget(spec.thresholds),
                                             untouched_scores=model.score_samples(untouched.to_numpy(dtype=float)))
    anomaly_detector.set_threshold(model, calibration.threshold)
    return publish(root, spec, run_id, model, untouched, "anomaly-detector", GOOD_DETECTOR_METRICS, loaded.provenance)


def train_node_forecaster(root: Path, registry: Path, server, run_id: str = "v1", seed: int = 7) -> Path:
    """A promoted NODE_FORECASTER: the project's forecaster fitted on each node's change over the
    horizon (per node: no target crosses into another node's rows), same window as the detector."""
    spec = load_registry(registry)[NODE_FORECASTER]
    settings = Settings.from_env({**server.env(), "MODEL_NAME": spec.name, "DATA_SOURCE": "prometheus",
                                  "TRAINING_HOURS": str(TRAINING_HOURS), "SEED": str(seed)})
    loaded = load_training_frame(spec, settings, end=float(server.entity_anchor - 7 * HOUR))
    names, entity, metrics = list(spec.features), list(spec.entity), list(spec.metric_names)
    inputs = model_inputs(loaded.untouched, names, 60, entity)
    ahead = loaded.untouched.groupby(entity, sort=False)[metrics].shift(-HORIZON_MINUTES)
    targets = ahead - loaded.untouched[metrics]
    usable = inputs[names].notna().all(axis=1).to_numpy() & targets.notna().all(axis=1).to_numpy()
    model = forecaster_model.build_model(seed, int(usable.sum())).fit(inputs[names].to_numpy()[usable], targets.to_numpy()[usable])
    return publish(root, spec, run_id, model, inputs[names][usable], "forecaster", GOOD_FORECASTER_METRICS, loaded.provenance)


def publish(root: Path, spec, run_id: str, model, inputs: pd.DataFrame, kind: str, metrics: dict, provenance: dict) -> Path:
    names = list(spec.features)
    with artifacts.VersionWriter(root, spec.name, run_id) as writer:
        writer.write_model(model)
        writer.write_metadata({
            "model": spec.name, "kind": kind, "run_id": run_id, "created_at": artifacts.utc_now(),
            "git_ref": "test", "feature_contract": {"names": names, "count": len(names)}, "metrics": metrics,
            "provenance": provenance, "data_source": "prometheus", "training_hours": TRAINING_HOURS,
            "library_versions": artifacts.library_versions(), "probe_input": inputs.iloc[:4].round(6).to_numpy().tolist()})
    version = artifacts.version_dir(root, spec.name, run_id)
    mark_accepted(version)
    promote(root, spec.name, run_id, keep_versions=5)
    return version
