"""The loader's allowlist is exactly what the project's models pickle: every model kind is
trained here (the anomaly detector, the forecaster and the scaffolded new-model pipeline of
notebooks/modelkit/templates), and every global its file uses must be on the list, resolve to
a class or a known reconstructor, and load through `load_model` to the same predictions the
stock loader (joblib.load, as KServe's sklearn server) gives."""

from __future__ import annotations

import functools
import json
import types
from datetime import datetime, timezone

import joblib
import joblib.numpy_pickle
import numpy as np
import pytest

from modelkit.artifacts import library_versions
from modelkit.model_loading import ALLOWED_CLASSES, ALLOWED_RECONSTRUCTORS, load_model
from modelkit.training import anomaly_workflow, forecast_workflow
from modelkit.training.run_context import start_run

from .conftest import PROJECT

END = datetime(2026, 3, 1, tzinfo=timezone.utc)
TEMPLATE = PROJECT / "notebooks/modelkit/templates/new-model-training.ipynb"


def run_for(model: str, kinds: tuple[str, ...], tmp_path):
    return start_run(kinds, {"MODEL_NAME": model, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": "24",
                             "MODELS_ROOT": str(tmp_path), "MODELKIT_REGISTRY": str(PROJECT / "charts/hub/values.yaml")})


def template_model(run):
    """The scaffold's algorithm cell, executed as the notebook would (data window pinned)."""
    cells = json.loads(TEMPLATE.read_text())["cells"]
    source = next("".join(c["source"]) for c in cells
                  if c["cell_type"] == "code" and "anomaly_workflow.train(" in "".join(c["source"]))
    namespace = {"run": run, "anomaly_workflow": types.SimpleNamespace(train=functools.partial(anomaly_workflow.train, end=END))}
    exec(compile(source, str(TEMPLATE), "exec"), namespace)
    return namespace["result"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    results = {
        "anomaly detector": anomaly_workflow.train(run_for("anomaly-detector", anomaly_workflow.KINDS, root), end=END),
        "forecaster": forecast_workflow.train(run_for("predictive-analytics", forecast_workflow.KINDS, root), end=END),
        "new-model template": template_model(run_for("anomaly-detector", anomaly_workflow.KINDS, root)),
    }
    files = {}
    for kind, result in results.items():
        files[kind] = root / f"{kind.replace(' ', '-')}.pkl"
        joblib.dump(result.model, files[kind])  # as VersionWriter.write_model writes it
    return files


class RecordingUnpickler(joblib.numpy_pickle.NumpyUnpickler):
    """joblib's own unpickler (what joblib.load uses), noting each global it resolves."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.used: set[tuple[str, str]] = set()

    def find_class(self, module, name):
        self.used.add((module, name))
        return super().find_class(module, name)


def globals_used(path) -> set[tuple[str, str]]:
    with open(path, "rb") as handle:
        unpickler = RecordingUnpickler(str(path), handle, ensure_native_byte_order=True)
        unpickler.load()
    return unpickler.used


@pytest.mark.parametrize("kind", ["anomaly detector", "forecaster", "new-model template"])
def test_every_global_a_model_kind_pickles_is_allowed_and_it_loads_like_the_stock_loader(trained, kind):
    used = globals_used(trained[kind])
    assert used - (ALLOWED_CLASSES | ALLOWED_RECONSTRUCTORS) == set()
    stock = joblib.load(trained[kind])
    checked = load_model(trained[kind], {"library_versions": library_versions()})
    rows = np.random.default_rng(0).normal(0.5, 0.2, size=(20, stock.n_features_in_))
    assert type(checked) is type(stock)
    assert np.array_equal(checked.predict(rows), stock.predict(rows))


def test_the_allowlist_holds_nothing_the_models_do_not_use(trained):
    used = set().union(*(globals_used(path) for path in trained.values()))
    assert (ALLOWED_CLASSES | ALLOWED_RECONSTRUCTORS) - used == set()
    assert ALLOWED_CLASSES.isdisjoint(ALLOWED_RECONSTRUCTORS)
