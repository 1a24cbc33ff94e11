"""A default notebook run from its own folder, as Jupyter runs it in the workbench (and as
nbclient does for `modelkit run-notebook`: the kernel's working directory is the notebook's
folder), writes its version under the configured models root, here the checkout's models/
(no /mnt/models, no MODELS_ROOT), and nothing into notebooks/."""

from __future__ import annotations

import shutil

from fixtures.ci import unavailable
from fixtures.project import PROJECT_ROOT, copy_project
from modelkit import settings
from modelkit.artifacts import read_metadata
from modelkit.training.notebook_runner import execute

from .conftest import clean_env

NOTEBOOK = "notebooks/02-anomaly-detection/01-isolation-forest-implementation.ipynb"


def tree(folder):
    return {path.relative_to(folder) for path in folder.rglob("*")}


def test_a_notebook_run_from_its_folder_writes_under_the_checkouts_models_root(tmp_path):
    if settings.CLUSTER_MODELS_ROOT.exists():  # the notebook would rightly write there: not on a test machine
        unavailable(f"{settings.CLUSTER_MODELS_ROOT} exists on this machine, so it is the default models root: remove it")
    project = copy_project(tmp_path)
    shutil.copy(PROJECT_ROOT / NOTEBOOK, project / NOTEBOOK)
    before = tree(project / "notebooks")
    env = clean_env(MODEL_NAME="anomaly-detector", DATA_SOURCE="synthetic", TRAINING_HOURS="24", RUN_ID="from-its-folder",
                    MPLBACKEND="Agg")
    execute(project / NOTEBOOK, env, timeout=600)
    assert tree(project / "notebooks") == before
    version = project / "models" / "anomaly-detector" / "versions" / "from-its-folder"
    assert read_metadata(version)["run_id"] == "from-its-folder"
