"""A per-node detector and forecaster for the entity scoring tests, trained by the project's
training workflows (DATA_SOURCE=prometheus: the loader's panel frame with its injected per-entity
events, per-entity features, the split, calibration and per-entity evaluation) on the session
Prometheus's per-node history (tests/fixtures/entity_history.py: worker-1..4; worker-2 misbehaves
from anchor - 6 h to - 5 h). The training window ends an hour before the incident, so the models
never saw it. Marked accepted and promoted without the gate's slow probe (lifecycle.factory).
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml

from lifecycle.factory import mark_accepted
from modelkit.lifecycle.promotion import promote
from modelkit.registry import load_registry
from modelkit.training import anomaly_workflow, forecast_workflow
from modelkit.training.publish import publish_version
from modelkit.training.run_context import start_run

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


def train_with_workflow(root: Path, registry: Path, server, model: str, run_id: str = "v1", seed: int = 7) -> Path:
    """A gate-accepted, promoted version of `model` trained by its workflow on the `TRAINING_HOURS`
    of the session Prometheus ending 7 h before the entity anchor (an hour before the incident)."""
    spec = load_registry(registry)[model]
    workflow = forecast_workflow if spec.kind == "forecaster" else anomaly_workflow
    env = {**server.env(), "MODEL_NAME": model, "DATA_SOURCE": "prometheus", "TRAINING_HOURS": str(TRAINING_HOURS),
           "MODELS_ROOT": str(root), "RUN_ID": run_id, "SEED": str(seed), "GIT_REF": "test"}
    run = start_run(workflow.KINDS, env=env)
    result = workflow.train(run, end=datetime.fromtimestamp(server.entity_anchor - 7 * HOUR, timezone.utc))
    version = publish_version(run, result.model, result.metadata())
    mark_accepted(version)
    promote(root, model, run_id, keep_versions=5)
    return version
