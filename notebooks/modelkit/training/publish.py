"""Write a trained model and its metadata as a new version directory.

Run by `modelkit run-notebook` (MODELKIT_STAGING_DIR set): the files go into the
staging directory the runner owns; it adds report.html and publishes the version.
Run by hand: the version is written and published here, without a report. Run ids and
staging dirs: modelkit.staging.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib

from ..artifacts import METADATA_FILE, MODEL_FILE, VersionWriter, write_json
from ..model_loading import load_model
from .run_context import TrainingRun


def publish_version(run: TrainingRun, model: Any, metadata: dict[str, Any]) -> Path:
    """Each model file is read back with the checked loader before the version can be published."""
    staging = run.settings.staging_dir
    if staging is not None:
        joblib.dump(model, Path(staging) / MODEL_FILE)
        load_model(Path(staging) / MODEL_FILE, metadata)
        write_json(Path(staging) / METADATA_FILE, metadata)
        print(f"Version {run.run_id} staged in {staging}; modelkit run-notebook publishes it with the report")
        return run.version_path
    with VersionWriter(run.models_root, run.spec.name, run.run_id) as version:
        load_model(version.write_model(model), metadata)
        version.write_metadata(metadata)
    print(f"Version {run.run_id} written to {version.path}")
    return version.path
