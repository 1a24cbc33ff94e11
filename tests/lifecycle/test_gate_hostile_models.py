"""`modelkit validate` refuses a version whose model file is hostile, naming what the file uses,
and nothing the file names runs, neither in the gate's child process nor in the gate."""

from __future__ import annotations

import time

import pytest
from fixtures.hostile_pickles import GADGETS

from modelkit import artifacts
from modelkit.cli import main

from .factory import DETECTOR, FORECASTER, write_version


def recorded_reasons(root, run_id):
    return artifacts.read_metadata(artifacts.version_dir(root, DETECTOR, run_id))["gate"]["reasons"]


@pytest.mark.parametrize("gadget", GADGETS, ids=[g.name for g in GADGETS])
def test_validate_refuses_a_hostile_model_file_with_the_reason_and_runs_nothing(root, tmp_path, capsys, gadget):
    marker = tmp_path / "code-ran"
    write_version(root, DETECTOR, "hostile", model_bytes=gadget.build(marker, tmp_path))
    assert main(["validate", "--model", DETECTOR, "--run-id", "hostile"]) == 4
    reason = next(r for r in recorded_reasons(root, "hostile") if "does not load" in r)
    assert "UnsafeModelError" in reason and gadget.refused in reason
    assert gadget.refused in capsys.readouterr().err
    time.sleep(0.2)  # a spawned command (subprocess.Popen) would have touched the marker by now
    assert not marker.exists(), "the hostile file ran code in the gate"


@pytest.mark.parametrize("model", [DETECTOR, FORECASTER])
def test_the_probe_child_does_not_import_modules_from_the_working_directory(root, tmp_path, monkeypatch, capsys, model):
    """`python -m` puts the working directory first on sys.path: a checked-out repository holding
    `joblib.py` would run in the child that unpickles the candidate. The child runs with -P."""
    marker = tmp_path / "code-ran"
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("joblib", "numpy", "sklearn", "_loss"):
        (checkout / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    write_version(root, model, "good")
    monkeypatch.chdir(checkout)
    assert main(["validate", "--model", model, "--run-id", "good"]) == 0, capsys.readouterr().err
    assert not marker.exists(), "the gate's child imported a module from the working directory"
