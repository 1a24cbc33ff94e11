"""The lifecycle subcommands apply modelkit.settings' precedence rule: an option beats the
environment variable it stands for, which beats the registry entry (or the built-in default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkit.cli import build_parser
from modelkit.errors import ConfigError
from modelkit.lifecycle.cli import cli_options, models_root, run_settings
from modelkit.registry import get_model
from modelkit.settings import read, rollout_timeout, source_and_hours

ENV = {"MODEL_NAME": "predictive-analytics", "RUN_ID": "env-run", "MODELS_ROOT": "/env/models",
       "DATA_SOURCE": "hybrid", "TRAINING_HOURS": "48", "MODELKIT_ROLLOUT_TIMEOUT": "300",
       "PIPELINE_TASKS_STATUS": "Failed"}
RUN_COMMANDS = ["validate", "promote", "rollback", "smoke-test", "report-run"]


@pytest.fixture
def env(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_options_beat_the_environment(env, command):
    run_id = [] if command == "rollback" else ["--run-id", "option-run"]
    args = parse(command, "--model", "anomaly-detector", "--models-root", "/option/models", *run_id)
    settings = run_settings(args)
    assert (settings.model_name, settings.models_root) == ("anomaly-detector", Path("/option/models"))
    assert settings.run_id == ("env-run" if command == "rollback" else "option-run")


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_the_environment_beats_the_registry_and_the_defaults(env, command):
    settings = run_settings(parse(command))
    assert (settings.model_name, settings.run_id, settings.models_root) == ("predictive-analytics", "env-run", Path("/env/models"))
    assert source_and_hours(settings, get_model("predictive-analytics")) == ("hybrid", 48)
    env.delenv("DATA_SOURCE")
    env.delenv("TRAINING_HOURS")
    spec = get_model("predictive-analytics")
    assert source_and_hours(run_settings(parse(command)), spec) == (spec.data_source, spec.training_hours)


@pytest.mark.parametrize("command", ["versions", "serve", "train"])
def test_models_root_option_beats_the_environment(env, command):
    model = ["--model", "anomaly-detector"] if command == "train" else []
    assert models_root(parse(command, *model, "--models-root", "/option/models")) == Path("/option/models")
    assert models_root(parse(command, *model)) == Path("/env/models")


@pytest.mark.parametrize("command", ["promote", "rollback", "report-run"])
def test_rollout_timeout_option_beats_the_environment_which_beats_the_default(env, command):
    assert rollout_timeout(cli_options(parse(command, "--rollout-timeout", "30"))) == 30
    assert rollout_timeout(cli_options(parse(command))) == 300
    env.delenv("MODELKIT_ROLLOUT_TIMEOUT")
    assert rollout_timeout(cli_options(parse(command))) == 480
    with pytest.raises(ConfigError, match="^--rollout-timeout 0 must be greater than 0") as caught:
        rollout_timeout(cli_options(parse(command, "--rollout-timeout", "0")))
    assert caught.value.variable == "MODELKIT_ROLLOUT_TIMEOUT"


def test_report_run_status_option_beats_the_pipeline_variable(env):
    assert read("PIPELINE_TASKS_STATUS", cli_options(parse("report-run", "--status", "Succeeded"))) == "Succeeded"
    assert read("PIPELINE_TASKS_STATUS", cli_options(parse("report-run"))) == "Failed"

