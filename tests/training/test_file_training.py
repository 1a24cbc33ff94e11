"""Training on a user's file (DATA_SOURCE=file): check-params reads it before any training, a
labelled file judges the detector by its own labels, and `modelkit score` takes entity columns."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelkit.data import load_training_frame
from modelkit.entities import cluster_wide
from modelkit.errors import ConfigError
from modelkit.registry import get_model
from modelkit.scoring import score_values, summarise
from modelkit.settings import Settings
from modelkit.training import anomaly_workflow, report
from modelkit.evaluation.anomaly import evaluate_flags
from modelkit.evaluation.replay import replay_metrics
from modelkit.training.detector_baseline import static_threshold_baseline
from modelkit.training.params import check_params
from modelkit.training.publish import publish_version
from modelkit.training.run_context import start_run

from .conftest import PROJECT, modelkit, train

END = datetime(2026, 3, 1, tzinfo=timezone.utc)
DETECTOR = "anomaly-detector"
GOOD = {"MODEL_NAME": DETECTOR, "NOTEBOOK_PATH": "notebooks/02-anomaly-detection/01-isolation-forest-implementation.ipynb",
        "TRAINING_HOURS": "24"}


def clean_values(hours: int, seed: str = "3") -> pd.DataFrame:
    """One series per metric of the default detector's metrics, as a file exported from one node holds them
    (no `instance` column: one entity of the per-node default, file_source.py)."""
    settings = Settings.from_env({"MODEL_NAME": DETECTOR, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": str(hours), "SEED": seed})
    return load_training_frame(cluster_wide(get_model(DETECTOR)), settings, end=END).untouched


def with_incidents(values: pd.DataFrame, starts: list[int], length: int = 30) -> pd.DataFrame:
    """Real-looking incidents: every metric far above its range for `length` minutes, labelled."""
    values, labels = values.copy(), np.zeros(len(values), dtype=bool)
    for start in starts:
        values.iloc[start:start + length] = values.max().to_numpy() * 4
        labels[start:start + length] = True
    return values.assign(is_anomaly=labels)


def write(frame: pd.DataFrame, path) -> str:
    frame.rename_axis("timestamp").reset_index().to_csv(path, index=False)
    return str(path)


def test_check_params_reads_the_file_and_names_the_param_of_what_is_wrong(tmp_path):
    path = write(clean_values(30).drop(columns="node_load_per_cpu"), tmp_path / "m.csv")
    with pytest.raises(ConfigError, match=r"^DATA_FILE \(PipelineRun param `data-file`\): .*m\.csv: no column 'node_load_per_cpu'"):
        check_params({**GOOD, "DATA_FILE": path}, PROJECT)
    missing = modelkit("check-params", **GOOD, DATA_SOURCE="file", DATA_FILE=str(tmp_path / "none.csv"))
    assert missing.returncode == 2 and "DATA_FILE (PipelineRun param `data-file`)" in missing.stderr
    assert "is not an existing file" in missing.stderr


def test_check_params_refuses_a_file_it_cannot_read(tmp_path, monkeypatch):
    """The tests (and CI) run as root, for whom every mode-0 file is readable; so the kernel's answer
    for this one path is the non-root one, and the check must act on it."""
    unreadable = write(clean_values(30), tmp_path / "locked.csv")
    os.chmod(unreadable, 0)
    kernel_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path) == unreadable and mode == os.R_OK
                        else kernel_access(path, mode, **kw))
    with pytest.raises(ConfigError, match="cannot be read"):
        check_params({**GOOD, "DATA_FILE": unreadable}, PROJECT)


def test_check_params_accepts_a_good_file_and_says_which(tmp_path):
    path = write(clean_values(30), tmp_path / "good.csv")
    ok = modelkit("check-params", **GOOD, DATA_FILE=path)
    assert ok.returncode == 0, ok.stderr
    assert f"data_source=file training_hours=24 data_file={path}" in ok.stdout
    # the per-node default, and the file has no `instance` column: said before training, not after
    assert "no 'instance' column: the file's rows are one entity, instance=good (named after the file)" in ok.stderr


def test_a_labelled_files_incidents_are_found_and_not_counted_as_false_alarms(tmp_path):
    values = clean_values(48)
    test_start = len(values) - 8 * 60  # the incidents lie in the held-out slice
    path = write(with_incidents(values, [test_start + 60, test_start + 300]), tmp_path / "incidents.csv")
    run = start_run(anomaly_workflow.KINDS, {"MODEL_NAME": DETECTOR, "DATA_FILE": path, "TRAINING_HOURS": "40",
                                             "MODELS_ROOT": str(tmp_path / "models")})
    result = anomaly_workflow.train(run)
    labels = result.split.test["is_anomaly"].to_numpy(dtype=bool)
    # every alarm on the labelled incidents is a true one: only the others count against the budget
    assert result.metrics["false_alarms"] == evaluate_flags(labels, result.untouched_test_flags, 60)["false_alarms"]
    assert result.metrics["false_alarms"] < result.metrics["alarms"]
    assert result.metrics["events"] == 2 and result.metrics["event_recall"] == 1.0
    assert result.metrics["judged_on"].startswith("the data's own is_anomaly labels")
    assert result.provenance["file"]["path"] == path and result.provenance["injected_anomalies"]["events"] == 0
    baseline = static_threshold_baseline(result)  # incidents at 4 x the training maximum: a range alert sees them too
    assert baseline["events"] == 2 and baseline["event_recall"] == 1.0
    held_out = result.frame.loc[result.split.test.index, list(run.spec.metric_names)]
    trained = result.frame.loc[result.split.train.index, list(run.spec.metric_names)]
    outside = ((held_out > trained.max()) | (held_out < trained.min())).any(axis=1).to_numpy()  # the day-long slice dips too
    assert baseline["false_alarms"] == evaluate_flags(labels, outside, 60)["false_alarms"]
    evaluation = "\n".join(report.anomaly_lines(result))
    assert f"baseline, static thresholds at the training range: {baseline['false_alarms']} =" in evaluation
    assert "judged by the data's own is_anomaly labels (nothing injected)" in evaluation
    assert "every alarm there is false" not in evaluation and "injected" not in evaluation.split("nothing injected")[1]


@pytest.mark.slow
def test_run_notebook_trains_on_a_labelled_file_and_records_it(tmp_path):
    """The pipeline's train step with DATA_FILE, as `modelkit train --data-file` and the data-file param give it."""
    values = clean_values(48)
    path = write(with_incidents(values, [len(values) - 300]), tmp_path / "incidents.csv")
    run = train(tmp_path / "models", DETECTOR, "from-file", DATA_FILE=path, TRAINING_HOURS="40")
    assert run.process.returncode == 0, run.process.stderr[-3000:]
    metadata = json.loads((run.version / "metadata.json").read_text())
    assert metadata["data_source"] == "file" and metadata["provenance"]["file"]["path"] == path
    assert metadata["provenance"]["file"]["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert metadata["metrics"]["judged_on"].startswith("the data's own is_anomaly labels")
    assert "judged by the data's own is_anomaly labels" in run.process.stdout
    assert "baseline, static thresholds at the training range" in run.process.stdout  # the notebook's Model Evaluation


def test_score_takes_an_entity_file_and_scores_each_entity_on_its_own_history(tmp_path):
    base = get_model(DETECTOR)
    values = clean_values(48)
    result = anomaly_workflow.train(start_run(anomaly_workflow.KINDS, {"MODEL_NAME": DETECTOR, "DATA_SOURCE": "synthetic",
                                                                       "TRAINING_HOURS": "24", "MODELS_ROOT": str(tmp_path / "m")}),
                                    end=END)
    version = publish_version(result.run, result.model, result.metadata())
    later = with_incidents(clean_values(24, seed="8"), [900])
    panel = pd.concat([later.assign(instance="worker-a"), later.iloc[400:].assign(instance="worker-b")])
    from modelkit.data.file_source import read_metrics_file

    read, labels = read_metrics_file(write(panel, tmp_path / "p.csv"), base.metric_names, 60, entity=("instance",))
    scored = score_values(version, read, 60, entity=("instance",))
    alone = score_values(version, later.drop(columns="is_anomaly").iloc[400:], 60)
    worker_b = scored[scored["instance"] == "worker-b"]
    assert np.allclose(worker_b["score"], alone["score"])  # no feature window reaches into worker-a's rows
    from modelkit.scoring.batch import panel_labels

    summary = summarise(scored, panel_labels(read, labels, ("instance",)), 60, ("instance",))
    assert summary["entities"] == 2 and summary["events"] == 2 and summary["event_recall"] == 1.0
    print(json.dumps(summary))


def test_score_prints_each_entitys_alarms_for_an_entity_model(tmp_path, monkeypatch):
    """`modelkit score --data-file` on a per-node detector: the printed summary adds per_entity and
    worst_entities (scoring/entity_summary.py), counted on each node's own scored rows."""
    import sys

    import yaml

    sys.path.insert(0, str(PROJECT / "tests" / "data"))
    from entity_helpers import NODE_MODEL, entity_entry

    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"models": [entity_entry(dataSource="synthetic", trainingHours=24)]}))
    monkeypatch.setenv("MODELKIT_REGISTRY", str(registry))
    node, root = NODE_MODEL["name"], tmp_path / "models"
    run = start_run(anomaly_workflow.KINDS, {"MODEL_NAME": node, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": "24",
                                             "MODELS_ROOT": str(root), "RUN_ID": "v1"})
    result = anomaly_workflow.train(run, end=END)
    publish_version(run, result.model, result.metadata())
    later = load_training_frame(run.spec, Settings.from_env({"MODEL_NAME": node, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": "12",
                                                             "SEED": "8"}), end=END).untouched
    sick = later["instance"] == "worker-2"
    incident = sick & (later.index >= later.index[sick][300]) & (later.index < later.index[sick][330])
    later.loc[incident, ["node_cpu_utilisation", "node_load_per_cpu"]] *= 4
    scored_path = tmp_path / "scored.csv"
    done = modelkit("score", "--model", node, "--run-id", "v1", "--data-file", write(later, tmp_path / "p.csv"),
                    "--output", str(scored_path), MODELKIT_REGISTRY=str(registry), MODELS_ROOT=str(root))
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    scored = pd.read_csv(scored_path, index_col="timestamp", parse_dates=True)
    per_entity = summary["per_entity"]
    assert set(per_entity) == {"worker-1", "worker-2", "worker-3"} and summary["entities"] == 3
    assert {key: figures["rows"] for key, figures in per_entity.items()} == scored.groupby("instance").size().to_dict()
    assert {key: figures["flagged_rows"] for key, figures in per_entity.items()} == scored.groupby("instance")["flagged"].sum().to_dict()
    assert sum(figures["alarms"] for figures in per_entity.values()) == summary["alarms"]
    flagged_in_incident = scored[(scored["instance"] == "worker-2")].loc[later.index[incident], "flagged"]
    assert per_entity["worker-2"]["alarms"] >= 1 and flagged_in_incident.any()
    worst = [w["alarms_per_day"] for w in summary["worst_entities"]]
    assert len(worst) == 3 and worst == sorted(worst, reverse=True)


def test_the_gates_replay_of_a_labelled_file_counts_false_alarms_as_training_did(tmp_path):
    """The replay window of a labelled file holds its real incidents: alarms on them are true there too."""
    values = clean_values(48)
    test_start = len(values) - 8 * 60
    path = write(with_incidents(values, [test_start + 60, test_start + 300]), tmp_path / "incidents.csv")
    run = start_run(anomaly_workflow.KINDS, {"MODEL_NAME": DETECTOR, "DATA_FILE": path, "TRAINING_HOURS": "40",
                                             "MODELS_ROOT": str(tmp_path / "models")})
    result = anomaly_workflow.train(run)
    metadata = result.metadata()
    version = publish_version(result.run, result.model, metadata)
    replayed = replay_metrics(DETECTOR, metadata, version, metadata["replay"], None)
    assert result.metrics["false_alarms"] < result.metrics["alarms"]  # some alarms are on the incidents
    assert replayed["alarms"] == result.metrics["alarms"] and replayed["events_detected"] == 2
    assert replayed["false_alarms"] == result.metrics["false_alarms"]
