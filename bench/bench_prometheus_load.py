"""Load 720 h of the anomaly detector's default features (cluster-wide) at a 60 s step from the test
Prometheus (tests/fixtures: real Prometheus, 31 days of backfilled history), two ways:

  modelkit     `load_training_frame` with DATA_SOURCE=prometheus: chunked query_range of
               server-side aggregated/rated queries, parsed to numpy, plus anomaly injection
  reference    the reference notebooks' approach: prometheus-api-client
               `get_metric_range_data` (raw samples of every series) -> `MetricRangeDataFrame`
               -> pandas: per-timestamp aggregation, counter rates, alignment on the grid

Each run is a fresh child process (same imports for both); it reports the wall time of
the load and the peak resident memory the load added (peak RSS minus RSS before it).
Prints the median of --repeat runs per approach and the ratios reference/modelkit
(goal: time ratio >= 3, memory ratio >= 1).

    .venv/bin/python bench/bench_prometheus_load.py [--repeat 3] [--quick]

--quick (run by `make test`): a 48 h pull, one run per approach.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory import peak_rss_mb, rss_mb  # bench/memory.py: the script's folder is on sys.path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STEP = 60
MODEL = "anomaly-detector"


def load_modelkit(url: str, ca: str, end: int, hours: int):
    from modelkit.data import load_training_frame
    from modelkit.entities import cluster_wide
    from modelkit.registry import get_model
    from modelkit.settings import Settings

    env = {"MODEL_NAME": MODEL, "DATA_SOURCE": "prometheus", "TRAINING_HOURS": str(hours), "PROMETHEUS_URL": url, "PROMETHEUS_CA_BUNDLE": ca}
    # the reference pulls cluster-wide aggregates: so does this side (the per-node load is bench_entity_load's)
    return load_training_frame(cluster_wide(get_model(MODEL)), Settings.from_env(env), end=end).features


def load_reference(url: str, ca: str, end: int, hours: int):
    from datetime import datetime, timezone

    import numpy as np
    import pandas as pd
    from prometheus_api_client import MetricRangeDataFrame, PrometheusConnect

    connection = PrometheusConnect(url=url, disable_ssl=False)
    connection._session.verify = ca  # the client has no CA-bundle option
    start_time = datetime.fromtimestamp(end - hours * 3600, timezone.utc)
    end_time = datetime.fromtimestamp(end, timezone.utc)
    grid = pd.date_range(end=pd.Timestamp(end, unit="s", tz="UTC"), periods=hours * 3600 // STEP, freq=f"{STEP}s")

    def series(name: str, labels: dict | None = None) -> pd.DataFrame:
        raw = connection.get_metric_range_data(name, label_config=labels, start_time=start_time, end_time=end_time)
        frame = MetricRangeDataFrame(raw)
        frame.index = frame.index.tz_localize("UTC")
        labels = [c for c in frame.columns if c not in ("value", "__name__")]
        wide = frame.pivot_table(index=frame.index, columns=labels, values="value")
        return wide.reindex(grid, method="ffill", limit=5)

    def counter_rate(wide: pd.DataFrame) -> pd.DataFrame:
        window = 5  # minutes, as modelkit's rate window
        increase = wide.diff().clip(lower=0)
        return increase.rolling(window, min_periods=1).sum() / (window * STEP)

    usage = series("node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate").sum(axis=1)
    requests_ = series("kube_pod_container_resource_requests", {"resource": "cpu"}).sum(axis=1)
    return pd.DataFrame(
        {
            "node_cpu_utilisation": series("instance:node_cpu:ratio").mean(axis=1),
            "node_memory_utilisation": series("instance:node_memory_utilisation:ratio").mean(axis=1),
            "node_load_per_cpu": series("instance:node_load1_per_cpu:ratio").mean(axis=1),
            "pod_cpu_to_request_ratio": usage / requests_.replace(0, np.nan),
            "container_restarts_rate": counter_rate(series("kube_pod_container_status_restarts_total")).sum(axis=1),
        },
        index=grid,
    ).interpolate(limit_area="inside").ffill().bfill()


LOADERS = {"modelkit": load_modelkit, "reference": load_reference}


def child(approach: str, url: str, ca: str, end: int, hours: int, save: str | None) -> None:
    import numpy  # noqa: F401  (imports outside the measured load, same for both)
    import pandas  # noqa: F401
    import prometheus_api_client  # noqa: F401
    import modelkit.data  # noqa: F401

    before = rss_mb()
    began = time.perf_counter()
    frame = LOADERS[approach](url, ca, end, hours)
    seconds = time.perf_counter() - began
    added = peak_rss_mb() - before
    if save:
        frame.to_parquet(save)
    print(json.dumps({"seconds": seconds, "peak_added_mb": added, "rows": len(frame), "columns": list(frame.columns)}))


def run_child(approach: str, server, hours: int, save: str | None = None) -> dict:
    command = [sys.executable, __file__, "--child", approach, "--url", server.direct_url, "--ca", str(server.ca_bundle), "--end", str(server.history_end), "--hours", str(hours)]
    if save:
        command += ["--save", save]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"{approach} run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare_frames(folder: Path) -> str:
    import pandas as pd

    # without Arrow's thread pool, as modelkit's reader (data/file_source.py): with it a short process may abort at exit
    ours, reference = (pd.read_parquet(folder / name, use_threads=False) for name in ("modelkit.parquet", "reference.parquet"))
    gauges = ["node_cpu_utilisation", "node_memory_utilisation", "node_load_per_cpu", "pod_cpu_to_request_ratio"]
    differences = (ours[gauges] - reference[gauges].to_numpy()).abs()
    untouched = (differences.max(axis=1) < 1e-9).to_numpy()
    return f"rows identical on all 4 gauge features: {untouched.mean():.1%} (the rest are modelkit's injected anomalies, 20 % by design)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=sorted(LOADERS))
    parser.add_argument("--url")
    parser.add_argument("--ca")
    parser.add_argument("--end", type=int)
    parser.add_argument("--save")
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--quick", action="store_true", help="a 48 h pull, one run per approach (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.hours, args.repeat = 48, 1
    if args.child:
        child(args.child, args.url, args.ca, args.end, args.hours, args.save)
        return
    sys.path.insert(0, str(PROJECT_ROOT / "tests"))
    from fixtures.prometheus import missing_binaries, start_server

    if missing_binaries():
        sys.exit(f"missing {', '.join(missing_binaries())}: run `make system-packages`")
    with tempfile.TemporaryDirectory(prefix="bench-prometheus-") as folder:
        began = time.perf_counter()
        server = start_server(Path(folder))
        print(f"test Prometheus ready in {time.perf_counter() - began:.1f} s (31 days of history)")
        try:
            results: dict[str, list[dict]] = {name: [] for name in LOADERS}
            for attempt in range(args.repeat):
                for name in LOADERS:  # alternate, so both see the same server state
                    save = str(Path(folder) / f"{name}.parquet") if attempt == 0 else None
                    results[name].append(run_child(name, server, args.hours, save))
            print(compare_frames(Path(folder)))
        finally:
            server.stop()
    summary = {name: (statistics.median(r["seconds"] for r in runs), statistics.median(r["peak_added_mb"] for r in runs)) for name, runs in results.items()}
    rows = results["modelkit"][0]["rows"]
    print(f"\n{args.hours} h x {len(results['modelkit'][0]['columns'])} features at {STEP} s = {rows} rows; median of {args.repeat} runs")
    print(f"{'approach':<10} {'wall s':>8} {'peak MB added':>14}")
    for name, (seconds, megabytes) in summary.items():
        print(f"{name:<10} {seconds:>8.2f} {megabytes:>14.1f}")
    (ours_s, ours_mb), (ref_s, ref_mb) = summary["modelkit"], summary["reference"]
    print(f"ratio reference/modelkit (baseline: modelkit): time {ref_s / ours_s:.1f}x (goal >= 3), memory {ref_mb / max(ours_mb, 0.1):.1f}x (goal >= 1)")


if __name__ == "__main__":
    main()
