"""Per-entity registry specs for the data tests: built from the registry's validation, not by hand."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from modelkit.registry import load_registry

NODE_MODEL = {
    "name": "node-detector",
    "kind": "anomaly-detector",
    "notebook": "notebooks/02-anomaly-detection/01-isolation-forest-implementation.ipynb",
    "schedule": "0 2 * * 0",
    "dataSource": "prometheus",
    "trainingHours": 168,
    "entity": ["instance"],
    "metrics": [
        {"name": "node_cpu_utilisation", "query": "fleet:node_cpu:ratio", "aggregate": "mean", "unit": "ratio",
         "synthetic": {"baseline": 0.35, "daily": 0.12, "noise": 0.02, "min": 0, "max": 1, "anomalies": ["spike", "drop", "level_shift"]}},
        {"name": "node_memory_utilisation", "query": "fleet:node_memory_utilisation:ratio", "aggregate": "mean", "unit": "ratio",
         "synthetic": {"baseline": 0.6, "daily": 0.04, "noise": 0.006, "min": 0, "max": 1, "anomalies": ["slow_leak", "spike"]}},
        {"name": "node_load_per_cpu", "query": "fleet:node_load1_per_cpu:ratio", "aggregate": "mean", "unit": "ratio"},
        {"name": "container_restarts_rate", "query": "kube_pod_container_status_restarts_total", "type": "counter",
         "aggregate": "sum", "unit": "per_second", "entityJoin": "broadcast", "synthetic": {"events_per_hour": 6, "min": 0}},
    ],
    "features": ["node_cpu_utilisation", "node_memory_utilisation", "node_load_per_cpu", "container_restarts_rate"],
    "thresholds": {"minEvents": 2},
}


def entity_entry(**changes) -> dict:
    entry = copy.deepcopy(NODE_MODEL)
    entry.update(changes)
    return entry


def entity_spec(tmp_path: Path, **changes):
    """The ModelSpec of NODE_MODEL with `changes`, through a registry file and its validation."""
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"models": [entity_entry(**changes)]}))
    return load_registry(path)[changes.get("name", NODE_MODEL["name"])]
