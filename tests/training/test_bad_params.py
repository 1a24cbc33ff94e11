"""Bad parameters stop a run at once, with a message naming the parameter, and write nothing."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from modelkit.errors import ConfigError
from modelkit.training.params import check_params, resolve_notebook

from .conftest import PROJECT, clean_env, modelkit, train

ANOMALY_NOTEBOOK = "notebooks/02-anomaly-detection/01-isolation-forest-implementation.ipynb"
BAD = [
    ({"DATA_SOURCE": "bogus"}, "DATA_SOURCE"),
    ({"TRAINING_HOURS": "0"}, "TRAINING_HOURS"),
    ({"TRAINING_HOURS": "a week"}, "TRAINING_HOURS"),
    ({"MODEL_NAME": "no-such-model"}, "MODEL_NAME"),
    ({"NOTEBOOK_PATH": "../outside.ipynb"}, "NOTEBOOK_PATH"),
]


@pytest.mark.parametrize(("overrides", "variable"), BAD, ids=[f"{k}={v}" for (o, _) in BAD for k, v in o.items()])
def test_run_notebook_refuses_bad_params_before_anything_is_written(tmp_path, overrides, variable):
    params = {"MODEL_NAME": "anomaly-detector", "DATA_SOURCE": "synthetic", "TRAINING_HOURS": "24", **overrides}
    result = modelkit("run-notebook", MODELS_ROOT=str(tmp_path / "models"), **params)
    assert result.returncode == 2
    assert variable in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "models").exists()


def test_a_model_of_another_kind_stops_inside_the_notebook_and_leaves_no_version(tmp_path):
    run = train(tmp_path, "predictive-analytics", "wrong-kind", NOTEBOOK_PATH=ANOMALY_NOTEBOOK, DATA_SOURCE="synthetic", TRAINING_HOURS="24")
    assert run.process.returncode == 2
    assert "ConfigError" in run.process.stderr and "has kind forecaster" in run.process.stderr
    assert list((tmp_path / "predictive-analytics" / "versions").iterdir()) == []


def test_plain_nbconvert_fails_with_a_non_zero_exit_on_a_bad_data_source(tmp_path):
    """The notebook checks its parameters itself, also when nbconvert runs it directly."""
    env = clean_env(MODEL_NAME="anomaly-detector", DATA_SOURCE="bogus", MODELS_ROOT=str(tmp_path / "models"))
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output-dir", str(tmp_path / "out"),
         str(PROJECT / ANOMALY_NOTEBOOK)],
        env=env, cwd=PROJECT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "DATA_SOURCE='bogus' is not one of synthetic, prometheus, hybrid" in result.stderr
    assert not (tmp_path / "models").exists()


GOOD = {"MODEL_NAME": "anomaly-detector", "DATA_SOURCE": "prometheus", "TRAINING_HOURS": "168",
        "NOTEBOOK_PATH": ANOMALY_NOTEBOOK, "INFERENCE_SERVICE_NAME": "anomaly-detector"}


def test_check_params_accepts_the_guide_params_and_names_each_bad_one():
    settings, spec, notebook = check_params(GOOD, PROJECT)
    assert spec.name == "anomaly-detector" and notebook == PROJECT / ANOMALY_NOTEBOOK and settings.training_hours == 168
    cases = {
        "INFERENCE_SERVICE_NAME": "Anomaly_Detector",
        "NOTEBOOK_PATH": "notebooks/missing.ipynb",
        "TRAINING_HOURS": "-3",
        "DATA_SOURCE": "prom",
    }
    for variable, value in cases.items():
        with pytest.raises(ConfigError, match=rf"^{variable} \(PipelineRun param `[a-z-]+`\)"):
            check_params({**GOOD, variable: value}, PROJECT)
    refused = modelkit("check-params", **{**GOOD, "DATA_SOURCE": "prom"})
    assert refused.returncode == 2 and "DATA_SOURCE (PipelineRun param `data-source`)" in refused.stderr
    ok = modelkit("check-params", **GOOD)
    assert ok.returncode == 0 and "params ok: model=anomaly-detector" in ok.stdout


HOURS_REFUSED = {
    "1000000000": "is more than 8760",
    "8761": "is more than 8760",
    "1e9": "not a whole number",
    "10^20": "not a whole number",
    "２４": "not a whole number (ASCII digits only)",  # int() reads fullwidth digits
    "2_4": "not a whole number (ASCII digits only)",  # ... and underscores
    "+24": "not a whole number (ASCII digits only)",
    " 24": "not a whole number (ASCII digits only)",
    "24 ": "not a whole number (ASCII digits only)",
    "0": "must be greater than 0",
}


@pytest.mark.parametrize("hours", HOURS_REFUSED)
def test_check_params_bounds_training_hours_and_takes_ascii_digits_only(hours):
    with pytest.raises(ConfigError) as raised:
        check_params({**GOOD, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": hours}, PROJECT)
    message = str(raised.value)
    assert message.startswith("TRAINING_HOURS (PipelineRun param `training-hours`): ") and HOURS_REFUSED[hours] in message


def test_check_params_refuses_a_data_end_in_the_future_naming_it():
    refused = modelkit("check-params", **{**GOOD, "DATA_SOURCE": "synthetic", "DATA_END": "9999-12-31T00:00:00Z"})
    assert refused.returncode == 2 and "DATA_END='9999-12-31T00:00:00Z' is in the future" in refused.stderr
    assert "Traceback" not in refused.stderr
    settings, _, _ = check_params({**GOOD, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": "8760"}, PROJECT)
    assert settings.training_hours == 8760


def test_notebook_paths_stay_inside_the_repository(tmp_path):
    for path in ("/etc/passwd.ipynb", "notebooks/../../x.ipynb", "charts/hub/values.yaml"):
        with pytest.raises(ConfigError, match="NOTEBOOK_PATH"):
            resolve_notebook(path, PROJECT)
    (tmp_path / "link.ipynb").symlink_to(PROJECT / ANOMALY_NOTEBOOK)
    inside = tmp_path / "repo"
    inside.mkdir()
    (inside / "escape.ipynb").symlink_to(tmp_path / "link.ipynb")
    with pytest.raises(ConfigError, match="leaves the repository"):
        resolve_notebook("escape.ipynb", inside)


def test_a_run_failing_after_the_model_was_staged_publishes_nothing(tmp_path):
    """Complete or absent: the model and metadata are written, then a later cell fails."""
    project = tmp_path / "project"
    (project / "charts/hub").mkdir(parents=True)
    (project / "charts/hub/values.yaml").write_text((PROJECT / "charts/hub/values.yaml").read_text())
    (project / "notebooks").mkdir()
    nbformat.write(new_notebook(cells=[
        new_code_cell("from modelkit.training import anomaly_workflow\nfrom modelkit.training.publish import publish_version\n"
                      "from modelkit.training.run_context import start_run\nrun = start_run(anomaly_workflow.KINDS)\n"
                      "result = anomaly_workflow.train(run)\npublish_version(run, result.model, result.metadata())"),
        new_code_cell("raise RuntimeError('the report step broke')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}), project / "notebooks/late.ipynb")
    run = train(tmp_path / "models", "anomaly-detector", "late", cwd=project, NOTEBOOK_PATH="notebooks/late.ipynb",
                DATA_SOURCE="synthetic", TRAINING_HOURS="24")
    assert run.process.returncode == 1 and "the report step broke" in run.process.stderr
    assert "staged in" in run.process.stdout  # the model really was written before the failure
    assert list((tmp_path / "models/anomaly-detector/versions").iterdir()) == []
