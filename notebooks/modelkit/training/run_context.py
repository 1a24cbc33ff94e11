"""The parameters of one training run, read and checked before any data is loaded."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..artifacts import run_id_or_new, version_dir
from ..errors import ConfigError
from ..registry import ModelSpec, get_model
from ..settings import Settings, source_and_hours


@dataclass(frozen=True)
class TrainingRun:
    settings: Settings
    spec: ModelSpec
    run_id: str
    data_source: str
    training_hours: int

    @property
    def models_root(self) -> Path:
        return self.settings.models_root

    @property
    def version_path(self) -> Path:
        return version_dir(self.models_root, self.spec.name, self.run_id)

    def data_settings(self, extra_hours: int = 0) -> Settings:
        """Settings for the data module: this run's source, and hours plus any warm-up history."""
        return dataclasses.replace(self.settings, data_source=self.data_source, training_hours=self.training_hours + extra_hours)

    def describe(self) -> str:
        return (
            f"model={self.spec.name} kind={self.spec.kind} data_source={self.data_source} "
            f"training_hours={self.training_hours} run_id={self.run_id} models_root={self.models_root} "
            f"git_ref={self.settings.git_ref}"
        )


def start_run(kinds: tuple[str, ...], env: dict[str, str] | None = None) -> TrainingRun:
    """Read and check the run's settings; raise ConfigError at once on anything wrong.

    `kinds`: the registry kinds the calling notebook can train.
    """
    settings = Settings.from_env(env)
    spec = get_model(settings.model_name)
    if spec.kind not in kinds:
        raise ConfigError(f"MODEL_NAME={spec.name!r} has kind {spec.kind}; this notebook trains {' or '.join(kinds)} models (see its registry entry's `notebook`)")
    run_id = run_id_or_new(settings.run_id)
    run = TrainingRun(settings, spec, run_id, *source_and_hours(settings, spec))
    if settings.staging_dir is None and run.version_path.exists():
        raise ConfigError(f"RUN_ID={run_id!r}: version {run.version_path} already exists; use a new RUN_ID")
    return run
