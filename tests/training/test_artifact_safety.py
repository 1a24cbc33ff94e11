"""A model file is only ever loaded through `model_loading.load_model`: a hostile file is refused
with the global (module.name) it names, before anything it names runs, and a version trained
under another scikit-learn is detected.

The hostile files are in tests/fixtures/hostile_pickles.py; each one ran code (or wrote a file)
through the former prefix allowlist or through joblib's pre-0.10 compatibility path."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
from fixtures.hostile_pickles import GADGETS, build_on_a_class, joblib_bytes
from joblib.numpy_pickle import NumpyArrayWrapper
from sklearn.ensemble import IsolationForest

from modelkit.artifacts import MODEL_FILE, library_versions, read_metadata
from modelkit.model_loading import LibraryVersionError, ModelFileError, UnsafeModelError, load_model
from modelkit.training.metadata import build_metadata
from modelkit.training.publish import publish_version
from modelkit.training.run_context import start_run

from .conftest import PROJECT

THIS_ENVIRONMENT = {"library_versions": library_versions()}


class NotebookDefinedDetector(IsolationForest):
    """What a notebook might define: the stock server could not unpickle it."""


@pytest.mark.parametrize("gadget", GADGETS, ids=[g.name for g in GADGETS])
def test_a_hostile_model_file_is_refused_naming_what_it_uses_and_nothing_runs(gadget, tmp_path):
    marker = tmp_path / "code-ran"
    model_file = tmp_path / MODEL_FILE
    model_file.write_bytes(gadget.build(marker, tmp_path))
    with pytest.raises(UnsafeModelError) as refused:
        load_model(model_file, THIS_ENVIRONMENT)
    assert str(model_file) in str(refused.value)
    assert gadget.refused in str(refused.value)
    time.sleep(0.2)  # a spawned command (subprocess.Popen) would have touched the marker by now
    assert not marker.exists(), "the hostile file ran code while it was being refused"


def test_build_on_a_class_is_refused_and_the_class_is_left_alone(tmp_path):
    model_file = tmp_path / MODEL_FILE
    model_file.write_bytes(build_on_a_class())
    original = NumpyArrayWrapper.read
    try:
        with pytest.raises(UnsafeModelError, match="sets the state of joblib.numpy_pickle.NumpyArrayWrapper itself"):
            load_model(model_file, THIS_ENVIRONMENT)
        assert NumpyArrayWrapper.read is original
    finally:
        NumpyArrayWrapper.read = original


def test_an_array_larger_than_the_file_is_refused_before_memory_is_taken(tmp_path):
    model_file = tmp_path / MODEL_FILE
    data = joblib_bytes(np.zeros(4))
    # the wrapper records shape (4,) as the tuple (BININT1 4,): make it 2**31 - 1 rows of float64
    assert data.count(b"K\x04\x85") == 1
    model_file.write_bytes(data.replace(b"K\x04\x85", b"J\xff\xff\xff\x7f\x85"))
    with pytest.raises(UnsafeModelError, match=r"declares an array of 17179869176 bytes; the file has \d+"):
        load_model(model_file, THIS_ENVIRONMENT)


def test_a_model_class_defined_outside_scikit_learn_is_refused_and_nothing_is_written(tmp_path):
    env = {"MODEL_NAME": "anomaly-detector", "MODELS_ROOT": str(tmp_path), "RUN_ID": "custom-class",
           "MODELKIT_REGISTRY": str(PROJECT / "charts/hub/values.yaml")}
    run = start_run(("anomaly-detector",), env)
    model = NotebookDefinedDetector(n_estimators=5, random_state=0).fit(np.random.default_rng(0).normal(size=(50, 5)))
    metadata = build_metadata(run, metrics={}, outputs={}, provenance={}, probe_input=[], details={})
    with pytest.raises(UnsafeModelError, match="test_artifact_safety.NotebookDefinedDetector"):
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
        load_model(version / MODEL_FILE, read_metadata(version))
    model = load_model(version / MODEL_FILE, read_metadata(version), allow_version_mismatch=True)
    assert model.predict(np.asarray(metadata["probe_input"])).shape == (len(metadata["probe_input"]),)


def test_metadata_without_a_scikit_learn_version_is_refused(anomaly_24h):
    with pytest.raises(LibraryVersionError, match="records no scikit-learn version"):
        load_model(anomaly_24h.version / MODEL_FILE, {"library_versions": {}})


def test_a_file_that_is_not_a_pickle_gets_a_clear_error(tmp_path):
    model_file = tmp_path / MODEL_FILE
    model_file.write_bytes(joblib_bytes(np.zeros(3))[:40])  # cut off mid-stream
    with pytest.raises(ModelFileError, match=f"{model_file}: .*not a complete model file"):
        load_model(model_file, THIS_ENVIRONMENT)
