from modelkit import artifacts
from modelkit.lifecycle.promotion import promote
from modelkit.lifecycle.run_report import report_run
from modelkit.lifecycle.served_state import served_version
from modelkit.settings import Settings

from .factory import DETECTOR, write_version


def promoted(root, run_id):
    path = write_version(root, DETECTOR, run_id)
    artifacts.update_metadata(path, gate={"accepted": True, "reasons": []})
    promote(root, DETECTOR, run_id, keep_versions=5)


def settings_for(root, run_id):
    return Settings.from_env({"MODEL_NAME": DETECTOR, "RUN_ID": run_id, "MODELS_ROOT": str(root)})


def test_a_failed_run_whose_version_was_promoted_is_rolled_back(root):
    promoted(root, "v1")
    promoted(root, "v2")  # then its smoke test failed
    text, rolled_back_to = report_run(settings_for(root, "v2"), status="Failed")
    assert rolled_back_to == "v1" and "rolled back to v1" in text
    assert served_version(artifacts.model_dir(root, DETECTOR))[0] == "v1"
    assert artifacts.read_metadata(artifacts.version_dir(root, DETECTOR, "v2"))["run"]["rolled_back_to"] == "v1"


def test_a_successful_run_is_recorded_and_its_staging_leftovers_removed(root):
    promoted(root, "v1")
    leftover = artifacts.versions_dir(root, DETECTOR) / ".staging-v1"
    leftover.mkdir()
    text, rolled_back_to = report_run(settings_for(root, "v1"), status="Succeeded")
    assert rolled_back_to is None and "served now: v1" in text
    assert not leftover.exists()
    assert artifacts.read_metadata(artifacts.version_dir(root, DETECTOR, "v1"))["run"]["status"] == "Succeeded"


def test_a_run_that_published_nothing_is_reported_as_such(root):
    promoted(root, "v1")
    text, rolled_back_to = report_run(settings_for(root, "crashed"), status="Failed")
    assert "no version was published" in text and rolled_back_to is None
    assert served_version(artifacts.model_dir(root, DETECTOR))[0] == "v1"


def test_report_prunes_refused_versions_beyond_the_kept_count(root):
    promoted(root, "served")
    for day in range(1, 6):
        write_version(root, DETECTOR, f"refused-{day}", created_at=f"2026-02-0{day}T00:00:00+00:00")
    text, _ = report_run(settings_for(root, "refused-5"), status="Failed")
    remaining = {v.run_id for v in artifacts.iter_versions(root, DETECTOR)}
    assert remaining == {"served", "refused-4", "refused-5"}  # the test registry keeps the newest 3 (served is newest)
    assert "pruned old versions" in text
