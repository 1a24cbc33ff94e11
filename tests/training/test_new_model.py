"""`modelkit new-model` (make new-model NAME=...): registry entry + notebook, then generate and train."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import yaml

from modelkit.artifacts import MODEL_FILE, read_metadata
from modelkit.model_loading import load_model
from modelkit.registry import load_registry
from modelkit.training.scaffold import insert_entry

from .conftest import PROJECT, clean_env, modelkit, train

VALUES = """\
# top comment
models:
  - name: a   # inline comment
    kind: custom

# about the next key
other:
  key: 1
"""


def test_entry_goes_at_the_end_of_the_models_list_and_every_comment_survives():
    text = insert_entry(VALUES, "  - name: b\n    kind: custom\n")
    assert yaml.safe_load(text) == {"models": [{"name": "a", "kind": "custom"}, {"name": "b", "kind": "custom"}], "other": {"key": 1}}
    for line in VALUES.splitlines():
        assert line in text.splitlines()
    assert text.index("name: b") < text.index("# about the next key")
    assert insert_entry("models:\n  - name: a\n", "  - name: b\n") == "models:\n  - name: a\n\n  - name: b\n"


def test_scaffolded_model_generates_its_objects_and_trains_into_a_valid_version(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT / "charts", project / "charts")
    shutil.copytree(PROJECT / "notebooks/02-anomaly-detection", project / "notebooks/02-anomaly-detection")
    original = (project / "charts/hub/values.yaml").read_text()

    created = modelkit("new-model", "--name", "disk-pressure", cwd=project)
    assert created.returncode == 0, created.stderr
    values = (project / "charts/hub/values.yaml").read_text()
    assert all(line in values.splitlines() for line in original.splitlines())
    registry = load_registry(project / "charts/hub/values.yaml")
    assert set(registry) >= {"anomaly-detector", "predictive-analytics", "disk-pressure"}
    assert registry["disk-pressure"].notebook == "notebooks/disk-pressure-training.ipynb"
    assert (project / "notebooks/disk-pressure-training.ipynb").is_file()

    again = modelkit("new-model", "--name", "disk-pressure", cwd=project)
    assert again.returncode == 2 and "disk-pressure" in again.stderr

    generated = subprocess.run([sys.executable, "-m", "generator", "--project-root", str(project)], cwd=PROJECT,
                               env=clean_env(), capture_output=True, text=True, timeout=300)
    assert generated.returncode == 0, generated.stderr
    objects = [p for p in (project / "charts/hub/templates").rglob("*.yaml") if "disk-pressure" in p.read_text()]
    assert objects, "make generate produced no object for the new model"

    run = train(tmp_path / "models", "disk-pressure", "first", cwd=project, DATA_SOURCE="synthetic", TRAINING_HOURS="24")
    assert run.process.returncode == 0, run.process.stderr[-2000:]
    assert "Model Evaluation" in run.process.stdout
    metadata = read_metadata(run.version)
    assert metadata["feature_contract"]["names"] == ["node_cpu_utilisation", "node_memory_utilisation"]
    model = load_model(run.version / MODEL_FILE, read_metadata(run.version))
    assert set(model.predict(metadata["probe_input"])) <= {-1, 1}
    assert sorted(p.name for p in run.version.iterdir()) == ["metadata.json", "model.pkl", "report.html"]


def test_bad_names_are_refused_without_touching_the_registry(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT / "charts/hub", project / "charts/hub", ignore=shutil.ignore_patterns("templates"))
    before = (project / "charts/hub/values.yaml").read_text()
    for name, reason in (("Disk_Pressure", "must be a DNS-1123 label"), ("a" * 50, "field `name`: .* is too long")):
        result = modelkit("new-model", "--name", name, cwd=project)
        assert result.returncode == 2 and re.search(reason, result.stderr), result.stderr
    assert (project / "charts/hub/values.yaml").read_text() == before
    assert not (project / "notebooks").exists()
