import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from modelkit import artifacts
from modelkit.cli import main
from modelkit.errors import ConfigError
from modelkit.lifecycle.promotion import promote, prune, rollback
from modelkit.lifecycle.served_state import file_sha256, read_state, served_version
from modelkit.lifecycle.versions_table import version_rows
from modelkit.model_loading import load_model

from .factory import DETECTOR, detector, features_of, write_version


def accepted_version(root, run_id, created_at=None, **kwargs):
    path = write_version(root, DETECTOR, run_id, created_at=created_at, **kwargs)
    artifacts.update_metadata(path, gate={"accepted": True, "reasons": []})
    return path


def served_bytes(root):
    return artifacts.served_model_path(root, DETECTOR).read_bytes()


def version_bytes(root, run_id):
    return (artifacts.version_dir(root, DETECTOR, run_id) / artifacts.MODEL_FILE).read_bytes()


def top_level_model_files(root):
    return sorted(p.name for p in artifacts.model_dir(root, DETECTOR).iterdir()
                  if p.is_file() and p.name.endswith((".pkl", ".joblib", ".pickle")))


def test_promote_refuses_versions_the_gate_has_not_accepted(root):
    write_version(root, DETECTOR, "unchecked")
    with pytest.raises(ConfigError, match="has not been through the gate"):
        promote(root, DETECTOR, "unchecked", keep_versions=5)
    rejected = write_version(root, DETECTOR, "rejected")
    artifacts.update_metadata(rejected, gate={"accepted": False, "reasons": ["too weak"]})
    with pytest.raises(ConfigError, match="rejected by the gate: too weak"):
        promote(root, DETECTOR, "rejected", keep_versions=5)
    assert not artifacts.served_model_path(root, DETECTOR).exists()


def test_promote_refuses_a_file_changed_since_the_gate_judged_it(root):
    path = accepted_version(root, "v1")
    artifacts.update_metadata(path, gate={"accepted": True, "reasons": [],
                                          "model_sha256": file_sha256(path / artifacts.MODEL_FILE)})
    accepted_version(root, "other", estimator=detector(len(features_of(DETECTOR)), seed=5))
    (path / artifacts.MODEL_FILE).write_bytes(version_bytes(root, "other"))
    with pytest.raises(ConfigError, match="changed since the gate validated it"):
        promote(root, DETECTOR, "v1", keep_versions=5)
    assert not artifacts.served_model_path(root, DETECTOR).exists()
    assert not list((artifacts.model_dir(root, DETECTOR) / artifacts.STATE).glob(".incoming-*"))


def test_promote_serves_the_version_file_and_records_it(root):
    accepted_version(root, "v1")
    result = promote(root, DETECTOR, "v1", keep_versions=5)
    assert (result.run_id, result.previous) == ("v1", None)
    assert served_bytes(root) == version_bytes(root, "v1")
    assert served_version(artifacts.model_dir(root, DETECTOR))[0] == "v1"
    assert top_level_model_files(root) == ["model.pkl"]


def test_rollback_returns_to_the_previous_version_and_further_back(root):
    for run_id in ("v1", "v2", "v3"):
        accepted_version(root, run_id)
        promote(root, DETECTOR, run_id, keep_versions=5)
    assert rollback(root, DETECTOR).run_id == "v2"
    assert served_bytes(root) == version_bytes(root, "v2")
    assert rollback(root, DETECTOR).run_id == "v1"
    assert served_bytes(root) == version_bytes(root, "v1")
    with pytest.raises(ConfigError, match="no earlier served version"):
        rollback(root, DETECTOR)
    assert rollback(root, DETECTOR, to="v3").run_id == "v3"
    assert served_bytes(root) == version_bytes(root, "v3")
    assert [e["action"] for e in read_state(artifacts.model_dir(root, DETECTOR)).log] == ["promote"] * 3 + ["rollback"] * 3


def test_versions_lists_metrics_verdicts_and_the_served_one(root):
    accepted_version(root, "old", "2026-01-01T00:00:00+00:00", metrics={"event_recall": 0.7, "alarms_per_day": 1.0})
    accepted_version(root, "new", "2026-01-02T00:00:00+00:00")
    write_version(root, DETECTOR, "untested", created_at="2026-01-03T00:00:00+00:00")
    promote(root, DETECTOR, "old", keep_versions=5)
    promote(root, DETECTOR, "new", keep_versions=5)
    rows = {row["run_id"]: row for row in version_rows(root, DETECTOR)}
    assert [r for r in rows if rows[r]["served"]] == ["new"]
    assert rows["old"]["rollback_target"] and rows["old"]["metrics"]["event_recall"] == 0.7
    assert rows["untested"]["gate"] == "not validated"


def test_pruning_keeps_the_newest_the_served_and_the_rollback_target(root):
    for day in range(1, 8):
        accepted_version(root, f"v{day}", f"2026-01-0{day}T00:00:00+00:00")
    promote(root, DETECTOR, "v1", keep_versions=10)
    promote(root, DETECTOR, "v2", keep_versions=10)
    removed = prune(root, DETECTOR, keep_versions=2)
    assert sorted(removed) == ["v3", "v4", "v5"]
    remaining = [v.run_id for v in artifacts.iter_versions(root, DETECTOR)]
    assert remaining == ["v1", "v2", "v6", "v7"]  # v2 served, v1 its rollback target, v6/v7 newest
    assert served_bytes(root) == version_bytes(root, "v2")


def test_promote_prunes_with_the_configured_count(root):
    for day in range(1, 6):
        accepted_version(root, f"v{day}", f"2026-01-0{day}T00:00:00+00:00")
    result = promote(root, DETECTOR, "v5", keep_versions=2)
    assert sorted(result.pruned) == ["v1", "v2", "v3"]


PROMOTE_FOREVER = textwrap.dedent("""
    import sys
    from modelkit.lifecycle.promotion import promote
    root = sys.argv[1]
    print("promoting", flush=True)
    while True:
        for run_id in ("big-a", "big-b"):
            promote(root, "anomaly-detector", run_id, keep_versions=10)
""")


def test_a_promotion_killed_at_any_moment_leaves_one_complete_model_served(root):
    """SIGKILL a process promoting two large versions back and forth, again and again."""
    width = len(features_of(DETECTOR))
    for run_id, seed in (("big-a", 1), ("big-b", 2)):
        accepted_version(root, run_id, estimator=detector(width, seed=seed, n_estimators=400))
    hashes = {file_sha256(artifacts.version_dir(root, DETECTOR, r) / artifacts.MODEL_FILE): r for r in ("big-a", "big-b")}
    promote(root, DETECTOR, "big-a", keep_versions=10)
    rng = random.Random(7)
    seen = set()
    for _ in range(10):
        child = subprocess.Popen([sys.executable, "-c", PROMOTE_FOREVER, str(root)], env=os.environ.copy(),
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline() == "promoting\n"
        time.sleep(rng.random() * 0.5)
        child.send_signal(signal.SIGKILL)
        child.wait()
        served = artifacts.served_model_path(root, DETECTOR)
        sha = file_sha256(served)
        assert sha in hashes, "the served file is not one of the two complete versions"
        assert served_version(artifacts.model_dir(root, DETECTOR)) == (hashes[sha], sha)
        assert top_level_model_files(root) == ["model.pkl"]
        metadata = artifacts.read_metadata(artifacts.version_dir(root, DETECTOR, hashes[sha]))
        assert load_model(served, metadata).predict([[0.5] * width]).shape == (1,)
        seen.add(hashes[sha])
    assert seen == {"big-a", "big-b"}, "the kills should have landed while each version was served"
    promote(root, DETECTOR, "big-b", keep_versions=10)  # and promotion carries on from wherever it stopped
    assert served_version(artifacts.model_dir(root, DETECTOR))[0] == "big-b"
    assert read_state(artifacts.model_dir(root, DETECTOR)).stack[-1] == "big-b"


def test_versions_command_marks_the_served_version(root, capsys):
    accepted_version(root, "old", "2026-01-01T00:00:00+00:00")
    accepted_version(root, "new", "2026-01-02T00:00:00+00:00")
    promote(root, DETECTOR, "new", keep_versions=5)
    assert main(["versions", "--model", DETECTOR, "--models-root", str(root)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines["new"].endswith("* served") and "accepted" in lines["new"] and "event_recall=0.9" in lines["new"]
    assert "served" not in lines["old"]
