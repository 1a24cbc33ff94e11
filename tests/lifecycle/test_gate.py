import dataclasses
import os
import pickle
from datetime import datetime, timezone

import pytest

from modelkit import artifacts
from modelkit.cli import main
from modelkit.errors import GateRejected
from modelkit.lifecycle.gate import (Verdict, check_contract, check_held_out_quality, check_real_data,
                                     check_thresholds_from_registry, compare_with_served, run_gate)
from modelkit.lifecycle.promotion import promote
from modelkit.registry import get_model
from modelkit.training import anomaly_detector, anomaly_workflow, forecast_workflow
from modelkit.training.publish import publish_version
from modelkit.training.run_context import start_run

from .factory import (DETECTOR, FORECASTER, GOOD_DETECTOR_METRICS, GOOD_FORECASTER_METRICS, detector, features_of,
                      mark_accepted, write_test_registry, write_version)

END = datetime(2026, 3, 1, tzinfo=timezone.utc)


def gate(root, model, run_id, **kwargs):
    return run_gate(root, get_model(model), run_id, **kwargs)


def recorded_verdict(root, model, run_id):
    return artifacts.read_metadata(artifacts.version_dir(root, model, run_id))["gate"]


@pytest.mark.parametrize("model", [DETECTOR, FORECASTER])
def test_accepts_a_good_model_and_records_the_verdict(root, model):
    write_version(root, model, "good")
    verdict = gate(root, model, "good")
    assert verdict.accepted and verdict.reasons == []
    assert recorded_verdict(root, model, "good")["accepted"] is True


def test_rejects_a_file_that_is_not_a_model(root):
    write_version(root, DETECTOR, "broken", model_bytes=b"this is not a pickle")
    with pytest.raises(GateRejected, match="does not load"):
        gate(root, DETECTOR, "broken")
    assert recorded_verdict(root, DETECTOR, "broken")["accepted"] is False


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_rejects_a_pickle_that_would_run_code_without_running_it(root, tmp_path):
    marker = tmp_path / "code-ran"
    write_version(root, DETECTOR, "hostile", model_bytes=pickle.dumps(RunsCode(marker)))
    with pytest.raises(GateRejected, match="uses posix.system, which is not on the allowlist"):
        gate(root, DETECTOR, "hostile")
    assert not marker.exists()


def test_rejects_a_model_pickled_by_another_scikit_learn(root):
    write_version(root, DETECTOR, "old-sklearn", library_versions={"scikit-learn": "1.4.0"})
    with pytest.raises(GateRejected, match="trained with scikit-learn 1.4.0"):
        gate(root, DETECTOR, "old-sklearn")


def test_rejects_a_model_with_the_wrong_feature_count(root):
    width = len(features_of(DETECTOR))
    write_version(root, DETECTOR, "narrow", estimator=detector(width - 1),
                  probe_input=[[0.5] * width])
    with pytest.raises(GateRejected, match=f"expects {width - 1} features, the contract has {width}"):
        gate(root, DETECTOR, "narrow")


def metadata_of(version_path):
    return artifacts.read_metadata(version_path)


def test_rejects_a_feature_contract_that_differs_from_the_registry(root):
    names = list(reversed(features_of(DETECTOR)))
    version = write_version(root, DETECTOR, "reordered", feature_contract={"names": names, "count": len(names)})
    assert "differs from the registry" in check_contract(get_model(DETECTOR), metadata_of(version))[0]
    assert check_contract(get_model(DETECTOR), metadata_of(write_version(root, DETECTOR, "same"))) == []


def test_rejects_a_model_below_the_registry_threshold(root):
    weak = write_version(root, DETECTOR, "weak", metrics={**GOOD_DETECTOR_METRICS, "event_recall": 0.4},
                         thresholds={"minEventRecall": 0.1})  # the registry's thresholds count, not the recorded ones
    assert check_thresholds_from_registry(get_model(DETECTOR), metadata_of(weak)) == [
        "threshold minEventRecall: event_recall = 0.4, needs >= 0.6"]


def test_rejects_a_forecaster_above_its_maximum_error(root):
    inaccurate = write_version(root, FORECASTER, "inaccurate", metrics={**GOOD_FORECASTER_METRICS, "mape": 0.4})
    assert "maxMape" in check_thresholds_from_registry(get_model(FORECASTER), metadata_of(inaccurate))[0]


def serve_unchecked(root, model, run_id, metrics):
    """A served version set up without the (slow, fresh-process) probe."""
    version = write_version(root, model, run_id, metrics=metrics)
    mark_accepted(version)
    promote(root, model, run_id, keep_versions=5)


def test_rejects_a_challenger_worse_than_the_served_model_unless_forced(root):
    serve_unchecked(root, DETECTOR, "champion", {**GOOD_DETECTOR_METRICS, "event_recall": 0.95})
    write_version(root, DETECTOR, "challenger", metrics={**GOOD_DETECTOR_METRICS, "event_recall": 0.8})
    with pytest.raises(GateRejected, match="worse than the served version champion"):
        gate(root, DETECTOR, "challenger")
    verdict = gate(root, DETECTOR, "challenger", force=True)
    assert verdict.accepted and verdict.forced and verdict.compared_with == "champion"
    assert "forced past" in verdict.notes[0]


@pytest.mark.parametrize("model, champion, challenger, worse", [
    (DETECTOR, {"event_recall": 0.9}, {"event_recall": 0.87}, False),  # within the 0.05 tolerance
    (DETECTOR, {"event_recall": 0.9}, {"event_recall": 0.8}, True),
    (FORECASTER, {"mae_ratio": 0.80}, {"mae_ratio": 0.84}, False),  # lower is better: an error ratio
    (FORECASTER, {"mae_ratio": 0.80}, {"mae_ratio": 0.90}, True),
])
def test_compares_the_primary_metric_in_its_direction(root, model, champion, challenger, worse):
    serve_unchecked(root, model, "champion", champion)
    candidate = write_version(root, model, "challenger", metrics=challenger)
    verdict = Verdict(accepted=False, reasons=[])
    reasons = compare_with_served(get_model(model), artifacts.model_dir(root, model), "challenger",
                                  metadata_of(candidate), verdict)
    assert bool(reasons) is worse
    assert verdict.compared_with == "champion"


@pytest.mark.parametrize("other", [{"training_hours": 720}, {"data_source": "synthetic"}])
def test_without_a_replay_window_does_not_compare_metrics_measured_on_other_data(root, other):
    serve_unchecked(root, FORECASTER, "champion", {**GOOD_FORECASTER_METRICS, "mae_ratio": 0.5})
    candidate = write_version(root, FORECASTER, "challenger", metrics=GOOD_FORECASTER_METRICS, **other)
    verdict = Verdict(accepted=False, reasons=[])
    reasons = compare_with_served(get_model(FORECASTER), artifacts.model_dir(root, FORECASTER), "challenger",
                                  metadata_of(candidate), verdict)
    assert reasons == [] and "evaluated on other data" in verdict.notes[0]
    assert next(iter(other)) in verdict.notes[0]


@pytest.mark.parametrize("metadata, reason", [
    ({"provenance": {"fallbacks": [{"from": "prometheus", "to": "synthetic", "reason": "unreachable"}]}}, "fell back"),
    ({"data_source": "synthetic"}, "trained on synthetic data"),
])
def test_refuses_fallback_data_when_the_registry_requires_real_data(root, tmp_path, monkeypatch, metadata, reason):
    monkeypatch.setenv("MODELKIT_REGISTRY", str(write_test_registry(tmp_path / "strict.yaml", require_real_data=True)))
    fallback = write_version(root, DETECTOR, "fallback", **metadata)
    assert reason in check_real_data(get_model(DETECTOR), metadata_of(fallback))[0]
    assert check_real_data(get_model(DETECTOR), metadata_of(write_version(root, DETECTOR, "real"))) == []


def test_fallback_data_is_fine_when_real_data_is_not_required(root):
    fallback = write_version(root, DETECTOR, "fallback", provenance={"fallbacks": [{"from": "prometheus", "to": "synthetic"}]})
    assert check_real_data(get_model(DETECTOR), metadata_of(fallback)) == []


def test_cli_exits_4_naming_the_reason_and_records_it(root, capsys):
    write_version(root, DETECTOR, "weak", metrics={**GOOD_DETECTOR_METRICS, "event_recall": 0.1})
    assert main(["validate", "--model", DETECTOR, "--run-id", "weak"]) == 4
    assert "minEventRecall" in capsys.readouterr().err
    assert "minEventRecall" in recorded_verdict(root, DETECTOR, "weak")["reasons"][0]


def test_cli_takes_model_and_run_id_from_the_pipeline_environment(root, monkeypatch, capsys):
    write_version(root, FORECASTER, "from-env")
    monkeypatch.setenv("MODEL_NAME", FORECASTER)
    monkeypatch.setenv("RUN_ID", "from-env")
    assert main(["validate"]) == 0
    assert "from-env: accepted" in capsys.readouterr().out


@pytest.mark.parametrize("model, metrics, reason", [
    (FORECASTER, {**GOOD_FORECASTER_METRICS, "mae_ratio": 1.02, "mae_ratio_last_value_node_cpu_utilisation": 1.02},
     "no better than a naive forecast: MAE ratio 1.020 (last_value_node_cpu_utilisation)"),
    (FORECASTER, {"mape": 0.01, "beats_baselines": True}, "no held-out MAE ratio"),
    (DETECTOR, {**GOOD_DETECTOR_METRICS, "false_alarms_per_day": 7.5}, "7.50 false alarms/day on untouched held-out rows, over its limit of 6/day"),
    (DETECTOR, {**GOOD_DETECTOR_METRICS, "false_alarm_days": 0.1}, "allows less than one false alarm on the 0.10-day held-out slice"),
    (DETECTOR, {"event_recall": 1.0, "point_precision": 1.0, "alarms_per_day": 1.0}, "no false alarms per day counted on untouched"),
])
def test_refuses_what_is_worse_than_naive_or_over_its_false_alarm_limit_whatever_the_thresholds(root, model, metrics, reason):
    """The floor under the registry's thresholds (issue 11): the test registry asks neither for beating the
    baselines nor for a false-alarm limit beyond maxAlarmsPerDay, and a version still cannot pass below it."""
    version = write_version(root, model, "weak", metrics=metrics)
    assert check_thresholds_from_registry(get_model(model), metadata_of(version)) == []
    assert reason in check_held_out_quality(get_model(model), metadata_of(version))[0]
    with pytest.raises(GateRejected, match="rejected"):
        gate(root, model, "weak")


SILENT = {**GOOD_DETECTOR_METRICS, "events": 3, "events_detected": 0, "event_recall": 0.0, "alarms": 0,
          "lowest_held_out_score": -0.62}


@pytest.mark.parametrize("metrics, reason", [
    (SILENT, "it raised no alarm on the held-out slice, not even at its 3 labelled events: its calibrated threshold -0.998 "
             "lies below every score there (the lowest -0.620"),
    ({**SILENT, "alarms": 2}, "it detected none of the 3 labelled events of the held-out slice"),
    ({**SILENT, "events": 0, "event_recall": None}, None),  # nothing to detect: recall cannot be judged here
    ({**SILENT, "events_detected": 1, "event_recall": 1 / 3, "alarms": 1}, None),
    (GOOD_DETECTOR_METRICS, None),  # metrics stating only the recall, as older versions recorded them
])
def test_refuses_a_detector_that_detects_none_of_the_held_out_events_whatever_the_thresholds(root, metrics, reason):
    """A threshold read from a short window of normal scores can lie beyond every score the model gives: such a
    version never alarms. The floor refuses it by name even where the registry asks for no event recall."""
    spec = dataclasses.replace(get_model(DETECTOR), thresholds={"maxFalseAlarmsPerDay": 6})
    version = write_version(root, DETECTOR, "silent", metrics=metrics, details={"threshold": -0.998})
    assert check_thresholds_from_registry(spec, metadata_of(version)) == []
    reasons = check_held_out_quality(spec, metadata_of(version))
    assert (reasons == []) if reason is None else (len(reasons) == 1 and reason in reasons[0]), reasons


def train_version(root, model, run_id, hours):
    """A real training run on synthetic data (pinned window), published under `root`."""
    workflow = anomaly_workflow if model == DETECTOR else forecast_workflow
    run = start_run(workflow.KINDS, {"MODEL_NAME": model, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": str(hours),
                                     "MODELS_ROOT": str(root), "RUN_ID": run_id, "SEED": "7"})
    result = workflow.train(run, end=END)
    publish_version(run, result.model, result.metadata())
    return result


def replayed_comparison(root, model, champion_hours, challenger_hours):
    """A served champion and a challenger trained on other hours, compared by the gate: (problems, verdict)."""
    train_version(root, model, "champion", champion_hours)
    serve_trained(root, model, "champion")
    train_version(root, model, "challenger", challenger_hours)
    verdict = Verdict(accepted=False, reasons=[])
    candidate = artifacts.version_dir(root, model, "challenger")
    problems = compare_with_served(get_model(model), artifacts.model_dir(root, model), "challenger", metadata_of(candidate), verdict)
    return problems, verdict


def test_compares_challenger_and_champion_trained_on_other_hours_on_the_same_replayed_window(root):
    """Before, versions trained on other hours were never compared; now both predict the candidate's held-out window."""
    problems, verdict = replayed_comparison(root, DETECTOR, 48, 24)
    assert problems == []
    assert verdict.compared_with == "champion"
    assert verdict.notes[0].startswith("replayed the candidate's held-out window through both") and "event_recall candidate" in verdict.notes[0]


def serve_trained(root, model, run_id):
    """Serve a trained version without gating it (the test registry's thresholds are not the point here)."""
    mark_accepted(artifacts.version_dir(root, model, run_id))
    promote(root, model, run_id, keep_versions=5)


def test_refuses_a_challenger_that_finds_less_than_the_champion_on_the_replayed_window(root):
    train_version(root, DETECTOR, "champion", 24)
    serve_trained(root, DETECTOR, "champion")
    blind = train_version(root, DETECTOR, "blind", 24)
    # the same version with a threshold no score reaches on the window: it flags nothing
    version = artifacts.version_dir(root, DETECTOR, "blind")
    model = anomaly_detector.set_threshold(blind.model, -1.0)
    artifacts.atomic_write_bytes(version / artifacts.MODEL_FILE, _pickled(model))
    with pytest.raises(GateRejected, match="event_recall = 0 is worse than the served version champion's 1 on the same replayed window"):
        gate(root, DETECTOR, "blind")


def _pickled(model) -> bytes:
    import io

    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def test_a_forecaster_replay_compares_mae_ratios_on_the_same_rows(root):
    _, verdict = replayed_comparison(root, FORECASTER, 24, 48)
    assert verdict.compared_with == "champion" and "mae_ratio candidate" in verdict.notes[0], verdict.notes


def test_a_served_version_the_window_cannot_feed_is_noted_not_compared(root):
    serve_unchecked(root, DETECTOR, "champion", GOOD_DETECTOR_METRICS)
    champion = artifacts.version_dir(root, DETECTOR, "champion")
    artifacts.update_metadata(champion, feature_contract={"names": ["disk_bytes_dev_1h"] * 5, "count": 5})
    train_version(root, DETECTOR, "challenger", 24)
    verdict = Verdict(accepted=False, reasons=[])
    candidate = artifacts.version_dir(root, DETECTOR, "challenger")
    assert compare_with_served(get_model(DETECTOR), artifacts.model_dir(root, DETECTOR), "challenger",
                               metadata_of(candidate), verdict) == []
    assert "cannot be replayed on the candidate's window" in verdict.notes[0] and "disk_bytes_dev_1h" in verdict.notes[0]
