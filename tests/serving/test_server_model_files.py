"""What `modelkit serve` does with served files it cannot trust or load, and who may ask it to reload."""

import subprocess
import sys

import pytest
import requests

from modelkit import artifacts
from modelkit.serving.local_server import free_port
from modelkit.serving.server import repository_api_enabled

from lifecycle.factory import DETECTOR, FORECASTER, features_of, promoted_setup, write_version
from serving.live_server import running_server

GUIDE_REQUEST = {"instances": [[0.5, 0.6, 0.4, 0.3, 0.8]]}


def truncate(path):
    """Keep the first half of a file, replacing it atomically (as a crashed copy would leave it)."""
    artifacts.atomic_write_bytes(path, path.read_bytes()[: path.stat().st_size // 2])


def predict(url, model, rows):
    return requests.post(f"{url}/v1/models/{model}:predict", json={"instances": rows}, timeout=30)


def test_a_truncated_served_file_is_reported_in_one_line_and_the_other_models_are_served(tmp_path):
    root, registry = promoted_setup(tmp_path)
    truncate(artifacts.served_model_path(root, DETECTOR))
    with running_server(root, registry, [FORECASTER, DETECTOR]) as url:
        log = (tmp_path / "serve.log").read_text()
        assert f"modelkit serve: not serving {DETECTOR}: {artifacts.served_model_path(root, DETECTOR)}: not a " \
               "complete model file" in log
        assert "Traceback" not in log
        assert predict(url, FORECASTER, [[0.1] * len(features_of(FORECASTER))]).status_code == 200
        assert requests.get(f"{url}/v1/models/{DETECTOR}", timeout=5).status_code == 404


def test_the_cluster_runtime_exits_with_one_line_naming_a_corrupt_file(tmp_path):
    model_dir = tmp_path / "mnt-models"
    model_dir.mkdir()
    (model_dir / artifacts.MODEL_FILE).write_bytes(b"\x80\x04\x95garbage")
    command = [sys.executable, "-m", "modelkit.cli", "serve", "--model-name", DETECTOR, "--model-dir", str(model_dir),
               "--port", str(free_port())]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{model_dir / artifacts.MODEL_FILE}: not a complete model file" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("modelkit serve: error: no model could be loaded")


def test_a_reload_of_a_corrupt_file_fails_naming_it_and_the_loaded_version_keeps_serving(tmp_path):
    root, registry = promoted_setup(tmp_path)
    with running_server(root, registry, [DETECTOR]) as url:
        truncate(artifacts.served_model_path(root, DETECTOR))
        response = requests.post(f"{url}/v2/repository/models/{DETECTOR}/load", timeout=30)
        assert response.status_code == 500
        assert response.json()["error"].startswith(f"{artifacts.served_model_path(root, DETECTOR)}: not a complete model file")
        assert response.json()["error"].endswith("; version v1 keeps serving")
        answer = predict(url, DETECTOR, GUIDE_REQUEST["instances"])
        assert answer.status_code == 200 and answer.json()["model_version"] == "v1"


def test_a_model_directory_that_is_a_symlink_out_of_the_root_is_not_loaded(tmp_path):
    (tmp_path / "served").mkdir()
    root, registry = promoted_setup(tmp_path / "served")
    elsewhere = tmp_path / "elsewhere"
    write_version(elsewhere, FORECASTER, "v1")
    artifacts.atomic_write_bytes(artifacts.served_model_path(elsewhere, FORECASTER),
                                 (artifacts.version_dir(elsewhere, FORECASTER, "v1") / artifacts.MODEL_FILE).read_bytes())
    artifacts.model_dir(root, FORECASTER).rename(tmp_path / "moved-away")
    artifacts.model_dir(root, FORECASTER).symlink_to(artifacts.model_dir(elsewhere, FORECASTER))
    with running_server(root, registry, [DETECTOR]) as url:
        response = requests.post(f"{url}/v2/repository/models/{FORECASTER}/load", timeout=30)
        assert response.status_code == 400
        assert "resolves outside the models root" in response.json()["error"]
        assert requests.get(f"{url}/v1/models/{FORECASTER}", timeout=5).status_code == 404


def test_the_repository_api_can_be_switched_off_and_inference_still_answers(tmp_path):
    root, registry = promoted_setup(tmp_path)
    with running_server(root, registry, [DETECTOR], "--repository-api", "off") as url:
        response = requests.post(f"{url}/v2/repository/models/{DETECTOR}/load", timeout=30)
        assert response.status_code == 403
        assert "the repository API (model reload) is off" in response.json()["error"]
        assert predict(url, DETECTOR, GUIDE_REQUEST["instances"]).status_code == 200


@pytest.mark.parametrize("setting, host, enabled", [
    ("auto", "127.0.0.1", True), ("auto", "127.0.0.2", True), ("auto", "::1", True), ("auto", "localhost", True),
    ("auto", "0.0.0.0", False), ("auto", "::", False), ("auto", "10.1.2.3", False), ("auto", "my-host", False),
    ("on", "0.0.0.0", True), ("off", "127.0.0.1", False),
])
def test_the_repository_api_is_on_by_default_only_on_a_loopback_address(setting, host, enabled):
    """The cluster runtime binds 0.0.0.0 and is rolled by the InferenceService, never reloaded over HTTP."""
    assert repository_api_enabled(setting, host) is enabled
