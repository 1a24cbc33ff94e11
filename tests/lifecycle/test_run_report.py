from modelkit import artifacts
from modelkit.lifecycle.promotion import promote, rollback
from modelkit.lifecycle.run_report import report_run
from modelkit.served_state import read_state, served_version
from modelkit.settings import Settings

from .factory import DETECTOR, mark_accepted, write_version


def promoted(root, run_id):
    mark_accepted(write_version(root, DETECTOR, run_id))
    promote(root, DETECTOR, run_id, keep_versions=5)


def served_now(root):
    return served_version(artifacts.model_dir(root, DETECTOR))[0]


def settings_for(root, run_id):
    return Settings.from_env({"MODEL_NAME": DETECTOR, "RUN_ID": run_id, "MODELS_ROOT": str(root)})


def test_a_failed_run_whose_version_was_promoted_is_rolled_back(root):
    promoted(root, "v1")
    promoted(root, "v2")  # then its smoke test failed
    text, switch = report_run(settings_for(root, "v2"), status="Failed")
    assert switch.run_id == "v1" and "rolled back to v1" in text
    assert served_version(artifacts.model_dir(root, DETECTOR))[0] == "v1"
    assert artifacts.read_metadata(artifacts.version_dir(root, DETECTOR, "v2"))["run"]["rolled_back_to"] == "v1"


def test_a_successful_run_is_recorded_and_its_staging_leftovers_removed(root):
    promoted(root, "v1")
    leftover = artifacts.versions_dir(root, DETECTOR) / ".staging-v1"
    leftover.mkdir()
    text, switch = report_run(settings_for(root, "v1"), status="Succeeded")
    assert switch is None and "served now: v1" in text
    assert not leftover.exists()
    assert artifacts.read_metadata(artifacts.version_dir(root, DETECTOR, "v1"))["run"]["status"] == "Succeeded"


def test_a_run_that_published_nothing_is_reported_as_such(root):
    promoted(root, "v1")
    text, switch = report_run(settings_for(root, "crashed"), status="Failed")
    assert "no version was published" in text and switch is None
    assert served_version(artifacts.model_dir(root, DETECTOR))[0] == "v1"


def test_report_prunes_refused_versions_beyond_the_kept_count(root):
    promoted(root, "served")
    for day in range(1, 6):
        write_version(root, DETECTOR, f"refused-{day}", created_at=f"2026-02-0{day}T00:00:00+00:00")
    text, _ = report_run(settings_for(root, "refused-5"), status="Failed")
    remaining = {v.run_id for v in artifacts.iter_versions(root, DETECTOR)}
    assert remaining == {"served", "refused-4", "refused-5"}  # the test registry keeps the newest 3 (served is newest)
    assert "pruned old versions" in text


def test_a_first_run_that_failed_after_its_promotion_leaves_nothing_served(root):
    """issue 9 item 8: with no earlier version report-run raised "no earlier served version"."""
    promoted(root, "first")  # then its smoke test failed
    text, switch = report_run(settings_for(root, "first"), status="Failed")
    assert switch.run_id is None and "nothing is served now" in text and "served now: nothing" in text
    assert not artifacts.served_model_path(root, DETECTOR).exists()
    state = read_state(artifacts.model_dir(root, DETECTOR))
    assert (state.run_id, state.stack, state.log[-1]["action"]) == (None, [], "withdraw")
    assert artifacts.read_metadata(artifacts.version_dir(root, DETECTOR, "first"))["run"]["withdrawn"] is True


def test_a_later_run_reusing_the_served_run_id_does_not_roll_production_back(root):
    """issue 8 item 3: `modelkit train --run-id <served id>` failed at train, and its report saw
    "failed, served == RUN_ID" and rolled back the version an earlier run had promoted."""
    promoted(root, "v1")
    promoted(root, "v2")
    report_run(settings_for(root, "v2"), status="Succeeded")
    recorded = artifacts.read_metadata(artifacts.version_dir(root, DETECTOR, "v2"))["run"]
    text, switch = report_run(settings_for(root, "v2"), status="Failed")  # the reused id's run
    assert switch is None and "belongs to an earlier run with this id" in text
    assert served_now(root) == "v2"
    assert artifacts.read_metadata(artifacts.version_dir(root, DETECTOR, "v2"))["run"] == recorded


def test_a_version_served_by_an_operators_rollback_is_not_rolled_back_by_its_run(root):
    """Only the run's own promotion (the last switch in served.json's log) is undone."""
    promoted(root, "v1")
    promoted(root, "v2")
    rollback(root, DETECTOR)
    rollback(root, DETECTOR, to="v2")  # an operator chose v2 while its run was still going
    text, switch = report_run(settings_for(root, "v2"), status="Failed")
    assert switch is None and "not through this run's promotion" in text
    assert served_now(root) == "v2"
