"""check-params refuses a training window (hours + warm-up) longer than the Prometheus server keeps,
asking the real test Prometheus (tests/fixtures/prometheus.py, started with
--storage.tsdb.retention.time=90d) through the TLS token proxy.

Prometheus reports its retention at /api/v1/status/runtimeinfo (`storageRetention`, "15d" or
"15d or 10GiB") and its flags at /api/v1/status/flags (`storage.tsdb.retention.time`, "0s" for the
15 d default); https://prometheus.io/docs/prometheus/latest/querying/api/#runtime-information.
A Thanos Querier serves neither: then the check warns and goes on."""

from __future__ import annotations

import logging

import pytest

from fixtures.prometheus import RETENTION
from modelkit.data.retention import duration_hours
from modelkit.errors import ConfigError
from modelkit.training.params import check_params, warmup_hours
from modelkit.registry import get_model

from .conftest import PROJECT, modelkit

KEPT_HOURS = int(duration_hours(RETENTION))  # 2160
FORECASTER_WARMUP = 24  # the registry forecaster's longest lag is a day (delta_24h, seasonal naive)
DETECTOR_WARMUP = 6  # the registry detector's features are deviations from the 6 h mean


def params(server, model: str, hours: int, **extra: str) -> dict[str, str]:
    return server.env(MODEL_NAME=model, DATA_SOURCE="prometheus", TRAINING_HOURS=str(hours), **extra)


def test_the_forecasters_warm_up_is_a_day_and_the_detectors_its_longest_feature_window():
    assert warmup_hours(get_model("predictive-analytics")) == FORECASTER_WARMUP
    assert warmup_hours(get_model("anomaly-detector")) == DETECTOR_WARMUP  # deviation from the 6 h mean


def test_a_window_within_the_servers_retention_passes(prometheus_server):
    settings, _, _ = check_params(params(prometheus_server, "predictive-analytics", KEPT_HOURS - FORECASTER_WARMUP), PROJECT)
    assert settings.training_hours == KEPT_HOURS - FORECASTER_WARMUP


def test_hours_plus_warm_up_beyond_the_retention_are_refused_naming_the_param(prometheus_server):
    hours = KEPT_HOURS - FORECASTER_WARMUP + 1
    with pytest.raises(ConfigError) as raised:
        check_params(params(prometheus_server, "predictive-analytics", hours), PROJECT)
    message = str(raised.value)
    assert message.startswith("TRAINING_HOURS (PipelineRun param `training-hours`): ")
    assert f"{hours} h of training + 24 h of warm-up = {KEPT_HOURS + 1} h is longer than Prometheus at {prometheus_server.url} keeps (2160 h" in message
    assert f"use at most {KEPT_HOURS - FORECASTER_WARMUP} h" in message and "runtimeinfo" in message


def test_the_cli_refuses_before_any_training(prometheus_server, tmp_path):
    result = modelkit("check-params", **params(prometheus_server, "anomaly-detector", KEPT_HOURS + 1, MODELS_ROOT=str(tmp_path / "m")))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"TRAINING_HOURS (PipelineRun param `training-hours`): 2161 h of training + {DETECTOR_WARMUP} h of warm-up" in result.stderr
    run = modelkit("run-notebook", **params(prometheus_server, "anomaly-detector", KEPT_HOURS + 1, MODELS_ROOT=str(tmp_path / "m")))
    assert run.returncode == 2 and "is longer than Prometheus" in run.stderr and not (tmp_path / "m").exists()


def test_the_flags_tell_when_runtimeinfo_does_not(prometheus_server):
    prometheus_server.proxy.fail_next(404)  # runtimeinfo only
    with pytest.raises(ConfigError, match=r"keeps \(2160 h, /api/v1/status/flags"):
        check_params(params(prometheus_server, "anomaly-detector", KEPT_HOURS + 1), PROJECT)


def test_platform_default_retention_refuses_the_default_forecaster_window(prometheus_server):
    """OpenShift's platform Prometheus keeps 15 d: 720 h + 24 h of warm-up do not fit."""
    prometheus_server.proxy.answer_next(b'{"status": "success", "data": {"storageRetention": "15d or 512MiB"}}')
    with pytest.raises(ConfigError, match=r"720 h of training \+ 24 h of warm-up = 744 h is longer .* \(360 h.*use at most 336 h"):
        check_params(params(prometheus_server, "predictive-analytics", 720), PROJECT)


def test_a_size_limit_is_a_warning(prometheus_server, caplog):
    prometheus_server.proxy.answer_next(b'{"status": "success", "data": {"storageRetention": "512MiB"}}')
    with caplog.at_level(logging.WARNING, logger="modelkit.training"):
        check_params(params(prometheus_server, "anomaly-detector", KEPT_HOURS * 2), PROJECT)
    assert "also deletes data beyond 512MiB" in caplog.text


def test_a_server_that_does_not_say_like_thanos_is_a_warning_and_the_run_goes_on(prometheus_server, caplog):
    prometheus_server.proxy.fail_next(404, 404)
    with caplog.at_level(logging.WARNING, logger="modelkit.training"):
        settings, _, _ = check_params(params(prometheus_server, "anomaly-detector", 8760), PROJECT)
    assert settings.training_hours == 8760
    assert "does not say how long it keeps data" in caplog.text and "a Thanos Querier serves neither" in caplog.text
    assert "going on" in caplog.text
