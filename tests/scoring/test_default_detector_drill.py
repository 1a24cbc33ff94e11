"""Issue 13's drill with the registry's default anomaly detector as it ships (charts/hub/values.yaml:
per node, its PromQL, features and 1-false-alarm-per-node-day limit), not a test entry: a real
Prometheus holds tests/fixtures/entity_history.py's nodes under the OpenShift names that entry
reads (`instance:node_cpu:ratio`, ..., one pod per node for pod CPU/request and the restarts
joined to the node through `node_namespace_pod:kube_pod_info:`); worker-2 misbehaves for an hour.
The default entry is trained by its workflow on 48 h ending an hour before the incident (it never
saw it); in the incident the scorer flags worker-2 and no other node, and the chart's incident
alert, evaluated by `promtool test rules` on the scorer's own series, fires with worker-2's
`instance` alone."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures import entity_history
from fixtures.ci import unavailable
from fixtures.prometheus import free_port, missing_binaries
from fixtures.readiness import wait_ready
from modelkit import artifacts
from modelkit.registry import load_registry
from modelkit.scoring.cli import prometheus_source
from modelkit.scoring.scorer import Scorer, ScorerConfig
from modelkit.settings import Settings

from .entity_models import train_with_workflow
from .helpers import PROJECT, incident_alert_drill, samples, value

DETECTOR = "anomaly-detector"
REGISTRY = PROJECT / "charts" / "hub" / "values.yaml"
DAY, HOUR = 86400, 3600
NODES = ("worker-1", "worker-2", "worker-3")


@dataclass
class DrillPrometheus:
    """A plain-HTTP Prometheus on 127.0.0.1 with the drill's history, as entity_models.train_with_workflow reads one."""

    url: str
    entity_anchor: int

    def env(self) -> dict[str, str]:
        return {"PROMETHEUS_URL": self.url}


@pytest.fixture(scope="module")
def drill_prometheus(tmp_path_factory):
    if missing_binaries():
        unavailable(f"{', '.join(missing_binaries())} not installed (Debian packages prometheus, prometheus-node-exporter)")
    folder = tmp_path_factory.mktemp("default-drill")
    anchor = int(time.time()) // DAY * DAY
    source = folder / "history.om"
    with source.open("w") as out:  # 3 days before the anchor: the 48 h window, its 6 h warm-up, and worker-4's stay
        out.writelines(entity_history.registry_openmetrics(anchor - 3 * DAY, anchor, anchor))
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(source), str(folder / "data")],
                   check=True, capture_output=True, timeout=300)
    (folder / "prometheus.yml").write_text("global: {evaluation_interval: 1m}\n")
    port = free_port()
    process = subprocess.Popen(["prometheus", f"--config.file={folder / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{port}",
                                f"--storage.tsdb.path={folder / 'data'}", "--storage.tsdb.retention.time=90d", "--log.level=warn"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, f"{url}/-/ready", "the drill's Prometheus", timeout=60)
        yield DrillPrometheus(url, anchor)
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def default_detector(drill_prometheus, tmp_path_factory):
    """The shipped registry's detector trained on the drill's Prometheus (accepted and promoted as v1)."""
    root = tmp_path_factory.mktemp("default-drill-models") / "models"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELKIT_REGISTRY", str(REGISTRY))
        version = train_with_workflow(root, REGISTRY, drill_prometheus, DETECTOR)
    return root, version


def scorer_at(root: Path, server: DrillPrometheus, clock) -> Scorer:
    settings = Settings.from_env({**server.env(), "MODEL_NAME": "x"})
    spec = load_registry(REGISTRY)[DETECTOR]
    return Scorer([spec], ScorerConfig(root, step_seconds=60), prometheus_source(settings), clock=clock)


def node_values(found: dict, name: str) -> dict[str, float]:
    return {labels["instance"]: v for labels, v in found.get(name, []) if labels["model"] == DETECTOR}


def test_the_default_detector_is_per_node_and_flags_the_sick_node_alone(default_detector, drill_prometheus, monkeypatch):
    monkeypatch.setenv("MODELKIT_REGISTRY", str(REGISTRY))
    root, version = default_detector
    metadata = artifacts.read_metadata(version)
    assert metadata["provenance"]["entities"]["labels"] == ["instance"]  # trained per node, on the four nodes of the window
    assert sorted(metadata["provenance"]["entities"]["per_entity"]) == sorted(entity_history.NODES)
    middle = drill_prometheus.entity_anchor + sum(entity_history.INCIDENT) // 2
    scorer = scorer_at(root, drill_prometheus, lambda: middle)
    scorer.cycle()
    found = samples(scorer.metrics.text())
    flags, scores = node_values(found, "modelkit_anomaly_flag"), node_values(found, "modelkit_anomaly_score")
    assert flags == {"worker-1": 0, "worker-2": 1, "worker-3": 0}  # worker-4 was drained a day before: not exported
    assert {node for node, score in scores.items() if score < 0} == {entity_history.SICK_NODE}
    assert value(found, "modelkit_scoring_entities", model=DETECTOR, status="scored") == 3
    assert not found.get("modelkit_scoring_errors_total")

    before = drill_prometheus.entity_anchor + entity_history.INCIDENT[0] - HOUR  # the same nodes an hour earlier: all quiet
    quiet = scorer_at(root, drill_prometheus, lambda: before)
    quiet.cycle()
    assert node_values(samples(quiet.metrics.text()), "modelkit_anomaly_flag") == {node: 0 for node in NODES}


def test_drill_the_incident_alert_fires_for_the_sick_node_with_the_default_detector(default_detector, drill_prometheus,
                                                                                    monkeypatch, tmp_path):
    """The scorer scores the drill's Prometheus every minute from 3 min before worker-2's incident to
    6 min into it; `promtool test rules` on its series with the chart's rules: ModelkitAnomalyDetected
    (for 3m) fires for worker-2 alone, with its instance, and nothing fires before."""
    monkeypatch.setenv("MODELKIT_REGISTRY", str(REGISTRY))
    root, _ = default_detector
    result = incident_alert_drill(lambda clock: scorer_at(root, drill_prometheus, clock),
                                  drill_prometheus.entity_anchor + entity_history.INCIDENT[0], DETECTOR,
                                  entity_history.SICK_NODE, len(NODES), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
