"""Generated files: idempotent, up to date in the repository, stale ones caught by --check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from fixtures.project import copy_project
from generator.build import GENERATED_DIR, HEADER, VALUES_SCHEMA, camel_key
from generator.values_schema import registry_entry_schema
from modelkit.registry import entry_schema

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def generator(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "generator", "--project-root", str(root), *args],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)


def test_committed_generated_files_are_up_to_date():
    result = generator(PROJECT_ROOT, "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generate_is_idempotent(tmp_path):
    root = copy_project(tmp_path)
    shutil.rmtree(root / GENERATED_DIR)
    (root / VALUES_SCHEMA).unlink()
    first = generator(root)
    assert first.returncode == 0 and "wrote" in first.stdout
    snapshot = {p: p.read_bytes() for p in (root / "charts").rglob("*") if p.is_file()}
    second = generator(root)
    assert second.returncode == 0 and "wrote" not in second.stdout, second.stdout
    assert {p: p.read_bytes() for p in (root / "charts").rglob("*") if p.is_file()} == snapshot
    assert generator(root, "--check").returncode == 0


def test_check_fails_on_stale_missing_and_leftover_files(tmp_path):
    root = copy_project(tmp_path)
    target = root / GENERATED_DIR / "model-anomaly-detector.yaml"
    target.write_text(target.read_text().replace("weekly-", "monthly-"))
    (root / VALUES_SCHEMA).unlink()
    (root / GENERATED_DIR / "model-retired.yaml").write_text("# old\n")
    result = generator(root, "--check")
    assert result.returncode == 1
    assert "stale or missing: charts/hub/templates/generated/model-anomaly-detector.yaml" in result.stderr
    assert "stale or missing: charts/hub/values.schema.json" in result.stderr
    assert "left over (no model for it): charts/hub/templates/generated/model-retired.yaml" in result.stderr
    assert "make generate" in result.stderr
    assert "monthly-" in target.read_text()  # --check writes nothing
    assert generator(root).returncode == 0
    assert not (root / GENERATED_DIR / "model-retired.yaml").exists()
    assert generator(root, "--check").returncode == 0


def test_check_fails_when_the_registry_changes(tmp_path):
    root = copy_project(tmp_path)
    values = root / "charts/hub/values.yaml"
    values.write_text(values.read_text().replace("name: predictive-analytics", "name: capacity-forecast"))
    result = generator(root, "--check")
    assert result.returncode == 1 and "model-capacity-forecast.yaml" in result.stderr


def test_generated_files_say_they_are_generated():
    for path in (PROJECT_ROOT / GENERATED_DIR).iterdir():
        assert path.read_text().startswith(HEADER), path
    schema = json.loads((PROJECT_ROOT / VALUES_SCHEMA).read_text())
    assert "Do not edit" in schema["description"]


def test_values_schema_is_derived_from_the_registry_schema():
    schema = json.loads((PROJECT_ROOT / VALUES_SCHEMA).read_text())
    items = schema["properties"]["models"]["items"]
    assert items == registry_entry_schema()
    source = entry_schema()
    assert set(items["properties"]) == set(source["properties"])
    assert items["required"] == source["required"]
    keys = schema["properties"]["tekton"]["properties"]["modelTraining"]["properties"]
    models = yaml.safe_load((PROJECT_ROOT / "charts/hub/values.yaml").read_text())["models"]
    assert set(keys) == {camel_key(m["name"]) for m in models}


def test_camel_keys():
    assert camel_key("anomaly-detector") == "anomalyDetector"
    assert camel_key("predictive-analytics") == "predictiveAnalytics"
    assert camel_key("disk-pressure-2") == "diskPressure2"
