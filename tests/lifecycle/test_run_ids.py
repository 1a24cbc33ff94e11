"""A run id names one training run: reused ids are refused up front, concurrent writers of one
id do not corrupt each other, and only staging dirs of dead runs are cleaned (issue 8 item 3).
The concurrency tests use separate real processes: flock is per process."""

import os
import signal
import subprocess
import sys
import textwrap

from modelkit import artifacts
from modelkit.cli import main
from modelkit.lifecycle.promotion import promote
from modelkit.lifecycle.run_report import report_run
from modelkit.served_state import file_sha256, read_state, served_version
from modelkit.settings import Settings

from .factory import DETECTOR, mark_accepted, write_version

# Holds a VersionWriter (or a whole-run claim) open until its stdin closes; says "holding" when it does.
HOLDER = textwrap.dedent("""
    import os, sys
    from modelkit import artifacts
    from modelkit.staging import claimed_run_id
    root, model, run_id, what = sys.argv[1:5]
    if what == "claim":
        with claimed_run_id(root, model, run_id):
            print("holding", flush=True)
            sys.stdin.read()
    else:
        with artifacts.VersionWriter(root, model, run_id) as version:
            version.add_file(artifacts.MODEL_FILE, os.urandom(4096))
            print("holding", flush=True)
            sys.stdin.read()
            version.write_metadata({"model": model, "run_id": run_id, "created_at": artifacts.utc_now()})
    print("published", flush=True)
""")


def start_holder(root, run_id, what="writer"):
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(root), DETECTOR, run_id, what],
                             env=os.environ.copy(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "holding\n"
    return child


def finish(child):
    out, _ = child.communicate("", timeout=60)
    return child.returncode, out


def settings_for(root, run_id):
    return Settings.from_env({"MODEL_NAME": DETECTOR, "RUN_ID": run_id, "MODELS_ROOT": str(root)})


def served_v1(root):
    mark_accepted(write_version(root, DETECTOR, "v1"))
    promote(root, DETECTOR, "v1", keep_versions=5)
    report_run(settings_for(root, "v1"), status="Succeeded")


def test_check_params_refuses_a_run_id_that_already_names_a_version(root, capsys, monkeypatch):
    served_v1(root)
    for name, value in (("MODEL_NAME", DETECTOR), ("RUN_ID", "v1"), ("MODELS_ROOT", str(root))):
        monkeypatch.setenv(name, value)
    assert main(["check-params"]) == 2
    assert "RUN_ID='v1': anomaly-detector already has a version v1" in capsys.readouterr().err
    monkeypatch.setenv("RUN_ID", "v2")
    assert main(["check-params"]) == 0


def test_train_with_the_served_run_id_is_refused_before_any_step_and_serving_is_untouched(root):
    """The issue's reproduction: `modelkit train --run-id <served id>` used to fail at train and
    then its report step rolled production back."""
    served_v1(root)
    mark_accepted(write_version(root, DETECTOR, "v0", created_at="2026-01-01T00:00:00+00:00"))
    promote(root, DETECTOR, "v0", keep_versions=5)
    promote(root, DETECTOR, "v1", keep_versions=5)  # v0 is the rollback target a wrong report would serve
    model_dir = artifacts.model_dir(root, DETECTOR)
    state_before = read_state(model_dir)
    metadata_before = artifacts.read_metadata(artifacts.version_dir(root, DETECTOR, "v1"))
    done = subprocess.run([sys.executable, "-m", "modelkit.cli", "train", "--model", DETECTOR, "--run-id", "v1",
                           "--models-root", str(root)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "already has a version v1" in done.stderr and "==> [" not in done.stdout, "no step may run"
    assert served_version(model_dir)[0] == "v1" and read_state(model_dir) == state_before
    assert artifacts.read_metadata(artifacts.version_dir(root, DETECTOR, "v1")) == metadata_before


def test_a_second_local_train_with_a_running_run_id_is_refused_at_once(root, capsys):
    running = start_holder(root, "busy", what="claim")
    try:
        assert main(["train", "--model", DETECTOR, "--run-id", "busy", "--models-root", str(root)]) == 2
        assert "another `modelkit train` with this run id is running" in capsys.readouterr().err
    finally:
        assert finish(running)[0] == 0
    assert not list(artifacts.versions_dir(root, DETECTOR).glob(".run-*")), "the claim's lock file is removed"


def test_two_writers_of_one_run_id_do_not_corrupt_each_other(root):
    """The second writer used to delete the first one's staging dir and start over in it."""
    from modelkit.staging import remove_abandoned_staging

    first = start_holder(root, "same")
    staging = artifacts.versions_dir(root, DETECTOR) / ".staging-same"
    staged = file_sha256(staging / artifacts.MODEL_FILE)
    second = subprocess.run([sys.executable, "-c", HOLDER, str(root), DETECTOR, "same", "writer"],
                            capture_output=True, text=True, timeout=120, input="")
    assert second.returncode != 0 and "another run with this id is writing" in second.stderr
    assert file_sha256(staging / artifacts.MODEL_FILE) == staged, "the first writer's files are untouched"
    assert remove_abandoned_staging(root, DETECTOR) == [], "a live writer's staging dir is never cleaned"
    code, out = finish(first)
    assert code == 0 and "published" in out
    version = artifacts.version_dir(root, DETECTOR, "same")
    assert file_sha256(version / artifacts.MODEL_FILE) == staged and (version / artifacts.METADATA_FILE).is_file()
    assert [p.name for p in artifacts.versions_dir(root, DETECTOR).iterdir() if p.name.startswith(".")] == []


def test_a_killed_runs_staging_dir_is_cleaned_by_report_run_but_a_live_one_is_kept(root):
    folder = artifacts.versions_dir(root, DETECTOR)
    killed = start_holder(root, "killed")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    live = start_holder(root, "live")
    try:
        assert (folder / ".staging-killed").is_dir() and (folder / ".staging-killed.lock").is_file()
        text, _ = report_run(settings_for(root, "killed"), status="Failed")
        assert "no version was published" in text
        assert not (folder / ".staging-killed").exists() and not (folder / ".staging-killed.lock").exists()
        assert (folder / ".staging-live").is_dir(), "a live run's staging dir is never removed"
    finally:
        assert finish(live)[0] == 0
    assert artifacts.version_dir(root, DETECTOR, "live").is_dir()


def test_a_stale_staging_dir_of_the_same_id_does_not_stop_a_new_writer(root):
    killed = start_holder(root, "again")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    with artifacts.VersionWriter(root, DETECTOR, "again") as version:
        version.add_file(artifacts.MODEL_FILE, b"model")
        version.write_metadata({"model": DETECTOR, "run_id": "again", "created_at": artifacts.utc_now()})
    assert artifacts.version_dir(root, DETECTOR, "again").is_dir()


def test_a_refused_reuse_of_an_unreported_runs_id_cannot_roll_that_run_back(root, monkeypatch):
    """The earlier run promoted v1 and died before its report (a cancelled `finally`); a later
    PipelineRun reusing the name is refused at check-params, then its report says Failed."""
    mark_accepted(write_version(root, DETECTOR, "v0"))
    promote(root, DETECTOR, "v0", keep_versions=5)
    mark_accepted(write_version(root, DETECTOR, "v1"))
    promote(root, DETECTOR, "v1", keep_versions=5)  # ... and then the run was killed
    for name, value in (("MODEL_NAME", DETECTOR), ("RUN_ID", "v1"), ("MODELS_ROOT", str(root))):
        monkeypatch.setenv(name, value)
    assert main(["check-params"]) == 2
    text, switch = report_run(settings_for(root, "v1"), status="Failed")
    assert switch is None and "belongs to an earlier run with this id (recorded: ended without a report)" in text
    assert served_version(artifacts.model_dir(root, DETECTOR))[0] == "v1"
