"""The data-loading environment: every variable documented, every bad value named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelkit import settings as settings_module
from modelkit.errors import ConfigError
from modelkit.settings import VARIABLES, Settings, models_root_from_env, rollout_timeout, source_and_hours


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
        ("DATA_FILE", "/no/such/metrics.csv", "DATA_FILE='/no/such/metrics.csv' is not an existing file"),
        ("PROMETHEUS_CA_BUNDLE", "/no/such/ca.crt", "PROMETHEUS_CA_BUNDLE='/no/such/ca.crt' is not an existing file"),
        ("PROMETHEUS_TOKEN_FILE", "/no/such/token", "PROMETHEUS_TOKEN_FILE='/no/such/token' is not an existing file"),
        ("PROMETHEUS_TLS_VERIFY", "maybe", "PROMETHEUS_TLS_VERIFY='maybe' must be true or false"),
        ("PROMETHEUS_STEP_SECONDS", "-60", "PROMETHEUS_STEP_SECONDS='-60' is not a whole number (ASCII digits only)"),
        ("PROMETHEUS_STEP_SECONDS", "86400", "PROMETHEUS_STEP_SECONDS='86400' is more than 3600"),
        ("PROMETHEUS_TIMEOUT_SECONDS", "0", "PROMETHEUS_TIMEOUT_SECONDS='0' must be greater than 0"),
        ("SEED", "４２", "SEED='４２' is not a whole number (ASCII digits only)"),
        ("SEED", "99999999999", "SEED='99999999999' is more than 4294967295"),
        ("SEED", "lucky", "SEED='lucky' is not a whole number"),
        ("SYNTHETIC_ENTITIES", "0", "SYNTHETIC_ENTITIES='0' must be greater than 0"),
        ("SYNTHETIC_ENTITIES", "1001", "SYNTHETIC_ENTITIES='1001' is more than 1000"),
    ],
)
def test_bad_value_is_rejected_naming_the_variable(name, value, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"MODEL_NAME": "anomaly-detector", name: value})
    assert message in str(caught.value)
    assert caught.value.variable == name


CHECKED_READS = re.compile(r'_(?:whole_number|choice|rate|bool|file)\(env, "([A-Z_]+)"')


def test_every_checked_variable_has_a_bad_value_case_that_sets_error_variable():
    """Each variable settings.py checks is in the table above (which asserts `.variable`), so a new
    check cannot leave check-params unable to name the PipelineRun param (it reads `.variable`)."""
    checked = set(CHECKED_READS.findall(Path(settings_module.__file__).read_text())) - {"MODELKIT_ROLLOUT_TIMEOUT"}
    cases = {name for name, _, _ in test_bad_value_is_rejected_naming_the_variable.pytestmark[0].args[1]}
    assert checked and checked <= cases, sorted(checked - cases)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({})
    assert caught.value.variable == "MODEL_NAME"
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"MODEL_NAME": "anomaly-detector", "DATA_END": "yesterday"})
    assert caught.value.variable == "DATA_END"
    with pytest.raises(ConfigError) as caught:
        rollout_timeout(env={"MODELKIT_ROLLOUT_TIMEOUT": "0"})
    assert caught.value.variable == "MODELKIT_ROLLOUT_TIMEOUT"


def test_an_option_beats_the_environment_which_beats_the_registry():
    from modelkit.registry import get_model

    spec = get_model("anomaly-detector")
    env = {"MODEL_NAME": "predictive-analytics", "DATA_SOURCE": "hybrid", "TRAINING_HOURS": "48", "SEED": "7"}
    options = {"MODEL_NAME": ("--model", "anomaly-detector"), "TRAINING_HOURS": ("--hours", 12), "SEED": ("--seed", None)}
    chosen = Settings.from_env(env, options)
    assert (chosen.model_name, chosen.training_hours, chosen.data_source, chosen.seed) == ("anomaly-detector", 12, "hybrid", 7)
    assert source_and_hours(chosen, spec) == ("hybrid", 12)
    assert source_and_hours(Settings.from_env({"MODEL_NAME": "anomaly-detector"}), spec) == (spec.data_source, spec.training_hours)
    assert rollout_timeout({"MODELKIT_ROLLOUT_TIMEOUT": ("--rollout-timeout", 30)}, {"MODELKIT_ROLLOUT_TIMEOUT": "300"}) == 30
    assert rollout_timeout({"MODELKIT_ROLLOUT_TIMEOUT": ("--rollout-timeout", None)}, {"MODELKIT_ROLLOUT_TIMEOUT": "300"}) == 300
    assert rollout_timeout(env={}) == 480


def test_a_bad_option_is_named_as_the_option_and_its_variable_is_kept():
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"MODEL_NAME": "anomaly-detector", "TRAINING_HOURS": "24"}, {"TRAINING_HOURS": ("--training-hours", 0)})
    assert str(caught.value).startswith("--training-hours 0 must be greater than 0") and caught.value.variable == "TRAINING_HOURS"


def test_the_default_models_root_is_the_checkouts_not_the_working_directorys(tmp_path, monkeypatch):
    """A notebook runs with its own folder as working directory (Jupyter, nbclient): a relative
    ./models would land in notebooks/."""
    monkeypatch.setattr(settings_module, "CLUSTER_MODELS_ROOT", tmp_path / "no-such-volume")
    project = Path(settings_module.__file__).resolve().parents[2]
    monkeypatch.chdir(project / "notebooks" / "02-anomaly-detection")
    assert models_root_from_env({}) == project / "models"
    assert models_root_from_env({"MODELS_ROOT": str(tmp_path)}) == tmp_path
    assert models_root_from_env({"MODELS_ROOT": str(tmp_path)}, {"MODELS_ROOT": ("--models-root", "elsewhere")}) == Path("elsewhere")
    monkeypatch.chdir(tmp_path)  # outside any checkout
    assert models_root_from_env({}) == Path("models")
    monkeypatch.setattr(settings_module, "CLUSTER_MODELS_ROOT", tmp_path)
    assert models_root_from_env({}) == tmp_path


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


def test_the_environment_is_read_in_settings_or_where_its_docstring_says():
    package = Path(settings_module.__file__).parent
    readers = {path.relative_to(package).as_posix() for path in package.rglob("*.py")
               if re.search(r"os\.environ|os\.getenv", path.read_text())} - {"settings.py"}
    listed = set(re.findall(r"^- ([\w/]+\.py)", settings_module.__doc__, re.MULTILINE))
    listed |= set(re.findall(r" and ([\w/]+\.py) pass", settings_module.__doc__))
    assert readers and readers <= listed, sorted(readers - listed)
