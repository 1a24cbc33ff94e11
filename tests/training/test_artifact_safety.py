"""Only plain scikit-learn/numpy models become versions, and a version trained under another
scikit-learn is detected when loaded."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from modelkit.artifacts import LibraryVersionError, UnsafeModelError, load_version_model
from modelkit.training.metadata import build_metadata
from modelkit.training.publish import publish_version
from modelkit.training.run_context import start_run

from .conftest import PROJECT


class NotebookDefinedDetector(IsolationForest):
    """What a notebook might define: the stock server could not unpickle it."""


def test_a_model_class_defined_outside_scikit_learn_is_refused_and_nothing_is_written(tmp_path):
    env = {"MODEL_NAME": "anomaly-detector", "MODELS_ROOT": str(tmp_path), "RUN_ID": "custom-class",
           "MODELKIT_REGISTRY": str(PROJECT / "charts/hub/values.yaml")}
    run = start_run(("anomaly-detector",), env)
    model = NotebookDefinedDetector(n_estimators=5, random_state=0).fit(np.random.default_rng(0).normal(size=(50, 5)))
    metadata = build_metadata(run, metrics={}, outputs={}, provenance={}, probe_input=[], details={})
    with pytest.raises(UnsafeModelError, match="NotebookDefinedDetector"):
        publish_version(run, model, metadata)
    assert not run.version_path.exists()
    assert list(run.version_path.parent.iterdir()) == []


def test_loading_under_another_scikit_learn_is_reported(anomaly_24h, tmp_path):
    version = tmp_path / "copy"
    shutil.copytree(anomaly_24h.version, version)
    metadata = json.loads((version / "metadata.json").read_text())
    metadata["library_versions"]["scikit-learn"] = "1.4.2"
    (version / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(LibraryVersionError, match="trained with scikit-learn 1.4.2, this environment has 1.5.2"):
        load_version_model(version)
    assert load_version_model(version, allow_version_mismatch=True).predict(np.asarray(metadata["probe_input"])).shape == (len(metadata["probe_input"]),)
