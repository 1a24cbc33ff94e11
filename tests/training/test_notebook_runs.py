"""Both notebooks end to end through `modelkit run-notebook` (synthetic 24 h, and prometheus
mode against the test Prometheus): the version they publish is complete, loads with the
allowlist loader, predicts like KServe's sklearn server would, and says honestly how good it is."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pytest

from modelkit.artifacts import MODEL_FILE, read_metadata
from modelkit.model_loading import load_model
from modelkit.registry import get_model
from modelkit.thresholds import check_thresholds

from .conftest import PROJECT

RUNS = ("anomaly_24h", "forecast_24h")
GUIDE_REQUEST = {"instances": [[0.5, 0.6, 0.4, 0.3, 0.8]]}


@pytest.fixture(params=RUNS)
def run(request):
    return request.getfixturevalue(request.param)


def kserve_predict(version, instances):
    """What the stock sklearn server does: joblib.load the single model file in the folder, predict on the instances."""
    files = [p for p in version.iterdir() if p.suffix in (".pkl", ".joblib", ".pickle")]
    assert [p.name for p in files] == ["model.pkl"]
    return joblib.load(files[0]).predict(np.asarray(instances, dtype=float))


def test_version_is_complete_and_the_served_file_is_untouched(run):
    assert sorted(p.name for p in run.version.iterdir()) == ["metadata.json", "model.pkl", "report.html"]
    versions = run.models_root / run.model / "versions"
    assert [p.name for p in versions.iterdir()] == [run.run_id]  # no staging directory left behind
    assert not (run.models_root / run.model / "model.pkl").exists()
    assert f"RUN_ID={run.run_id}" in run.process.stdout and f"VERSION_DIR={run.version}" in run.process.stdout


def test_metadata_records_contract_thresholds_provenance_and_versions(run):
    spec = get_model(run.model, PROJECT / "charts/hub/values.yaml")
    metadata = read_metadata(run.version)
    assert metadata["model"] == run.model and metadata["kind"] == spec.kind and metadata["run_id"] == run.run_id
    assert metadata["git_ref"] == "test-ref" and metadata["data_source"] == "synthetic" and metadata["training_hours"] == 24
    assert metadata["feature_contract"] == {"names": list(spec.features), "count": len(spec.features)}
    assert metadata["thresholds"] == spec.thresholds
    met, checks = check_thresholds(metadata["metrics"], spec.thresholds)
    assert metadata["thresholds_met"] is met and metadata["threshold_checks"] == json.loads(json.dumps(checks))
    assert metadata["provenance"]["used_sources"] == ["synthetic"] and metadata["provenance"]["hours"] >= 24
    assert metadata["library_versions"]["scikit-learn"] == "1.5.2"
    assert metadata["created_at"].endswith("+00:00")
    assert all(len(row) == len(spec.features) for row in metadata["probe_input"]) and len(metadata["probe_input"]) >= 3


def test_model_loads_with_the_allowlist_and_predicts_probe_rows(run):
    metadata = read_metadata(run.version)
    model = load_model(run.version / MODEL_FILE, read_metadata(run.version))
    predictions = kserve_predict(run.version, metadata["probe_input"])
    assert np.array_equal(predictions, model.predict(np.asarray(metadata["probe_input"])))
    assert predictions.shape[0] == len(metadata["probe_input"])
    assert model.n_features_in_ == metadata["feature_contract"]["count"]


def test_log_and_report_carry_the_model_evaluation_section(run):
    assert "Model Evaluation" in run.process.stdout
    report = (run.version / "report.html").read_text()
    assert "Model Evaluation" in report and report.count("data:image/png;base64") >= 3
    assert "Traceback" not in report


def test_detector_answers_the_guide_request_and_exposes_scores(anomaly_24h):
    metadata = read_metadata(anomaly_24h.version)
    model = load_model(anomaly_24h.version / MODEL_FILE, read_metadata(anomaly_24h.version))
    assert set(kserve_predict(anomaly_24h.version, GUIDE_REQUEST["instances"])) <= {-1, 1}
    rows = np.asarray(metadata["probe_input"])
    scores = model.score_samples(rows)
    threshold = metadata["details"]["threshold"]
    assert np.array_equal(model.predict(rows) == -1, scores < threshold)
    assert np.allclose(model.decision_function(rows), scores - threshold)
    storm = rows[:1].copy()
    storm[0, 2:4] = 5.0  # load and pod CPU at 5x their requests: far outside anything seen
    # The probe holds the test slice's most anomalous row on purpose; an isolation forest's score
    # saturates for points isolated at the first split, so the storm is compared with the rows the
    # model calls normal, not with that one.
    normal_scores = scores[scores >= threshold]
    assert normal_scores.size >= 2
    assert model.predict(storm)[0] == -1 and model.score_samples(storm)[0] < normal_scores.min()
    assert "-1 = anomaly" in metadata["outputs"]["meaning"]
    for key in ("point_precision", "point_recall", "point_f1", "pr_auc", "event_recall", "alarms_per_day", "false_alarms_per_day"):
        assert key in metadata["metrics"]


def test_forecaster_predicts_one_change_per_metric_and_says_if_it_beats_the_baselines(forecast_24h):
    metadata = read_metadata(forecast_24h.version)
    spec = get_model(forecast_24h.model, PROJECT / "charts/hub/values.yaml")
    predictions = kserve_predict(forecast_24h.version, metadata["probe_input"])
    assert predictions.shape == (len(metadata["probe_input"]), len(spec.metrics))
    assert metadata["outputs"]["names"] == [f"{m}_change_60m" for m in spec.metric_names]
    assert "current value + change" in metadata["outputs"]["meaning"]
    metrics = metadata["metrics"]
    for metric in spec.metric_names:
        for prefix in ("", "last_value_", "seasonal_naive_"):
            assert metrics[f"{prefix}mae_{metric}"] >= 0 and f"{prefix}mape_{metric}" in metrics
    says_not = "does NOT beat the naive baselines" in forecast_24h.process.stdout
    assert says_not is (not metrics["beats_baselines"])
    assert metadata["details"]["warmup_hours_loaded"] == 24 and metadata["provenance"]["hours"] == 48


def test_prometheus_mode_trains_on_real_series_with_injected_anomalies(prometheus_runs):
    for model, run in prometheus_runs.items():
        metadata = read_metadata(run.version)
        provenance = metadata["provenance"]
        assert metadata["data_source"] == "prometheus" and provenance["real_data"] is True, model
        assert provenance["used_sources"] == ["prometheus", "synthetic"] and provenance["fallbacks"] == []
        assert "Model Evaluation" in run.process.stdout
        predictions = kserve_predict(run.version, metadata["probe_input"])
        assert len(predictions) == len(metadata["probe_input"])
        assert type(load_model(run.version / MODEL_FILE, read_metadata(run.version))).__module__.startswith("sklearn.")
