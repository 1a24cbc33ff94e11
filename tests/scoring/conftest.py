"""Real trained versions for the scorer's tests: both default models trained directly by their
workflows on 24 h of synthetic data (a few seconds each), marked accepted and promoted in a
temporary models root, with the project's registry entries (thresholds loosened by the lifecycle
factory so the gate's tuning does not decide these tests)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from lifecycle.factory import DETECTOR, FORECASTER, mark_accepted, write_test_registry
from modelkit import artifacts
from modelkit.lifecycle.promotion import promote
from modelkit.registry import load_registry
from modelkit.training import anomaly_workflow, forecast_workflow
from modelkit.training.publish import publish_version
from modelkit.training.run_context import start_run

WORKFLOWS = {DETECTOR: anomaly_workflow, FORECASTER: forecast_workflow}


@dataclass
class TrainedModels:
    root: Path
    registry: Path

    def specs(self):
        return list(load_registry(self.registry).values())

    def copy(self, destination: Path) -> "TrainedModels":
        shutil.copytree(self.root, destination / "models")
        shutil.copy(self.registry, destination / "registry.yaml")
        return TrainedModels(destination / "models", destination / "registry.yaml")


def train_and_promote(root: Path, registry: Path, model: str, run_id: str, seed: int = 7) -> Path:
    env = {"MODEL_NAME": model, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": "24", "MODELS_ROOT": str(root),
           "RUN_ID": run_id, "SEED": str(seed), "GIT_REF": "test",
           "DATA_END": "2026-03-01T00:00:00Z"}  # pinned: a window ending now trains another model at each time of day
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELKIT_REGISTRY", str(registry))
        run = start_run(WORKFLOWS[model].KINDS, env=env)
        result = WORKFLOWS[model].train(run)
        version = publish_version(run, result.model, result.metadata())
        mark_accepted(version)
        promote(root, model, run_id, keep_versions=5)
    return version


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> TrainedModels:
    base = tmp_path_factory.mktemp("scoring-models")
    registry = write_test_registry(base / "registry.yaml")
    root = base / "models"
    for model in (DETECTOR, FORECASTER):
        train_and_promote(root, registry, model, "v1")
    return TrainedModels(root, registry)


@pytest.fixture
def models(trained, tmp_path) -> TrainedModels:
    """A private copy (tests promote, replace and break files)."""
    return trained.copy(tmp_path)


def served_run(root: Path, model: str) -> str:
    return artifacts.read_metadata(artifacts.version_dir(root, model, "v1"))["run_id"]
