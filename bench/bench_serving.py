"""Serving latency and throughput over HTTP against the same model's in-process predict.

Serves an anomaly detector built like the trained one (bench/serving_setup.py: scaler,
whitening PCA, IsolationForest of 100 trees, 5 features), gated and promoted, with the
real `modelkit serve` (KServe's model server, uvicorn on 127.0.0.1), sends v1 requests
of 1, 100 and 10,000 instances one at a time over a kept-alive connection, and times
`model.predict` on the same rows in this process: the floor. Prints p50/p99 latency,
instances per second, and the ratio of the HTTP p50 to the floor p50 (goal: <= 2x from
100 instances up; single-instance p50 < 10 ms). Then single-instance requests while one
request of `--large` instances (default: the --max-rows default, 10,000) is answered:
their p50/max against the single-instance p50 measured before (predict runs in a worker
thread; goal: p50 within 3x, none waits for the large one). `--quick`: 1 and 100
instances, 20 requests each, 20 trees (seconds).

    .venv/bin/python bench/bench_serving.py [--quick] [--requests 200] [--trees 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests
from serving_setup import MODEL, gated_detector_version, request_rows

from modelkit.serving.cli import DEFAULT_MAX_ROWS
from modelkit.serving.local_server import temporary_server
from modelkit.lifecycle.promotion import promote

SIZES = (1, 100, 10_000)
JSON = {"Content-Type": "application/json"}
QUICK = {"sizes": (1, 100), "requests": 20, "trees": 20}


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


def during_large_request(session: requests.Session, endpoint: str, small: str, large: str) -> tuple[list[float], float]:
    """Latencies of small requests sent back to back while the large one is answered, and its duration."""
    finished = {}

    def send_large() -> None:
        start = time.perf_counter()
        requests.post(endpoint, data=large, headers=JSON, timeout=600).raise_for_status()
        finished["seconds"] = time.perf_counter() - start

    sender = threading.Thread(target=send_large)
    sender.start()
    samples, deadline = [], time.monotonic() + 600
    while sender.is_alive() and time.monotonic() < deadline:
        start = time.perf_counter()
        session.post(endpoint, data=small, headers=JSON).raise_for_status()
        samples.append(time.perf_counter() - start)
    sender.join()
    return samples, finished["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"a few seconds: {QUICK}")
    parser.add_argument("--requests", type=int, default=200, help="requests per size (fewer for 10,000 instances)")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--large", type=int, default=DEFAULT_MAX_ROWS, help="instances of the large request")
    args = parser.parse_args()
    sizes = QUICK["sizes"] if args.quick else SIZES
    if args.quick:
        args.requests, args.trees = QUICK["requests"], QUICK["trees"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "models"
        model = gated_detector_version(root, "bench", args.trees)
        promote(root, MODEL, "bench", keep_versions=5)
        with temporary_server(root, [MODEL]) as url, requests.Session() as session:
            endpoint = f"{url}/v1/models/{MODEL}:predict"
            print(f"model: scaler + PCA + IsolationForest({args.trees} trees), {model.n_features_in_} features; server {url}")
            print(f"{'instances':>9} | {'floor p50':>10} {'floor p99':>10} | {'HTTP p50':>10} {'HTTP p99':>10} | "
                  f"{'HTTP inst/s':>11} {'floor inst/s':>12} | {'p50 ratio':>9}")
            for size in sizes:
                rows = request_rows(size)
                body = json.dumps({"instances": rows.tolist()})
                repeats = max(10, args.requests // (1 if size < 10_000 else 10))

                def over_http() -> None:
                    session.post(endpoint, data=body, headers=JSON).raise_for_status()

                floor = timed(lambda: model.predict(rows), repeats)
                http = timed(over_http, repeats)
                ratio = statistics.median(http) / statistics.median(floor)
                print(f"{size:>9} | {percentile(floor, 50) * 1e3:>8.2f}ms {percentile(floor, 99) * 1e3:>8.2f}ms | "
                      f"{percentile(http, 50) * 1e3:>8.2f}ms {percentile(http, 99) * 1e3:>8.2f}ms | "
                      f"{size / statistics.mean(http):>11.0f} {size / statistics.mean(floor):>12.0f} | {ratio:>8.2f}x")
                if size == 1:
                    alone = statistics.median(http)
            small = json.dumps({"instances": request_rows(1).tolist()})
            during, seconds = during_large_request(session, endpoint, small, json.dumps({"instances": request_rows(args.large).tolist()}))
    print("baseline: floor = model.predict on the same rows in this process; ratio = HTTP p50 / floor p50")
    print(f"while one {args.large}-instance request took {seconds:.2f} s: {len(during)} single-instance requests, "
          f"p50 {statistics.median(during) * 1e3:.2f} ms ({statistics.median(during) / alone:.1f}x alone), "
          f"max {max(during) * 1e3:.1f} ms ({max(during) / seconds:.0%} of the large request)")


if __name__ == "__main__":
    main()
