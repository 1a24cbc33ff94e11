"""The scorer's ServiceMonitor, as a real Prometheus applies it: a per-entity series keeps the node's
`instance` both where honorLabels is honoured and where OpenShift's user-workload monitoring
overrides it (cluster-monitoring-operator sets overrideHonorLabels: true on its Prometheus, so the
scraped `instance` becomes `exported_instance`; openshift-docs "Creating cluster ID labels for
metrics" note), while a cluster-wide series keeps the target's instance. The endpoint's
metricRelabelings are rendered by helm and written into the scrape config as prometheus-operator
would (camelCase -> snake_case)."""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from chart_helpers import by_kind, render

SCORER_TEXT = """# TYPE modelkit_anomaly_score gauge
modelkit_anomaly_score{entity="worker-2",instance="worker-2",model="node-detector",version="v1"} -0.2
modelkit_anomaly_score{model="anomaly-detector",version="v3"} 0.1
"""
SNAKE = {"sourceLabels": "source_labels", "targetLabel": "target_label"}


def relabelings() -> list[dict]:
    [monitor] = [m for m in by_kind(render(), "ServiceMonitor") if m["metadata"]["name"] == "modelkit-scorer"]
    [endpoint] = monitor["spec"]["endpoints"]
    return [{SNAKE.get(k, k): v for k, v in rule.items()} for rule in endpoint["metricRelabelings"]]


@pytest.fixture
def exporter():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = SCORER_TEXT.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize("honor_labels", [True, False], ids=["honorLabels", "user-workload-override"])
def test_a_per_entity_series_keeps_the_nodes_instance(exporter, honor_labels, tmp_path):
    import yaml

    from fixtures.prometheus import free_port, missing_binaries
    from fixtures.readiness import wait_ready

    if missing_binaries():
        pytest.fail("Debian prometheus not installed (make system-packages)")
    config = {"global": {"scrape_interval": "1s"},
              "scrape_configs": [{"job_name": "modelkit-scorer", "honor_labels": honor_labels,
                                  "static_configs": [{"targets": [f"127.0.0.1:{exporter}"]}],
                                  "metric_relabel_configs": relabelings()}]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{port}",
                                f"--storage.tsdb.path={tmp_path / 'data'}", "--log.level=warn"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, f"{url}/-/ready", "the label test's Prometheus", timeout=30)
        deadline, found = time.monotonic() + 20, []
        while time.monotonic() < deadline and len(found) < 2:
            found = requests.get(f"{url}/api/v1/query", params={"query": "modelkit_anomaly_score"}, timeout=5).json()["data"]["result"]
            time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(timeout=15)
    by_model = {series["metric"]["model"]: series["metric"] for series in found}
    assert by_model["node-detector"]["instance"] == "worker-2"
    assert not [k for k in by_model["node-detector"] if k.startswith("exported_")]
    assert by_model["anomaly-detector"]["instance"] == f"127.0.0.1:{exporter}"  # the target's, as before
