import os
import pickle

import pytest

from modelkit import artifacts
from modelkit.cli import main
from modelkit.errors import GateRejected
from modelkit.lifecycle.gate import (Verdict, check_contract, check_real_data, check_thresholds_from_registry,
                                     compare_with_served, run_gate)
from modelkit.lifecycle.promotion import promote
from modelkit.registry import get_model

from .factory import DETECTOR, FORECASTER, detector, features_of, mark_accepted, write_test_registry, write_version


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
    weak = write_version(root, DETECTOR, "weak", metrics={"event_recall": 0.4, "alarms_per_day": 2.0},
                         thresholds={"minEventRecall": 0.1})  # the registry's thresholds count, not the recorded ones
    assert check_thresholds_from_registry(get_model(DETECTOR), metadata_of(weak)) == [
        "threshold minEventRecall: event_recall = 0.4, needs >= 0.6"]


def test_rejects_a_forecaster_above_its_maximum_error(root):
    inaccurate = write_version(root, FORECASTER, "inaccurate", metrics={"mape": 0.4})
    assert "maxMape" in check_thresholds_from_registry(get_model(FORECASTER), metadata_of(inaccurate))[0]


def serve_unchecked(root, model, run_id, metrics):
    """A served version set up without the (slow, fresh-process) probe."""
    version = write_version(root, model, run_id, metrics=metrics)
    mark_accepted(version)
    promote(root, model, run_id, keep_versions=5)


def test_rejects_a_challenger_worse_than_the_served_model_unless_forced(root):
    serve_unchecked(root, DETECTOR, "champion", {"event_recall": 0.95, "alarms_per_day": 1.0})
    write_version(root, DETECTOR, "challenger", metrics={"event_recall": 0.8, "alarms_per_day": 1.0})
    with pytest.raises(GateRejected, match="worse than the served version champion"):
        gate(root, DETECTOR, "challenger")
    verdict = gate(root, DETECTOR, "challenger", force=True)
    assert verdict.accepted and verdict.forced and verdict.compared_with == "champion"
    assert "forced past" in verdict.notes[0]


@pytest.mark.parametrize("model, champion, challenger, worse", [
    (DETECTOR, {"event_recall": 0.9}, {"event_recall": 0.87}, False),  # within the 0.05 tolerance
    (DETECTOR, {"event_recall": 0.9}, {"event_recall": 0.8}, True),
    (FORECASTER, {"mape": 0.10}, {"mape": 0.12}, False),  # lower is better: a max* threshold caps mape
    (FORECASTER, {"mape": 0.10}, {"mape": 0.20}, True),
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
def test_does_not_compare_metrics_measured_on_other_data(root, other):
    serve_unchecked(root, FORECASTER, "champion", {"mape": 0.05, "beats_baselines": True})
    candidate = write_version(root, FORECASTER, "challenger", metrics={"mape": 0.12, "beats_baselines": True}, **other)
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
    write_version(root, DETECTOR, "weak", metrics={"event_recall": 0.1, "alarms_per_day": 2.0})
    assert main(["validate", "--model", DETECTOR, "--run-id", "weak"]) == 4
    assert "minEventRecall" in capsys.readouterr().err
    assert "minEventRecall" in recorded_verdict(root, DETECTOR, "weak")["reasons"][0]


def test_cli_takes_model_and_run_id_from_the_pipeline_environment(root, monkeypatch, capsys):
    write_version(root, FORECASTER, "from-env")
    monkeypatch.setenv("MODEL_NAME", FORECASTER)
    monkeypatch.setenv("RUN_ID", "from-env")
    assert main(["validate"]) == 0
    assert "from-env: accepted" in capsys.readouterr().out
