"""A fleet of N nodes for bench_scoring.py's per-entity case: the last 40 min of three per-node gauges
(`fleet:*`, entity_history.py's names) for worker-1..N backfilled into a real TLS Prometheus
(tests/fixtures/prometheus.py's start_prometheus), and a promoted per-node detector over them (the
project's detector pipeline fitted on per-node rows drawn like the fleet's)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import yaml

FAMILIES = ("fleet:node_cpu:ratio", "fleet:node_memory_utilisation:ratio", "fleet:node_load1_per_cpu:ratio")
METRICS = ("node_cpu_utilisation", "node_memory_utilisation", "node_load_per_cpu")
MODEL = "fleet-detector"
MINUTES = 40


def levels(nodes: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 0.7, size=(nodes, len(FAMILIES)))


def backfill(data_dir: Path, work: Path, nodes: int, end: int) -> None:
    work.mkdir(parents=True, exist_ok=True)
    path = work / "fleet.om"
    base, seconds = levels(nodes), np.arange(end - MINUTES * 60, end + 1, 60)
    noise = np.random.default_rng(4)
    with path.open("w") as out:
        for column, family in enumerate(FAMILIES):
            out.write(f"# TYPE {family} gauge\n")
            for node in range(nodes):
                values = base[node, column] + noise.normal(0, 0.01, len(seconds))
                out.write("".join(f'{family}{{instance="worker-{node + 1}"}} {v:.5f} {t}\n' for v, t in zip(values, seconds)))
        out.write("# EOF\n")
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(path), str(data_dir)], check=True,
                   capture_output=True)


def registry_entry() -> dict:
    return {"name": MODEL, "kind": "anomaly-detector", "notebook": "notebooks/02-anomaly-detection/01-isolation-forest-implementation.ipynb",
            "schedule": "0 2 * * 0", "dataSource": "prometheus", "trainingHours": 168, "entity": ["instance"],
            "metrics": [{"name": m, "query": f, "aggregate": "mean", "unit": "ratio"} for m, f in zip(METRICS, FAMILIES)],
            "features": list(METRICS), "thresholds": {"maxFalseAlarmsPerDay": 2}}


def write_registry(path: Path) -> Path:
    path.write_text(yaml.safe_dump({"models": [registry_entry()]}))
    return path


def promote_detector(root: Path, nodes: int) -> None:
    import pandas as pd

    from lifecycle.factory import GOOD_DETECTOR_METRICS, mark_accepted
    from modelkit import artifacts
    from modelkit.lifecycle.promotion import promote
    from modelkit.training import anomaly_detector

    rows = np.repeat(levels(nodes), 20, axis=0) + np.random.default_rng(5).normal(0, 0.01, (nodes * 20, len(METRICS)))
    features = pd.DataFrame(rows, columns=list(METRICS))
    model = anomaly_detector.fit(features, pd.Series(False, index=features.index), anomaly_detector.build_pipeline(0, len(rows)))
    with artifacts.VersionWriter(root, MODEL, "v1") as version:
        version.write_model(model)
        version.write_metadata({"model": MODEL, "kind": "anomaly-detector", "run_id": "v1", "created_at": artifacts.utc_now(),
                                "git_ref": "bench", "feature_contract": {"names": list(METRICS), "count": len(METRICS)},
                                "metrics": GOOD_DETECTOR_METRICS, "provenance": {"fallbacks": []}, "data_source": "prometheus",
                                "training_hours": 168, "library_versions": artifacts.library_versions(),
                                "probe_input": rows[:4].round(5).tolist()})
    mark_accepted(artifacts.version_dir(root, MODEL, "v1"))
    promote(root, MODEL, "v1", keep_versions=2)
