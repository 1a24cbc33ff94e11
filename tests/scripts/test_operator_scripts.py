"""The operator scripts against the local setup (and the cluster when KUBECONFIG is set)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from lifecycle.factory import DETECTOR, FORECASTER, promoted_setup, write_version
from serving.live_server import running_server
from modelkit import artifacts
from modelkit.registry import get_model

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def script(name, *args, env=None, timeout=300):
    return subprocess.run(["bash", str(SCRIPTS / name), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def local_setup(tmp_path_factory):
    """Both models trained (factory versions), gated and promoted under a fresh models root."""
    root, registry = promoted_setup(tmp_path_factory.mktemp("local-setup"))
    return root, {"MODELKIT_REGISTRY": str(registry), "MODELS_ROOT": str(root)}


def test_validate_models_passes_when_every_model_answers(local_setup):
    root, env = local_setup
    done = script("validate-models.sh", "--local", "--models-root", str(root), env=env)
    assert done.returncode == 0, done.stderr
    assert f"OK   {DETECTOR}" in done.stdout and f"OK   {FORECASTER}" in done.stdout


def test_validate_models_fails_naming_the_model_with_nothing_served(local_setup, tmp_path):
    _, env = local_setup
    empty = tmp_path / "models"
    done = script("validate-models.sh", "--local", "--models-root", str(empty), "--model", FORECASTER, env=env)
    assert done.returncode == 1
    assert f"FAIL {FORECASTER}" in done.stderr and "nothing is served" in done.stderr


def test_test_model_endpoint_sends_a_valid_request_to_a_running_server(local_setup):
    root, env = local_setup
    with running_server(root, Path(env["MODELKIT_REGISTRY"]), [DETECTOR]) as url:
        done = script("test-model-endpoint.sh", DETECTOR, "--url", url, env=env)
    assert done.returncode == 0, done.stderr
    assert '{"instances": [[0.5, 0.6, 0.4, 0.3, 0.8]]}' in done.stdout and "HTTP 200" in done.stdout


def test_test_model_endpoint_local_runs_the_smoke_test(local_setup):
    root, env = local_setup
    done = script("test-model-endpoint.sh", FORECASTER, "--local", "--models-root", str(root), env=env)
    assert done.returncode == 0, done.stderr
    assert "answers 4 probe rows like version v1" in done.stdout


def test_test_model_endpoint_fails_when_the_server_is_down(local_setup):
    _, env = local_setup
    done = script("test-model-endpoint.sh", DETECTOR, "--url", "http://127.0.0.1:9", env=env)
    assert done.returncode != 0 and "no answer from" in done.stderr


def test_model_names_cannot_inject_commands(local_setup, tmp_path):
    _, env = local_setup
    marker = tmp_path / "injected"
    for name in (f"$(touch {marker})", f"x; touch {marker}"):
        done = script("test-model-endpoint.sh", name, "--local", env=env)
        assert done.returncode == 1 and "not a DNS-1123 label" in done.stderr
    assert not marker.exists()


def test_model_names_follow_the_registrys_rule_including_the_cronjob_limit(local_setup):
    """The scripts check names with modelkit.registry (one rule): a label of 37 characters is a
    DNS-1123 label, but its CronJob name 'weekly-<name>-training' would exceed Kubernetes' 52."""
    _, env = local_setup
    done = script("test-model-endpoint.sh", "a" * 37, "--local", env=env)
    assert done.returncode == 1 and "exceeds 52 characters" in done.stderr, done.stderr


def test_check_training_status_reports_each_models_latest_run(local_setup, tmp_path):
    root, env = local_setup
    done = script("check-training-status.sh", "--local", "--models-root", str(root), env=env)
    assert done.returncode == 0, done.stderr
    assert "gate accepted" in done.stdout and "(serving v1)" in done.stdout


def test_check_training_status_fails_when_the_latest_run_was_rejected(local_setup, tmp_path):
    _, env = local_setup
    root = tmp_path / "models"
    version = write_version(root, DETECTOR, "weak", metrics={"event_recall": 0.1})
    artifacts.update_metadata(version, gate={"accepted": False, "reasons": ["threshold minEventRecall"]},
                              run={"status": "Failed"})
    done = script("check-training-status.sh", "--local", "--models-root", str(root), env=env)
    assert done.returncode == 1
    assert f"latest training run failed for: {DETECTOR}" in done.stderr and "rejected: threshold minEventRecall" in done.stdout


def test_check_training_status_model_option_selects_one_model_locally(local_setup):
    root, env = local_setup
    done = script("check-training-status.sh", "--local", "--models-root", str(root), "--model", FORECASTER, env=env)
    assert done.returncode == 0, done.stderr
    assert FORECASTER in done.stdout and DETECTOR not in done.stdout


def test_trigger_builds_a_pipelinerun_with_generate_name_label_and_params(local_setup):
    _, env = local_setup
    done = script("trigger-model-training.sh", DETECTOR, "24", "synthetic", "-n", "ml", "--dry-run",
                  "--git-ref", 'main"; touch /tmp/x #', env=env)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["apiVersion"] == "tekton.dev/v1" and run["kind"] == "PipelineRun"
    assert run["metadata"]["generateName"] == f"train-{DETECTOR}-" and "name" not in run["metadata"]
    assert run["metadata"]["labels"]["model-name"] == DETECTOR and run["metadata"]["namespace"] == "ml"
    params = {p["name"]: p["value"] for p in run["spec"]["params"]}
    assert params["training-hours"] == "24" and params["data-source"] == "synthetic"
    assert params["notebook-path"] == get_model(DETECTOR).notebook
    assert params["git-ref"] == 'main"; touch /tmp/x #'  # carried as data, never run
    assert "data-file" not in params  # left out: the Pipeline's default (none)


def test_trigger_passes_a_data_file_as_the_data_file_param(local_setup):
    _, env = local_setup
    done = script("trigger-model-training.sh", DETECTOR, "24", "file", "--data-file", "data/metrics.csv", "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    params = {p["name"]: p["value"] for p in json.loads(done.stdout)["spec"]["params"]}
    assert params["data-source"] == "file" and params["data-file"] == "data/metrics.csv"


@pytest.mark.parametrize("args, message", [
    ((DETECTOR, "a-day"), "HOURS 'a-day' must be a whole number"),
    ((DETECTOR, "0"), "must be a whole number greater than 0"),
    ((DETECTOR, "24", "csv"), "must be synthetic, prometheus, hybrid or file"),
    (("no-such-model", "24"), "not in the models registry"),
    ((), "give MODEL"),
])
def test_trigger_refuses_bad_arguments(local_setup, args, message):
    _, env = local_setup
    done = script("trigger-model-training.sh", *args, "--dry-run", env=env)
    assert done.returncode != 0
    assert message in done.stderr


def test_trigger_local_runs_the_pipeline_steps_and_stops_at_a_refusal(tmp_path):
    # On a pinned 24 h window the forecaster does not beat its baselines: the gate refuses it,
    # nothing is promoted, and the run ends with its `finally` report and exit 4.
    env = {"MODELS_ROOT": str(tmp_path / "models"), "DATA_END": "2026-03-01T00:00:00Z", "SEED": "42"}
    done = script("trigger-model-training.sh", FORECASTER, "24", "synthetic", "--local", env=env, timeout=600)
    steps = [line.split(":")[0].split("] ")[1] for line in done.stdout.splitlines() if line.startswith("==> [")]
    assert steps == ["check-params", "train", "validate", "report"]
    versions = list(artifacts.iter_versions(tmp_path / "models", FORECASTER))
    assert len(versions) == 1 and versions[0].metadata["training_hours"] == 24
    assert versions[0].metadata["gate"]["accepted"] is False and done.returncode == 4
    assert not artifacts.served_model_path(tmp_path / "models", FORECASTER).exists()


needs_cluster = pytest.mark.skipif(not os.environ.get("KUBECONFIG"),
                                   reason="cluster path: set KUBECONFIG to a cluster with the chart installed")


@needs_cluster
@pytest.mark.cluster
def test_cluster_validate_models():
    done = script("validate-models.sh", "-n", os.environ.get("NAMESPACE", "self-healing-platform"))
    assert done.returncode == 0, done.stderr


@needs_cluster
@pytest.mark.cluster
def test_cluster_check_training_status_lists_pipelineruns():
    done = script("check-training-status.sh", "-n", os.environ.get("NAMESPACE", "self-healing-platform"))
    assert done.returncode == 0 or "latest training run failed for" in done.stderr, done.stderr
    assert done.stdout.strip()


@needs_cluster
@pytest.mark.cluster
def test_cluster_test_model_endpoint():
    done = script("test-model-endpoint.sh", DETECTOR, "-n", os.environ.get("NAMESPACE", "self-healing-platform"))
    assert done.returncode == 0 and "HTTP 200" in done.stdout, done.stderr
