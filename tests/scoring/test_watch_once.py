"""`modelkit watch --once` against the real Prometheus (tests/fixtures/prometheus.py) with real trained
and promoted versions: the scores, forecasts and self-report, each checked against an independent
computation; and the failures that must leave series stale instead of wrong."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from fixtures import history
from lifecycle.factory import DETECTOR, FORECASTER
from modelkit import artifacts
from modelkit.model_loading import load_model
from modelkit.registry import get_model
from modelkit.scoring.cli import prometheus_source
from modelkit.scoring.scorer import Scorer, ScorerConfig
from modelkit.settings import Settings

from .helpers import rfc3339, samples, value, watch


def loaded(models, model: str):
    version = artifacts.version_dir(models.root, model, "v1")
    return load_model(version / artifacts.MODEL_FILE, artifacts.read_metadata(version))


def test_once_scores_both_models_as_the_training_features_and_served_file_say(models, prometheus_server):
    end = prometheus_server.history_end
    result = watch(models, "--once", DATA_END=rfc3339(end), **prometheus_server.env())
    assert result.returncode == 0, result.stderr
    found = samples(result.stdout)

    # The forecaster's row computed independently from the backfilled history's own formula, feature by
    # feature as the registry names them (delta over 15 min / 1 h, deviation from the 1 h / 6 h mean, the
    # change over the hour that followed the same time yesterday, the time of day).
    def metric_features(name: str) -> list[float]:
        at = lambda seconds: float(history.expected_mean(name, np.array([seconds], dtype=float))[0])  # noqa: E731
        mean = lambda minutes: float(history.expected_mean(name, end - 60.0 * np.arange(minutes)).mean())  # noqa: E731
        return [at(end) - at(end - 900), at(end) - at(end - 3600), at(end) - mean(60), at(end) - mean(360),
                at(end - 86400 + 3600) - at(end - 86400)]

    stamp = pd.Timestamp(end, unit="s", tz="UTC")
    day = 2 * np.pi * (stamp.hour * 60 + stamp.minute) / 1440
    row = [*metric_features("instance:node_cpu:ratio"), *metric_features("instance:node_memory_utilisation:ratio"),
           np.sin(day), np.cos(day)]
    at = lambda seconds: float(history.expected_mean("instance:node_cpu:ratio", np.array([seconds]))[0])  # noqa: E731
    mem = lambda seconds: float(history.expected_mean("instance:node_memory_utilisation:ratio", np.array([seconds]))[0])  # noqa: E731
    change = loaded(models, FORECASTER).predict(np.array([row]))[0]
    cpu = value(found, "modelkit_forecast", model=FORECASTER, version="v1", metric="node_cpu_utilisation", horizon_minutes="60")
    memory = value(found, "modelkit_forecast", model=FORECASTER, version="v1", metric="node_memory_utilisation", horizon_minutes="60")
    assert cpu == pytest.approx(at(end) + change[0], rel=1e-9)
    assert memory == pytest.approx(mem(end) + change[1], rel=1e-9)

    # The detector is per node: one score and flag per node of the history, labelled with it.
    assert sorted(labels["instance"] for labels, _ in found["modelkit_anomaly_score"]) == list(history.NODES)
    for node in history.NODES:
        score = value(found, "modelkit_anomaly_score", model=DETECTOR, version="v1", instance=node)
        flag = value(found, "modelkit_anomaly_flag", model=DETECTOR, version="v1", instance=node)
        assert score is not None and flag == float(score < 0)

    created = artifacts.read_metadata(artifacts.version_dir(models.root, DETECTOR, "v1"))["created_at"]
    created_seconds = pd.Timestamp(created).timestamp()
    assert value(found, "modelkit_model_served_age_seconds", model=DETECTOR, version="v1") == pytest.approx(end - created_seconds, abs=1)
    assert value(found, "modelkit_model_info", model=DETECTOR, version="v1", kind="anomaly-detector") == 1
    assert value(found, "modelkit_model_last_accepted_training_timestamp_seconds", model=FORECASTER) == pytest.approx(
        pd.Timestamp(artifacts.read_metadata(artifacts.version_dir(models.root, FORECASTER, "v1"))["created_at"]).timestamp())
    assert value(found, "modelkit_model_last_gate_accepted", model=DETECTOR) == 1
    assert value(found, "modelkit_model_schedule_seconds", model=DETECTOR) == 7 * 86400  # "0 2 * * 0"
    assert value(found, "modelkit_scoring_input_source", source="prometheus") == 1
    assert not found.get("modelkit_scoring_errors_total")


def scorer(models, server, end: float, **env) -> Scorer:
    settings = Settings.from_env({**server.env(**env), "MODEL_NAME": "x"})
    return Scorer(models.specs(), ScorerConfig(models.root, step_seconds=60), prometheus_source(settings), clock=lambda: end)


def errors(found, model: str) -> dict[str, float]:
    return {labels["cause"]: v for labels, v in found.get("modelkit_scoring_errors_total", []) if labels["model"] == model}


def test_prometheus_down_counts_the_cause_and_the_scores_go_stale_while_self_report_stays(models, prometheus_server, monkeypatch):
    monkeypatch.setenv("MODELKIT_REGISTRY", str(models.registry))
    end = prometheus_server.history_end
    live = scorer(models, prometheus_server, end)
    live.cycle()
    assert value(samples(live.metrics.text()), "modelkit_anomaly_score", model=DETECTOR, version="v1", instance=history.NODES[0]) is not None

    down = scorer(models, prometheus_server, end)
    down.source = prometheus_source(Settings.from_env({"MODEL_NAME": "x", "PROMETHEUS_URL": "http://127.0.0.1:9"}))
    down.metrics, down.states = live.metrics, live.states  # the same scorer, whose Prometheus went away
    began = time.monotonic()
    down.cycle()
    found = samples(down.metrics.text())
    assert time.monotonic() - began < 30  # retries are bounded; the loop goes on
    for model in (DETECTOR, FORECASTER):
        assert errors(found, model) == {"prometheus_unreachable": 1.0}
        assert value(found, "modelkit_model_info", model=model, version="v1") == 1  # from the volume
    assert value(found, "modelkit_anomaly_score", model=DETECTOR, version="v1") is None
    assert value(found, "modelkit_anomaly_flag", model=DETECTOR, version="v1") is None
    assert not found.get("modelkit_forecast")
    assert value(found, "modelkit_scoring_last_success_timestamp_seconds", model=DETECTOR) == end


def test_a_metric_missing_from_prometheus_makes_only_that_model_stale(models, prometheus_server, monkeypatch):
    registry = __import__("yaml").safe_load(models.registry.read_text())
    for entry in registry["models"]:
        if entry["name"] == DETECTOR:
            entry["metrics"][4]["query"] = "kube_pod_container_status_restarts_total{namespace=\"no-such-namespace\"}"
    models.registry.write_text(__import__("yaml").safe_dump(registry))
    monkeypatch.setenv("MODELKIT_REGISTRY", str(models.registry))
    live = scorer(models, prometheus_server, prometheus_server.history_end)
    live.cycle()
    found = samples(live.metrics.text())
    assert errors(found, DETECTOR) == {"prometheus_empty": 1.0}
    assert value(found, "modelkit_anomaly_flag", model=DETECTOR, version="v1") is None
    assert value(found, "modelkit_forecast", model=FORECASTER, metric="node_cpu_utilisation") is not None
    assert errors(found, FORECASTER) == {}


def test_a_model_replaced_mid_cycle_is_counted_and_the_next_cycle_serves_the_new_version(models, prometheus_server, monkeypatch):
    from .conftest import train_and_promote

    monkeypatch.setenv("MODELKIT_REGISTRY", str(models.registry))
    live = scorer(models, prometheus_server, prometheus_server.history_end)
    real_source = live.source

    def source_that_promotes_v2_meanwhile(spec, *args):
        if spec.name == DETECTOR and not artifacts.version_dir(models.root, DETECTOR, "v2").exists():
            train_and_promote(models.root, models.registry, DETECTOR, "v2", seed=8)
        return real_source(spec, *args)

    live.source = source_that_promotes_v2_meanwhile
    live.cycle()
    found = samples(live.metrics.text())
    assert errors(found, DETECTOR) == {"model_replaced": 1.0}
    assert not [l for l, _ in found.get("modelkit_anomaly_score", [])]
    live.cycle()
    found = samples(live.metrics.text())
    assert value(found, "modelkit_anomaly_score", model=DETECTOR, version="v2", instance=history.NODES[0]) is not None
    assert value(found, "modelkit_anomaly_score", model=DETECTOR, version="v1") is None  # the old label set is gone
    assert value(found, "modelkit_model_info", model=DETECTOR, version="v2") == 1
    assert value(found, "modelkit_model_info", model=DETECTOR, version="v1") is None


def test_drift_is_exported_per_feature_against_the_versions_reference(models, prometheus_server, monkeypatch):
    monkeypatch.setenv("MODELKIT_REGISTRY", str(models.registry))
    live = scorer(models, prometheus_server, prometheus_server.history_end)
    live.cycle()
    found = samples(live.metrics.text())
    psi = {l["feature"]: v for l, v in found.get("modelkit_feature_drift_psi", []) if l["model"] == FORECASTER}
    assert set(psi) == {f for f in get_model(FORECASTER).features if not f.startswith("hour_of_day")}  # no clock features
    assert len(psi) == 10
    assert all(v >= 0 for v in psi.values())
    assert value(found, "modelkit_feature_drift_threshold", model=FORECASTER) == 0.25

    # A version without reference quantiles exports no drift.
    for model in (DETECTOR, FORECASTER):
        path = artifacts.version_dir(models.root, model, "v1") / artifacts.METADATA_FILE
        document = json.loads(path.read_text())
        document.pop("reference_quantiles")
        path.write_text(json.dumps(document))
    live.cycle()
    found = samples(live.metrics.text())
    assert not found.get("modelkit_feature_drift_psi") and not found.get("modelkit_feature_drift_threshold")
