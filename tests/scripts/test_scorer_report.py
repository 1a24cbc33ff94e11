"""check-training-status.sh and validate-models.sh add the live scorer's view (served age, online
quality) when `modelkit watch` runs, here a real one on 127.0.0.1 (synthetic window: no Prometheus)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from lifecycle.factory import DETECTOR, FORECASTER, promoted_setup
from modelkit.lifecycle.local_server import free_port

from .test_operator_scripts import script


@pytest.fixture(scope="module")
def running_scorer(tmp_path_factory):
    root, registry = promoted_setup(tmp_path_factory.mktemp("scorer-setup"))
    env = {"MODELKIT_REGISTRY": str(registry), "MODELS_ROOT": str(root)}
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "modelkit.cli", "watch", "--synthetic", "--interval", "1", "--port", str(port)],
                             env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.2)
    yield root, env, port
    child.terminate()
    child.wait(timeout=15)


def test_check_training_status_adds_served_age_and_last_scoring(running_scorer):
    root, env, port = running_scorer
    done = script("check-training-status.sh", "--local", "--models-root", str(root), "--scorer-port", str(port), env=env)
    assert done.returncode == 0, done.stderr
    assert f"live scorer (http://127.0.0.1:{port}/metrics):" in done.stdout
    for model in (DETECTOR, FORECASTER):
        line = next(l for l in done.stdout.splitlines() if l.startswith(f"  {model}: serving v1"))
        assert "trained " in line and "last scored" in line


def test_validate_models_reports_the_scorer_without_changing_its_verdict(running_scorer, tmp_path):
    root, env, port = running_scorer
    done = script("validate-models.sh", "--local", "--models-root", str(root), "--model", DETECTOR, "--scorer-port", str(port), env=env)
    assert done.returncode == 0, done.stderr
    assert f"  {DETECTOR}: serving v1" in done.stdout and FORECASTER not in done.stdout
    down = script("validate-models.sh", "--local", "--models-root", str(root), "--scorer-port", str(free_port()), env=env)
    assert down.returncode == 0, down.stderr
    assert "not reachable" in down.stdout and "all 2 models validated" in down.stdout


def test_scorer_options_are_checked(running_scorer):
    _, env, _ = running_scorer
    done = script("validate-models.sh", "--local", "--scorer-port", "9100; touch x", env=env)
    assert done.returncode == 1 and "is not a port number" in done.stderr
    done = script("check-training-status.sh", "--scorer-service", "$(id):1", env=env)
    assert done.returncode == 1 and "is not NAME:PORT" in done.stderr
