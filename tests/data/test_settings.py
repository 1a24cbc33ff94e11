"""The data-loading environment: every variable documented, every bad value named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelkit import settings as settings_module
from modelkit.errors import ConfigError
from modelkit.settings import VARIABLES, Settings


def test_every_variable_read_is_documented():
    source = Path(settings_module.__file__).read_text()
    read = set(re.findall(r'env(?:\.get)?\(\s*"([A-Z_]+)"', source)) | set(re.findall(r'\(env, "([A-Z_]+)"', source))
    assert read and read <= set(VARIABLES), sorted(read - set(VARIABLES))


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DATA_SOURCE", "promethues", "DATA_SOURCE='promethues' is not one of synthetic, prometheus, hybrid"),
        ("TRAINING_HOURS", "0", "TRAINING_HOURS='0' must be greater than 0"),
        ("TRAINING_HOURS", "a week", "TRAINING_HOURS='a week' is not a whole number"),
        ("ANOMALY_RATE", "0.5", "ANOMALY_RATE='0.5' must be between 0 and 0.5"),
        ("ANOMALY_RATE", "5%", "ANOMALY_RATE='5%' is not a number"),
        ("FALLBACK_POLICY", "ignore", "FALLBACK_POLICY='ignore' is not one of fail, synthetic"),
        ("PROMETHEUS_CA_BUNDLE", "/no/such/ca.crt", "PROMETHEUS_CA_BUNDLE='/no/such/ca.crt' is not an existing file"),
        ("PROMETHEUS_TOKEN_FILE", "/no/such/token", "PROMETHEUS_TOKEN_FILE='/no/such/token' is not an existing file"),
        ("PROMETHEUS_TLS_VERIFY", "maybe", "PROMETHEUS_TLS_VERIFY='maybe' must be true or false"),
        ("PROMETHEUS_STEP_SECONDS", "-60", "PROMETHEUS_STEP_SECONDS='-60' is not a whole number (ASCII digits only)"),
        ("PROMETHEUS_STEP_SECONDS", "86400", "PROMETHEUS_STEP_SECONDS='86400' is more than 3600"),
        ("PROMETHEUS_TIMEOUT_SECONDS", "0", "PROMETHEUS_TIMEOUT_SECONDS='0' must be greater than 0"),
        ("SEED", "４２", "SEED='４２' is not a whole number (ASCII digits only)"),
        ("SEED", "99999999999", "SEED='99999999999' is more than 4294967295"),
        ("SEED", "lucky", "SEED='lucky' is not a whole number"),
    ],
)
def test_bad_value_is_rejected_naming_the_variable(name, value, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"MODEL_NAME": "anomaly-detector", name: value})
    assert message in str(caught.value)


def test_unset_source_and_hours_defer_to_the_registry_and_tls_is_verified():
    loaded = Settings.from_env({"MODEL_NAME": "anomaly-detector"})
    assert loaded.data_source is None and loaded.training_hours is None
    assert loaded.prometheus_tls_verify is True and loaded.fallback_policy == "fail" and loaded.prometheus_step_seconds == 60


def test_token_comes_from_the_variable_then_the_file_then_the_pod_service_account(tmp_path, monkeypatch):
    service_account = tmp_path / "serviceaccount-token"
    service_account.write_text("pod-token\n")
    monkeypatch.setattr(settings_module, "SERVICE_ACCOUNT_TOKEN", service_account)
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    base = {"MODEL_NAME": "anomaly-detector"}
    assert Settings.from_env(base).prometheus_token == "pod-token"
    assert Settings.from_env({**base, "PROMETHEUS_TOKEN_FILE": str(token_file)}).prometheus_token == "file-token"
    assert Settings.from_env({**base, "PROMETHEUS_TOKEN": "env-token", "PROMETHEUS_TOKEN_FILE": str(token_file)}).prometheus_token == "env-token"


def test_zero_hours_is_refused_not_replaced_by_the_registry_default():
    from modelkit.data import generate_synthetic_data

    with pytest.raises(ConfigError, match="hours 0 must be greater than 0"):
        generate_synthetic_data(hours=0)


@pytest.mark.parametrize("text, message", [
    ("yesterday", "not an RFC 3339 UTC time"),
    ("2026-03-01T00:00:00", "not an RFC 3339 UTC time"),  # no zone
    ("2026-03-01T00:00:00+02:00", "not an RFC 3339 UTC time"),
    ("2026-03-01", "not an RFC 3339 UTC time"),
    (" 2026-03-01T00:00:00Z", "not an RFC 3339 UTC time"),
    ("２０２６-03-01T00:00:00Z", "not an RFC 3339 UTC time"),
    ("2026-02-30T00:00:00Z", "not a valid time"),
    ("9999-12-31T23:59:59Z", "is in the future"),
    ("2015-01-01T00:00:00Z", "is before 2016-07-18"),
])
def test_data_end_must_be_a_plausible_utc_time(text, message):
    with pytest.raises(ConfigError, match=f"DATA_END={re.escape(repr(text))}.*{message}"):
        Settings.from_env({"MODEL_NAME": "anomaly-detector", "DATA_END": text})


def test_data_end_pins_the_training_window():
    from modelkit.data import load_training_frame
    from modelkit.registry import get_model

    env = {"MODEL_NAME": "anomaly-detector", "DATA_SOURCE": "synthetic", "TRAINING_HOURS": "2", "DATA_END": "2026-03-01T00:00:00Z"}
    frames = [load_training_frame(get_model("anomaly-detector"), Settings.from_env(env)).frame for _ in range(2)]
    assert str(frames[0].index[-1]) == "2026-03-01 00:00:00+00:00"
    assert frames[0].equals(frames[1])


def test_data_end_may_be_a_clock_skew_ahead_but_not_more():
    from datetime import datetime, timedelta, timezone

    ahead = lambda minutes: (datetime.now(timezone.utc) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    assert Settings.from_env({"MODEL_NAME": "anomaly-detector", "DATA_END": ahead(1)}).data_end is not None
    with pytest.raises(ConfigError, match="is in the future"):
        Settings.from_env({"MODEL_NAME": "anomaly-detector", "DATA_END": ahead(10)})
