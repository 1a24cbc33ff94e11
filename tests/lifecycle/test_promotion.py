import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import requests

from modelkit import artifacts
from modelkit.cli import main
from modelkit.errors import ConfigError
from modelkit.lifecycle.promotion import promote, prune, rollback
from modelkit.served_state import file_sha256, read_state, served_version
from modelkit.lifecycle.versions_table import version_rows
from modelkit.model_loading import load_model

from .factory import DETECTOR, detector, features_of, mark_accepted, write_version
from serving.live_server import running_server


def accepted_version(root, run_id, created_at=None, **kwargs):
    return mark_accepted(write_version(root, DETECTOR, run_id, created_at=created_at, **kwargs))


def other_model_bytes(root):
    """A different, valid model file (what a tampered or swapped model.pkl would be)."""
    scratch = write_version(root, DETECTOR, "scratch", estimator=detector(len(features_of(DETECTOR)), seed=5))
    return (scratch / artifacts.MODEL_FILE).read_bytes()


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
    (path / artifacts.MODEL_FILE).write_bytes(other_model_bytes(root))
    with pytest.raises(ConfigError, match="changed since the gate validated it"):
        promote(root, DETECTOR, "v1", keep_versions=5)
    assert not artifacts.served_model_path(root, DETECTOR).exists()
    assert not list((artifacts.model_dir(root, DETECTOR) / artifacts.STATE).glob(".incoming-*"))


def test_promote_refuses_an_accepted_verdict_that_names_no_bytes(root):
    """A verdict without gate.model_sha256 (hand-written, or an older modelkit) ties nothing to the file."""
    path = write_version(root, DETECTOR, "v1")
    artifacts.update_metadata(path, gate={"accepted": True, "reasons": []})
    with pytest.raises(ConfigError, match="records no model_sha256"):
        promote(root, DETECTOR, "v1", keep_versions=5)
    assert not artifacts.served_model_path(root, DETECTOR).exists()


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


def test_versions_of_the_per_node_detector_say_over_how_many_nodes_and_what_the_fleet_raises(root, capsys):
    """The default detector is per node: its false_alarms_per_day is per node-day, so the table adds the
    node count and the fleet's rate an on-call would see."""
    accepted_version(root, "nodes", metrics={"event_recall": 0.9, "false_alarms_per_day": 0.25, "entities": 6,
                                             "fleet_false_alarms_per_day": 1.5})
    assert main(["versions", "--model", DETECTOR, "--models-root", str(root)]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if "nodes" in l)
    assert "entities=6" in line and "fleet_false_alarms_per_day=1.5" in line


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


def served_state(root):
    return read_state(artifacts.model_dir(root, DETECTOR))


@pytest.mark.parametrize("spoil, reason", [
    (lambda path, root: artifacts.update_metadata(path, gate={"accepted": False, "reasons": ["too weak"]}),
     "rejected by the gate: too weak"),
    (lambda path, root: artifacts.update_metadata(path, gate=None), "has not been through the gate"),
    (lambda path, root: (path / artifacts.MODEL_FILE).write_bytes(other_model_bytes(root)),
     "changed since the gate validated it"),
])
def test_rollback_to_serves_only_what_the_gate_accepted_byte_for_byte(root, spoil, reason):
    """issue 8 item 2: `rollback --to` installed any version, unjudged or refused, without the hash check."""
    for run_id in ("v1", "v2"):
        accepted_version(root, run_id)
        promote(root, DETECTOR, run_id, keep_versions=5)
    spoil(artifacts.version_dir(root, DETECTOR, "v1"), root)
    before = served_state(root)
    with pytest.raises(ConfigError, match=reason):
        rollback(root, DETECTOR, to="v1")
    assert served_bytes(root) == version_bytes(root, "v2")
    assert served_state(root) == before, "a refused rollback changes nothing, not even the stack"


def test_the_automatic_rollback_skips_versions_that_may_not_be_served_again(root):
    for run_id in ("v1", "v2", "v3"):
        accepted_version(root, run_id)
        promote(root, DETECTOR, run_id, keep_versions=5)
    (artifacts.version_dir(root, DETECTOR, "v2") / artifacts.MODEL_FILE).write_bytes(other_model_bytes(root))
    assert {r["run_id"]: r["rollback_target"] for r in version_rows(root, DETECTOR)}["v1"] is True
    result = rollback(root, DETECTOR)
    assert result.run_id == "v1" and "skipped v2: its model.pkl changed" in result.notes[0]
    assert served_bytes(root) == version_bytes(root, "v1")


def test_a_forced_rollback_is_recorded_and_never_becomes_the_automatic_target(root, capsys):
    """--force serves an unjudged version, says so in served.json, its log and `modelkit versions`;
    report-run's automatic rollback then passes it by."""
    accepted_version(root, "v1")
    promote(root, DETECTOR, "v1", keep_versions=5)
    write_version(root, DETECTOR, "unjudged")
    result = rollback(root, DETECTOR, to="unjudged", force=True)
    assert served_bytes(root) == version_bytes(root, "unjudged")
    assert "FORCED" in result.notes[0] and "not been through the gate" in result.notes[0]
    state = served_state(root)
    assert "not been through the gate" in state.forced and "not been through the gate" in state.log[-1]["forced"]
    assert main(["versions", "--model", DETECTOR, "--models-root", str(root)]) == 0
    line = next(li for li in capsys.readouterr().out.splitlines() if li.split()[:1] == ["unjudged"])
    assert "* served (FORCED: it has not been through the gate" in line
    accepted_version(root, "v2")
    promote(root, DETECTOR, "v2", keep_versions=5)
    assert served_state(root).forced is None
    assert rollback(root, DETECTOR).run_id == "v1", "the forced version is not a rollback target"


def test_force_needs_an_explicit_version(root):
    with pytest.raises(ConfigError, match="--force needs --to"):
        rollback(root, DETECTOR, force=True)


def test_rollback_exits_non_zero_naming_the_local_server_that_did_not_reload(root, registry, capsys):
    """issue 8 item 2: a failed reload of the local server was printed as a note and exited 0.
    A real `modelkit serve` refuses to reload a forced version whose file is not a model."""
    accepted_version(root, "v1")
    promote(root, DETECTOR, "v1", keep_versions=5)
    write_version(root, DETECTOR, "broken", model_bytes=b"not a pickle")
    with running_server(root, registry, [DETECTOR]) as url:
        code = main(["rollback", "--model", DETECTOR, "--models-root", str(root), "--to", "broken", "--force"])
        error = capsys.readouterr().err
        assert code == 2
        assert f"the served file is now version broken, but the local server at {url} could not reload" in error
        answer = requests.post(f"{url}/v1/models/{DETECTOR}:predict", json={"instances": [[0.5] * len(features_of(DETECTOR))]},
                               timeout=10).json()
        assert answer["model_version"] == "v1", "the server keeps the version it had"
