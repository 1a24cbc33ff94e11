"""A second real Prometheus scrapes a stand-in exporter (the registry's metric names, values the test
sets) and a running scorer on 127.0.0.1: the scores appear there with the right labels, and a fault
introduced into the live metrics raises the anomaly flag within 5 grid steps while the normal
part raises none. Step 5 s stands in for 60 s: in a cluster the scorer runs one cycle per step
(interval = step = 60 s), so "within five cycles" there is within five steps here. The test cycles
every ~1 s so that it sees the flag as soon as the newest grid point holds the fault; it counts
steps, not its own cycles, since a fault lands anywhere within a step (a bound of 5 fast cycles was
one step, and failed whenever the fault came early in one). 6.5 h of the normal levels are
backfilled first, since the detector's inputs are deviations from the 6-hour mean."""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests

from fixtures.ci import unavailable
from fixtures.prometheus import free_port, missing_binaries
from fixtures.readiness import wait_ready
from lifecycle.factory import DETECTOR
from modelkit.data.prometheus import PrometheusClient
from modelkit.scoring.http_server import start_server
from modelkit.scoring.scorer import Scorer, ScorerConfig
from modelkit.scoring.window import fetch_window

STEP = 5
NODE = "worker-1"  # the one node of the stand-in exporter


class StandInExporter:
    """The detector's five inputs under the registry's PromQL names, at values the test sets."""

    def __init__(self, levels: dict[str, float]):
        self.levels = dict(levels)
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = exporter.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]

    def families(self) -> list[tuple[str, str, str, float]]:
        """(family, type, labels, value) of each series, as the registry's PromQL reads them: the default
        detector is per node, so the node series carry the node's `instance` and the restarts reach it
        through the pod's node (`node_namespace_pod:kube_pod_info:`). Every series names its job and
        instance itself (scraped with honor_labels), so the backfilled and the scraped series are one."""
        v, node, own = self.levels, f'job="stand-in",instance="{NODE}"', f'job="stand-in",instance="127.0.0.1:{self.port}"'
        pod = 'namespace="app",pod="checkout"'
        return [("instance:node_cpu:ratio", "gauge", f"{{{node}}}", v["node_cpu_utilisation"]),
                ("instance:node_memory_utilisation:ratio", "gauge", f"{{{node}}}", v["node_memory_utilisation"]),
                ("instance:node_load1_per_cpu:ratio", "gauge", f"{{{node}}}", v["node_load_per_cpu"]),
                ("node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate", "gauge", f"{{{own}}}",
                 v["pod_cpu_to_request_ratio"]),
                ("kube_pod_container_resource_requests", "gauge", f'{{{own},resource="cpu"}}', 1.0),
                ("kube_pod_container_status_restarts", "counter", f"{{{own},{pod}}}", v["restarts"]),
                ("node_namespace_pod:kube_pod_info:", "gauge", f'{{{own},{pod},node="{NODE}"}}', 1.0)]

    def text(self) -> str:
        return "".join((f"# TYPE {name}_total counter\n{name}_total" if kind == "counter" else name) + f"{labels} {value}\n"
                       for name, kind, labels, value in self.families())

    def backfill(self, data_dir: Path, hours: float, end: float) -> None:
        """`hours` of these levels up to `end` into a TSDB at `data_dir` (promtool), at the drill's step:
        the detector's features compare the latest row with the last 6 hours."""
        lines = []
        stamps = np.arange(end - hours * 3600, end, STEP)
        for name, kind, labels, value in self.families():
            family = f"{name}_total" if kind == "counter" else name
            lines.append(f"# TYPE {name} {kind}")
            lines += [f"{family}{labels} {value} {stamp:.0f}" for stamp in stamps]
        source = data_dir.parent / "history.om"
        source.write_text("\n".join(lines) + "\n# EOF\n")
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(source), str(data_dir)],
                       check=True, capture_output=True, timeout=300)


@pytest.fixture
def drill_prometheus(tmp_path):
    if missing_binaries():
        unavailable(f"{', '.join(missing_binaries())} not installed (Debian packages prometheus, prometheus-node-exporter)")
    # Steady levels: the detector's inputs are deviations from the 6 h mean (0 here) and the restart rate.
    normal = {"node_cpu_utilisation": 0.4, "node_memory_utilisation": 0.6, "node_load_per_cpu": 0.5,
              "pod_cpu_to_request_ratio": 0.5, "restarts": 0}
    exporter = StandInExporter(normal)
    exporter.backfill(tmp_path / "data", hours=6.5, end=time.time() - 60)
    scorer_port = free_port()
    (tmp_path / "prometheus.yml").write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: stand-in
    honor_labels: true
    static_configs: [{{targets: ["127.0.0.1:{exporter.port}"]}}]
  - job_name: modelkit-scorer
    honor_labels: true  # as the chart's ServiceMonitor (honorLabels): the scorer's `instance` is the node's
    static_configs: [{{targets: ["127.0.0.1:{scorer_port}"]}}]
""")
    port = free_port()
    process = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{port}",
                                f"--storage.tsdb.path={tmp_path / 'data'}", "--log.level=warn"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, f"{url}/-/ready", "the drill's Prometheus", timeout=30)
    yield url, exporter, scorer_port
    process.terminate()
    process.wait(timeout=15)
    exporter.server.shutdown()


def instant(url: str, query: str) -> list[dict]:
    return requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()["data"]["result"]


def test_prometheus_scrapes_the_scorer_and_a_live_fault_raises_the_flag_within_five_steps(models, drill_prometheus, monkeypatch):
    url, exporter, scorer_port = drill_prometheus
    monkeypatch.setenv("MODELKIT_REGISTRY", str(models.registry))
    client = PrometheusClient(url, timeout_seconds=5, attempts=1)
    specs = [s for s in models.specs() if s.name == DETECTOR]
    scorer = Scorer(specs, ScorerConfig(models.root, interval_seconds=1, step_seconds=STEP),
                    lambda spec, seconds, step, end: fetch_window(client, spec, seconds, step, end))
    server = start_server("127.0.0.1", scorer_port, scorer.metrics.text, lambda: scorer.ready)
    try:
        assert requests.get(f"http://127.0.0.1:{scorer_port}/readyz", timeout=5).status_code == 503
        for _ in range(20):  # until Prometheus holds two scrapes (the restart rate) at the newest grid point
            scorer.cycle()
            if samples_flag(scorer) is not None:
                break
            time.sleep(1)
        flags = []
        for _ in range(8):  # normal part
            scorer.cycle()
            flags.append(samples_flag(scorer))
            time.sleep(1)
        assert requests.get(f"http://127.0.0.1:{scorer_port}/readyz", timeout=5).status_code == 200
        assert flags == [0] * 8, f"normal rows flagged: {flags}"

        scraped = wait_for(lambda: instant(url, 'modelkit_anomaly_score{job="modelkit-scorer"}'))
        assert scraped[0]["metric"]["model"] == DETECTOR and scraped[0]["metric"]["version"] == "v1"
        assert scraped[0]["metric"]["instance"] == NODE  # the scorer's series name the node (its ServiceMonitor honours labels)
        assert instant(url, 'modelkit_model_info{kind="anomaly-detector",version="v1"}')

        exporter.levels.update(node_cpu_utilisation=0.99, node_load_per_cpu=3.0, pod_cpu_to_request_ratio=2.5)
        fault_at = time.monotonic()
        while time.monotonic() - fault_at < 5 * STEP and samples_flag(scorer) != 1:
            time.sleep(1)
            scorer.cycle()
        steps = (time.monotonic() - fault_at) / STEP
        print(f"fault drill: flag after {steps:.1f} steps of {STEP} s")
        assert samples_flag(scorer) == 1, f"no flag within 5 steps ({steps:.1f} steps after the fault)"
        assert wait_for(lambda: instant(url, 'modelkit_anomaly_flag{job="modelkit-scorer"} == 1'))
    finally:
        server.shutdown()


def samples_flag(scorer) -> int | None:
    from .helpers import samples, value

    flag = value(samples(scorer.metrics.text()), "modelkit_anomaly_flag", model=DETECTOR, version="v1", instance=NODE)
    return None if flag is None else int(flag)


def wait_for(check, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError("not seen in Prometheus in time")
