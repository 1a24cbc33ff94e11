"""Serving latency and throughput over HTTP against the same model's in-process predict.

Serves an anomaly detector shaped like the trained one (StandardScaler +
IsolationForest, 200 trees, 5 features) with the real `modelkit serve` (KServe's model
server, uvicorn on 127.0.0.1), sends v1 requests of 1, 100 and 10,000 instances one at
a time over a kept-alive connection, and times `model.predict` on the same rows in this
process: the floor. Prints p50/p99 latency, instances per second, and the ratio of the
HTTP p50 to the floor p50 (goal: <= 2x from 100 instances up; single-instance p50 < 10 ms).

    .venv/bin/python bench/bench_serving.py [--requests 200] [--trees 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelkit import artifacts
from modelkit.lifecycle.local_server import temporary_server
from modelkit.lifecycle.promotion import promote
from modelkit.lifecycle.served_state import file_sha256

MODEL = "anomaly-detector"
FEATURES = ["node_cpu_utilisation", "node_memory_utilisation", "node_load_per_cpu", "pod_cpu_to_request_ratio",
            "container_restarts_rate"]
SIZES = (1, 100, 10_000)


def served_detector(root: Path, trees: int) -> Pipeline:
    rng = np.random.default_rng(0)
    model = Pipeline([("scale", StandardScaler()),
                      ("forest", IsolationForest(n_estimators=trees, max_samples=256, random_state=0))])
    model.fit(rng.normal(0.5, 0.1, size=(10_000, len(FEATURES))))
    with artifacts.VersionWriter(root, MODEL, "bench") as version:
        version.write_model(model)
        version.write_metadata({"model": MODEL, "run_id": "bench", "created_at": artifacts.utc_now(),
                                "feature_contract": {"names": FEATURES, "count": len(FEATURES)},
                                "library_versions": artifacts.library_versions(),
                                "gate": {"accepted": True, "reasons": ["benchmark model, not gated"],
                                         "model_sha256": file_sha256(version.staging_path / artifacts.MODEL_FILE)}})
    promote(root, MODEL, "bench", keep_versions=5)
    return model


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


def timed(call, repeats: int) -> list[float]:
    call()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per size (fewer for 10,000 instances)")
    parser.add_argument("--trees", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "models"
        model = served_detector(root, args.trees)
        with temporary_server(root, [MODEL]) as url, requests.Session() as session:
            endpoint = f"{url}/v1/models/{MODEL}:predict"
            print(f"model: StandardScaler + IsolationForest({args.trees} trees), {len(FEATURES)} features; server {url}")
            print(f"{'instances':>9} | {'floor p50':>10} {'floor p99':>10} | {'HTTP p50':>10} {'HTTP p99':>10} | "
                  f"{'HTTP inst/s':>11} {'floor inst/s':>12} | {'p50 ratio':>9}")
            for size in SIZES:
                rows = rng.normal(0.5, 0.1, size=(size, len(FEATURES)))
                body = json.dumps({"instances": rows.tolist()})
                repeats = max(10, args.requests // (1 if size < 10_000 else 10))

                def over_http() -> None:
                    response = session.post(endpoint, data=body, headers={"Content-Type": "application/json"})
                    response.raise_for_status()

                floor = timed(lambda: model.predict(rows), repeats)
                http = timed(over_http, repeats)
                ratio = statistics.median(http) / statistics.median(floor)
                print(f"{size:>9} | {percentile(floor, 50) * 1e3:>8.2f}ms {percentile(floor, 99) * 1e3:>8.2f}ms | "
                      f"{percentile(http, 50) * 1e3:>8.2f}ms {percentile(http, 99) * 1e3:>8.2f}ms | "
                      f"{size / statistics.mean(http):>11.0f} {size / statistics.mean(floor):>12.0f} | {ratio:>8.2f}x")
    print("floor = model.predict on the same rows in this process; ratio = HTTP p50 / floor p50")


if __name__ == "__main__":
    main()
