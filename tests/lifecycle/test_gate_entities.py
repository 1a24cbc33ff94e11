"""The gate on a per-entity detector (ENTITY_CONTRACT, "Features and models"): trained on real
synthetic panel data, judged per entity-day, its worst entities named, and a challenger replayed
through the served version on the same per-entity window."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest
import yaml

from modelkit import artifacts
from modelkit.lifecycle.gate import Verdict, check_held_out_quality, compare_with_served
from modelkit.lifecycle.promotion import promote
from modelkit.registry import get_model
from modelkit.evaluation.events import runs
from modelkit.evaluation.replay import replay_metrics
from modelkit.training import anomaly_workflow, forecast_workflow, report
from modelkit.training.detector_baseline import static_threshold_baseline
from modelkit.training.publish import publish_version
from modelkit.training.run_context import start_run

from .factory import DETECTOR, FORECASTER, mark_accepted

END = datetime(2026, 3, 1, tzinfo=timezone.utc)
NODE_DETECTOR = "node-anomaly-detector"
NODE_FORECASTER = "node-forecaster"


@pytest.fixture
def root(tmp_path, registry):
    """The test registry plus a 4-node copy of the default detector (per node, pod CPU/request broadcast) and a
    per-node copy of the forecaster."""
    models = yaml.safe_load(registry.read_text())["models"]
    node = dict(copy.deepcopy(next(m for m in models if m["name"] == DETECTOR)), name=NODE_DETECTOR, entity=["instance"], syntheticEntities=4)
    node["metrics"] = [dict(m, entityJoin="broadcast") if m["name"] == "pod_cpu_to_request_ratio" else m for m in node["metrics"]]
    forecaster = dict(copy.deepcopy(next(m for m in models if m["name"] == FORECASTER)), name=NODE_FORECASTER, entity=["instance"])
    registry.write_text(yaml.safe_dump({"models": [*models, node, forecaster]}))
    return tmp_path / "models"


def train(root, run_id, hours, model=NODE_DETECTOR, workflow=anomaly_workflow):
    run = start_run(workflow.KINDS, {"MODEL_NAME": model, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": str(hours),
                                     "MODELS_ROOT": str(root), "RUN_ID": run_id, "SEED": "7"})
    result = workflow.train(run, end=END)
    publish_version(run, result.model, result.metadata())
    return artifacts.read_metadata(artifacts.version_dir(root, model, run_id))


def test_an_entity_detector_reports_per_entity_and_is_limited_per_entity_day(root):
    metadata = train(root, "nodes", 48)
    metrics, per_entity = metadata["metrics"], metadata["details"]["per_entity"]
    assert metrics["entities"] == 4 and sorted(per_entity) == [f"worker-{n}" for n in range(1, 5)]
    # per entity-day: the held-out days of all entities together, not the slice's duration
    slice_days = sum(e["days"] for e in per_entity.values())
    assert metrics["false_alarm_days"] == pytest.approx(slice_days)
    assert metrics["false_alarms_per_entity_day"] == metrics["false_alarms_per_day"] == pytest.approx(metrics["false_alarms"] / slice_days)
    assert metrics["fleet_false_alarms_per_day"] == pytest.approx(metrics["false_alarms_per_day"] * 4, rel=0.01)
    worst = metrics["worst_entities"]
    assert [w["false_alarms_per_day"] for w in worst] == sorted((e["false_alarms_per_day"] for e in per_entity.values()), reverse=True)
    assert worst[0] == {"entity": worst[0]["entity"], **{k: per_entity[worst[0]["entity"]][k] for k in ("false_alarms_per_day", "event_recall")}}
    evaluation = report.entity_lines(metrics)  # the notebooks' Model Evaluation section
    assert evaluation[1].startswith(f"  {worst[0]['entity']}: ") and "false alarms per day" in evaluation[1]
    assert len(metadata["probe_input"][0]) == len(metadata["feature_contract"]["names"])  # a request row: one entity's features
    # the gate's floor reads the per-entity-day rate: over the limit it refuses, naming the rate
    spec = get_model(NODE_DETECTOR)
    over = {**metadata, "metrics": {**metrics, "false_alarms_per_day": 99.0}}
    assert "99.00 false alarms/entity-day on untouched held-out rows, over its limit of 6/entity-day" in check_held_out_quality(spec, over)[0]


def test_an_entity_challenger_is_replayed_through_the_served_version_on_the_same_entities(root):
    train(root, "champion", 48)
    mark_accepted(artifacts.version_dir(root, NODE_DETECTOR, "champion"))
    promote(root, NODE_DETECTOR, "champion", keep_versions=5)
    candidate = train(root, "challenger", 24)
    assert [s["labels"] for s in candidate["replay"]["entities"]["segments"]] == [[f"worker-{n}"] for n in range(1, 5)]
    verdict = Verdict(accepted=False, reasons=[])
    compare_with_served(get_model(NODE_DETECTOR), artifacts.model_dir(root, NODE_DETECTOR), "challenger", candidate, verdict)
    assert verdict.compared_with == "champion" and "event_recall candidate" in verdict.notes[0], verdict.notes


def test_an_entity_forecaster_names_its_worst_nodes_and_its_replay_rebuilds_the_same_rows(root):
    metadata = train(root, "nodes", 48, NODE_FORECASTER, forecast_workflow)
    metrics = metadata["metrics"]
    assert metrics["entities"] == 3 and {w["entity"] for w in metrics["worst_entities"]} == {"worker-1", "worker-2", "worker-3"}
    assert max(w["mae_ratio"] for w in metrics["worst_entities"]) >= metrics["mae_ratio"] * 0.999  # a pooled ratio is a weighted mean of the nodes' ratios
    version = artifacts.version_dir(root, NODE_FORECASTER, "nodes")
    replayed = replay_metrics("forecaster", metadata, version, metadata["replay"], get_model(NODE_FORECASTER).forecast_horizon_minutes)
    assert replayed["evaluated_rows"] == metrics["evaluated_rows"]
    assert replayed["mae_ratio_last_value_node_cpu_utilisation"] == pytest.approx(metrics["mae_ratio_last_value_node_cpu_utilisation"], rel=1e-4)


def test_an_entity_detectors_naive_baseline_is_each_entitys_own_training_range(root):
    run = start_run(anomaly_workflow.KINDS, {"MODEL_NAME": NODE_DETECTOR, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": "48",
                                             "MODELS_ROOT": str(root), "RUN_ID": "baseline", "SEED": "7"})
    result = anomaly_workflow.train(run, end=END)
    baseline = static_threshold_baseline(result)
    names = list(result.run.spec.metric_names)
    # the rule by hand: each node's min..max over its unlabelled training rows, applied to its untouched held-out rows
    expected, ranges = 0, []
    for node, values in result.untouched.groupby("instance"):
        labelled = result.frame.loc[result.frame["instance"] == node, "is_anomaly"].to_numpy(dtype=bool)
        train = values[values.index.isin(result.split.train.index) & ~labelled][names]
        test = values[values.index.isin(result.split.test.index)][names]
        outside = ((test < train.min()) | (test > train.max())).any(axis=1).to_numpy()
        expected += len(runs(outside))
        ranges.append(tuple(train.max()))
    assert len(set(ranges)) == 4  # four nodes, four ranges: the fleet's would be another rule
    assert baseline["false_alarms"] == expected
    assert baseline["events"] == result.metrics["events"]  # judged on the same injected events as the model
    lines = "\n".join(report.anomaly_lines(result))
    assert f"baseline, static thresholds at the training range: {expected} = " in lines and "/entity-day" in lines
