"""Online quality over simulated minutes of the real Prometheus' history, and scoring through the
model server's v1 predict (the cluster mode) against a real `modelkit serve`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixtures import history
from lifecycle.factory import DETECTOR, FORECASTER
from modelkit import artifacts
from modelkit.serving.local_server import temporary_server
from modelkit.scoring.predictors import RemotePredictor

from .helpers import samples, value
from .test_watch_once import scorer


def without_reference(models, model: str) -> None:
    path = artifacts.version_dir(models.root, model, "v1") / artifacts.METADATA_FILE
    document = json.loads(path.read_text())
    document.pop("reference_quantiles")
    path.write_text(json.dumps(document))


def test_forecast_errors_against_the_actual_values_once_the_horizon_has_passed(models, prometheus_server, monkeypatch):
    monkeypatch.setenv("MODELKIT_REGISTRY", str(models.registry))
    without_reference(models, FORECASTER)
    end = prometheus_server.history_end
    clock = [end - 70 * 60]
    live = scorer(models, prometheus_server, end)
    live.specs = [s for s in live.specs if s.name == FORECASTER]
    live.clock = lambda: clock[0]
    forecasts = {}
    while clock[0] <= end:
        live.cycle()
        found = samples(live.metrics.text())
        forecasts[clock[0] + 3600] = value(found, "modelkit_forecast", model=FORECASTER, metric="node_cpu_utilisation")
        clock[0] += 60
    due = sorted(t for t in forecasts if t <= end)
    actual = history.expected_mean("instance:node_cpu:ratio", np.array(due, dtype=float))
    model_mae = np.mean(np.abs(np.array([forecasts[t] for t in due]) - actual))
    last_value = history.expected_mean("instance:node_cpu:ratio", np.array(due, dtype=float) - 3600)
    assert len(due) == 11
    assert value(found, "modelkit_forecast_abs_error", model=FORECASTER, metric="node_cpu_utilisation", window="1h") == pytest.approx(model_mae, rel=1e-6)
    assert value(found, "modelkit_forecast_last_value_abs_error", model=FORECASTER, metric="node_cpu_utilisation",
                 window="24h") == pytest.approx(np.mean(np.abs(last_value - actual)), rel=1e-6)


def test_scores_from_the_model_servers_v1_predict_and_a_server_that_goes_away(models, prometheus_server, monkeypatch):
    monkeypatch.setenv("MODELKIT_REGISTRY", str(models.registry))
    live = scorer(models, prometheus_server, prometheus_server.history_end)
    local = scorer(models, prometheus_server, prometheus_server.history_end)
    local.cycle()
    expected = samples(local.metrics.text())
    with temporary_server(models.root, [DETECTOR, FORECASTER]) as url:
        live.remote = RemotePredictor(url + "/v1/models/{model}:predict", "ns")
        live.cycle()
        found = samples(live.metrics.text())
        node = {"model": DETECTOR, "instance": history.NODES[-1]}  # the detector is per node
        for name, labels in (("modelkit_anomaly_score", node), ("modelkit_anomaly_flag", node),
                             ("modelkit_forecast", {"model": FORECASTER, "metric": "node_memory_utilisation"})):
            assert value(found, name, version="v1", **labels) == pytest.approx(value(expected, name, version="v1", **labels), rel=1e-9)
    live.cycle()  # the server has stopped
    found = samples(live.metrics.text())
    assert {l["cause"] for l, _ in found["modelkit_scoring_errors_total"]} == {"endpoint_down"}
    assert not found.get("modelkit_anomaly_score") and not found.get("modelkit_forecast")
