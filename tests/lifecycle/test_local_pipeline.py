"""`modelkit train` runs the Tekton Pipeline's steps: same commands, order and environment."""

import pytest

from modelkit import artifacts
from modelkit.errors import ConfigError
from modelkit.lifecycle.local_pipeline import pipeline_params, run_steps
from modelkit.pipeline_steps import FINALLY_STEP, PARAM_ENV, STEPS

MODEL = "anomaly-detector"
# A pinned window and seed make the run reproducible: on it the detector passes its gate.
PINNED = {"DATA_END": "2026-03-01T00:00:00Z", "SEED": "42"}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline") / "models"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MODELKIT_REGISTRY", raising=False)  # the project's registry and notebooks
        patch.setenv("MODEL_NAME", "not-this-one")  # a step gets only its own Task's variables
        for name, value in PINNED.items():
            patch.setenv(name, value)
        runs = run_steps(pipeline_params(MODEL, "synthetic", 24), "local-test-run", root)
    return root, runs


def test_runs_the_pipeline_steps_commands_in_order(local_run):
    _, runs = local_run
    local_steps = [s for s in STEPS if not s.cluster_only]
    ran = [r.command for r in runs]
    assert ran == [s.command for s in local_steps] + [FINALLY_STEP.command]
    assert [r.returncode for r in runs] == [0] * len(runs)


def test_each_step_gets_exactly_its_tasks_variables(local_run):
    _, runs = local_run
    tasks = {t.name: t for t in (*STEPS, FINALLY_STEP)}
    for run in runs:
        assert set(run.env) == {p.env for p in tasks[run.name].task_params}, run.name
        assert run.env["RUN_ID"] == "local-test-run"
        if "MODEL_NAME" in run.env:
            assert run.env["MODEL_NAME"] == MODEL
    train = next(r for r in runs if r.name == "train")
    assert train.env[PARAM_ENV["data-source"]] == "synthetic" and train.env[PARAM_ENV["training-hours"]] == "24"
    assert runs[-1].env["PIPELINE_TASKS_STATUS"] == "Succeeded"


def test_the_run_leaves_a_complete_version_with_its_report_and_outcome(local_run):
    root, _ = local_run
    version = artifacts.version_dir(root, MODEL, "local-test-run")
    assert (version / artifacts.MODEL_FILE).is_file() and (version / artifacts.REPORT_FILE).is_file()
    metadata = artifacts.read_metadata(version)
    assert metadata["run"]["status"] == "Succeeded" and metadata["gate"]["accepted"] is True
    assert artifacts.served_model_path(root, MODEL).read_bytes() == (version / artifacts.MODEL_FILE).read_bytes()
    assert not list(artifacts.versions_dir(root, MODEL).glob(".staging-*"))


def test_local_params_are_every_pipeline_param_checked_like_a_cluster_run():
    assert list(pipeline_params(MODEL, None, None)) == list(PARAM_ENV)
    with pytest.raises(ConfigError, match="training hours 0 must be a whole number greater than 0"):
        pipeline_params(MODEL, "synthetic", 0)
