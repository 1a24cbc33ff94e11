"""Users' own data: a metrics file read onto the model's grid, a model trained on values in hand,
and `modelkit score` writing per-row scores with exactly the training feature code."""

import dataclasses
import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from modelkit.served_state import file_sha256
from modelkit import artifacts
from modelkit.cli import main
from modelkit.data import load_training_frame
from modelkit.errors import ConfigError, DataError
from modelkit.features import model_inputs
from modelkit.entities import cluster_wide
from modelkit.registry import BROADCAST, get_model
from modelkit.scoring import read_metrics_file, score_values, train_on_values
from modelkit.settings import Settings
from modelkit.evaluation.events import runs
from modelkit.training.publish import publish_version

from .conftest import PROJECT

END = datetime(2026, 3, 1, tzinfo=timezone.utc)
DETECTOR = "anomaly-detector"


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setenv("MODELKIT_REGISTRY", str(PROJECT / "charts/hub/values.yaml"))


def _synthetic(hours: int, seed: str = "3"):
    """Clean synthetic values of the default detector's metrics, one series each (a file of one node or of the
    cluster; the default is per node), and the injected copy with its labels."""
    settings = Settings.from_env({"MODEL_NAME": DETECTOR, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": str(hours), "SEED": seed})
    return load_training_frame(cluster_wide(get_model(DETECTOR)), settings, end=END)


def test_a_file_with_irregular_timestamps_is_put_on_the_grid(tmp_path):
    path = tmp_path / "m.csv"
    pd.DataFrame({"timestamp": ["2026-01-01T00:00:10Z", "2026-01-01T00:00:50Z", "2026-01-01T00:03:05Z"],
                  "cpu": [1.0, 3.0, 8.0], "is_anomaly": [0, 0, 1]}).to_csv(path, index=False)
    values, labels = read_metrics_file(path, ("cpu",), step_seconds=60)
    assert list(values["cpu"]) == [2.0, 4.0, 6.0, 8.0]  # mean per minute, gaps filled linearly
    assert list(labels) == [False, False, False, True]


@pytest.mark.parametrize("cells, message", [
    ({"timestamp": ["2026-01-01T00:00:00Z", "yesterday"], "cpu": [1, 2]}, "row 2, column 'timestamp': 'yesterday' is not a time"),
    ({"timestamp": ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"], "cpu": [1, "high"]}, "row 2, column 'cpu': 'high' is not a number"),
    ({"timestamp": ["2026-01-01T00:00:00Z"], "mem": [1]}, "no column 'cpu' (has timestamp, mem)"),
])
def test_a_bad_file_is_refused_naming_the_row_and_column(tmp_path, cells, message):
    path = tmp_path / "bad.csv"
    pd.DataFrame(cells).to_csv(path, index=False)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_metrics_file(path, ("cpu",), step_seconds=60)


def test_score_writes_the_served_models_flags_computed_with_the_training_features(tmp_path, registry, monkeypatch, capsys):
    root = tmp_path / "models"
    training = _synthetic(48)
    result = train_on_values(DETECTOR, training.untouched, 60, models_root=root, run_id="own-data")
    assert result.provenance["used_sources"] == ["prometheus", "synthetic"]  # the values stood in for Prometheus
    version = publish_version(result.run, result.model, result.metadata())
    artifacts.update_metadata(version, gate={"accepted": True, "reasons": [],  # as the gate records it
                                             "model_sha256": file_sha256(version / artifacts.MODEL_FILE)})
    assert main(["promote", "--model", DETECTOR, "--run-id", "own-data", "--models-root", str(root)]) == 0
    capsys.readouterr()

    later = _synthetic(24, seed="9")  # another day, with injected labelled events
    data_file = tmp_path / "later.parquet"
    later.frame.drop(columns="anomaly_kind").rename_axis("timestamp").reset_index().to_parquet(data_file)
    monkeypatch.setenv("MODELS_ROOT", str(root))
    assert main(["score", "--model", DETECTOR, "--data-file", str(data_file), "--output", str(tmp_path / "scores.csv")]) == 0
    summary = json.loads(capsys.readouterr().out)
    scores = pd.read_csv(tmp_path / "scores.csv", index_col=0, parse_dates=True)
    inputs = model_inputs(later.frame.drop(columns=["is_anomaly", "anomaly_kind"]), result.run.spec.features, 60).dropna()
    assert len(scores) == len(inputs) == len(later.frame) - 359  # 6 h of history before the first complete row
    assert np.array_equal(scores["flagged"].to_numpy(), result.model.predict(inputs.to_numpy()) == -1)
    assert np.allclose(score_values(version, later.frame.drop(columns=["is_anomaly", "anomaly_kind"]), 60)["score"], scores["score"])
    assert summary["version"] == "own-data" and summary["rows"] == len(scores)
    # the file has no `instance` column: for the per-node default it is one node, named after the file
    assert set(scores["instance"]) == {"later"} and summary["entities"] == 1 and list(summary["per_entity"]) == ["later"]
    assert summary["one_entity"].startswith("no 'instance' column: the file's rows are one entity, instance=later")
    assert summary["alarms"] == len(runs(scores["flagged"].to_numpy())) and summary["events"] > 0
    assert 0 <= summary["event_recall"] <= 1


def _panel(hours: int = 48):
    """The per-node default's clean synthetic panel: one timeline per node, told apart by `instance`."""
    settings = Settings.from_env({"MODEL_NAME": DETECTOR, "DATA_SOURCE": "synthetic", "TRAINING_HOURS": str(hours), "SEED": "3"})
    return load_training_frame(get_model(DETECTOR), settings, end=END).untouched


def test_a_panel_in_hand_trains_the_per_node_model_and_scores_each_node(tmp_path, registry):
    panel = _panel()
    nodes = sorted(panel["instance"].unique())
    assert len(nodes) > 1
    result = train_on_values(DETECTOR, panel, 60, models_root=tmp_path, run_id="panel")
    assert result.run.spec.entity == ("instance",) and result.metrics["entities"] == len(nodes)  # judged per node-day
    assert sorted(result.per_entity) == nodes
    version = publish_version(result.run, result.model, result.metadata())
    scored = score_values(version, panel, 60, entity=("instance",))
    assert sorted(scored["instance"].unique()) == nodes
    one_node = panel[panel["instance"] == nodes[0]].drop(columns="instance")  # one series: trained as one, as before
    assert train_on_values(DETECTOR, one_node, 60, models_root=tmp_path, run_id="one").run.spec.entity == ()


def test_values_in_hand_that_mix_entities_without_their_labels_are_refused(tmp_path, registry):
    panel = _panel(24)
    with pytest.raises(DataError, match=r"time 2026-02-28T00:01:00\+00:00 is repeated in the rows without entity label columns"):
        train_on_values(DETECTOR, panel.drop(columns="instance"), 60, models_root=tmp_path)
    two_labels = dataclasses.replace(get_model(DETECTOR), entity=("instance", "namespace"))
    with pytest.raises(ConfigError, match="have its entity column.s. instance but not namespace"):
        train_on_values(two_labels, panel, 60, models_root=tmp_path)


def test_a_broadcast_metric_that_differs_between_the_entities_rows_is_refused(tmp_path, registry):
    spec = get_model(DETECTOR)
    cluster_metric = spec.metrics[-1].name
    spec = dataclasses.replace(spec, metrics=(*spec.metrics[:-1], dataclasses.replace(spec.metrics[-1], entity_join=BROADCAST)))
    with pytest.raises(DataError, match=f"metric '{cluster_metric}' is one series for every entity .entityJoin: broadcast., "
                                        "but its values differ between the entities' rows at 2026-02-28T00:01:00"):
        train_on_values(spec, _panel(24), 60, models_root=tmp_path)


def test_a_forecaster_scores_changes_and_levels_from_its_own_contract(tmp_path, registry):
    settings = Settings.from_env({"MODEL_NAME": "predictive-analytics", "DATA_SOURCE": "synthetic", "TRAINING_HOURS": "72"})
    values = load_training_frame(get_model("predictive-analytics"), settings, end=END).untouched
    result = train_on_values("predictive-analytics", values, 60, models_root=tmp_path, run_id="own", hours=48)
    version = publish_version(result.run, result.model, result.metadata())
    scored = score_values(version, values, 60)
    assert len(scored) == len(values) - 1440  # a day of history before the first complete row
    change = scored["node_cpu_utilisation_change_60m"]
    assert np.allclose(scored["node_cpu_utilisation_forecast"], values.loc[scored.index, "node_cpu_utilisation"] + change)
