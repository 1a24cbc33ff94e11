"""Training runs shared by the tests of this folder: each notebook runs once per session
through `modelkit run-notebook`, exactly as the pipeline's train step runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelkit.registry import find_registry_file

PROJECT = find_registry_file(Path(__file__).parent).parents[2]
RUN_VARIABLES = ("MODEL_NAME", "NOTEBOOK_PATH", "DATA_SOURCE", "DATA_FILE", "TRAINING_HOURS", "RUN_ID", "MODELS_ROOT", "GIT_REF",
                 "INFERENCE_SERVICE_NAME", "SEED", "ANOMALY_RATE", "FALLBACK_POLICY", "DATA_END")
# Synthetic runs end at a fixed time: the synthetic window otherwise ends now, so its daily phase and
# where the injected events fall (and so the model the tests read) changed with the time of day.
PINNED_SYNTHETIC = {"DATA_SOURCE": "synthetic", "TRAINING_HOURS": "24", "DATA_END": "2026-03-01T00:00:00Z", "SEED": "42"}


def clean_env(**overrides: str) -> dict[str, str]:
    """This environment without any run variable, plus `overrides`."""
    env = {k: v for k, v in os.environ.items()
           if k not in RUN_VARIABLES and not k.startswith(("PROMETHEUS_", "MODELKIT_"))}
    env.update(overrides)
    return env


def modelkit(*args: str, cwd: Path = PROJECT, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modelkit.cli", *args], cwd=cwd, env=clean_env(**env),
                          capture_output=True, text=True, timeout=timeout)


@dataclass
class TrainingRun:
    process: subprocess.CompletedProcess
    models_root: Path
    model: str
    run_id: str

    @property
    def version(self) -> Path:
        return self.models_root / self.model / "versions" / self.run_id


def train(models_root: Path, model: str, run_id: str, cwd: Path = PROJECT, **env: str) -> TrainingRun:
    process = modelkit("run-notebook", cwd=cwd, MODEL_NAME=model, RUN_ID=run_id, MODELS_ROOT=str(models_root),
                       GIT_REF="test-ref", **env)
    return TrainingRun(process, models_root, model, run_id)


def _succeeded(run: TrainingRun) -> TrainingRun:
    assert run.process.returncode == 0, f"run-notebook failed:\n{run.process.stdout[-3000:]}\n{run.process.stderr[-3000:]}"
    return run


@pytest.fixture(scope="session")
def anomaly_24h(tmp_path_factory) -> TrainingRun:
    root = tmp_path_factory.mktemp("models")
    return _succeeded(train(root, "anomaly-detector", "synthetic-24h", **PINNED_SYNTHETIC))


@pytest.fixture(scope="session")
def forecast_24h(tmp_path_factory) -> TrainingRun:
    root = tmp_path_factory.mktemp("models")
    return _succeeded(train(root, "predictive-analytics", "synthetic-24h", **PINNED_SYNTHETIC))


@pytest.fixture(scope="session")
def prometheus_runs(tmp_path_factory, prometheus_server) -> dict[str, TrainingRun]:
    root = tmp_path_factory.mktemp("models")
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="24")
    return {model: _succeeded(train(root, model, "prometheus-24h", **env)) for model in ("anomaly-detector", "predictive-analytics")}
