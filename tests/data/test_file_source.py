"""DATA_SOURCE=file: a user's CSV/Parquet becomes the training frame through the one reader
(modelkit/data/file_source.py) that `modelkit score --data-file` uses too."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd
import pytest

from modelkit.data import load_training_frame
from modelkit.data.file_source import read_metrics_table
from modelkit.errors import ConfigError, DataError
from modelkit.evaluation.events import runs

from .helpers import FIXED_END, registry_spec, settings, spec

METRICS = spec().metric_names
HOURS = 24


def clean_values(hours: int = 48, seed: str = "5") -> pd.DataFrame:
    """Clean synthetic values of the default detector's metrics (stand-ins for a user's real ones)."""
    loaded = load_training_frame(spec(), settings(DATA_SOURCE="synthetic", TRAINING_HOURS=str(hours), SEED=seed), end=FIXED_END)
    return loaded.untouched


def write(frame: pd.DataFrame, path) -> str:
    table = frame.rename_axis("timestamp").reset_index()
    table.to_parquet(path) if str(path).endswith(".parquet") else table.to_csv(path, index=False)
    return str(path)


def entity_spec():
    """The default detector declared per instance (ModelSpec.entity: ENTITY_CONTRACT.md)."""
    return dataclasses.replace(spec(), entity=("instance",))


def test_data_file_alone_means_the_file_source_and_the_option_beats_the_environment(tmp_path):
    first, second = write(clean_values(), tmp_path / "a.csv"), write(clean_values(), tmp_path / "b.csv")
    chosen = settings(DATA_FILE=first)
    assert (chosen.data_source, str(chosen.data_file)) == ("file", first)
    from modelkit.settings import Settings

    assert Settings.from_env({"MODEL_NAME": "anomaly-detector", "DATA_FILE": first},
                             {"DATA_FILE": ("--data-file", second)}).data_file.name == "b.csv"


@pytest.mark.parametrize("env, message", [
    ({"DATA_SOURCE": "file"}, "DATA_SOURCE=file needs DATA_FILE (--data-file)"),
    ({"DATA_SOURCE": "prometheus", "DATA_FILE": "FILE"}, "is set but DATA_SOURCE is prometheus"),
])
def test_a_file_source_without_a_file_or_a_file_with_another_source_is_refused(tmp_path, env, message):
    path = write(clean_values(), tmp_path / "m.csv")
    with pytest.raises(ConfigError) as caught:
        settings(**{k: v.replace("FILE", path) if k == "DATA_FILE" else v for k, v in env.items()})
    assert message in str(caught.value) and caught.value.variable == "DATA_FILE"


def test_a_labelled_file_is_judged_by_its_own_labels_and_nothing_is_injected(tmp_path):
    values = clean_values()
    labels = np.zeros(len(values), dtype=bool)
    labels[2000:2030] = labels[2500:2510] = True  # two real incidents, inside the last 24 h
    path = write(values.assign(is_anomaly=labels), tmp_path / "labelled.parquet")
    loaded = load_training_frame(spec(), settings(DATA_FILE=path, TRAINING_HOURS=str(HOURS)))

    last_day = values.iloc[-HOURS * 60:]
    assert loaded.labels_from_data
    assert loaded.frame.index.equals(last_day.index)  # the window ends at the file's last row
    assert np.allclose(loaded.frame[list(METRICS)], last_day) and np.allclose(loaded.untouched, last_day)
    assert loaded.frame["is_anomaly"].to_numpy().tolist() == labels[-HOURS * 60:].tolist()
    assert set(loaded.frame.loc[loaded.frame["is_anomaly"], "anomaly_kind"]) == {"labelled"}
    assert set(loaded.row_source) == {"file"}
    provenance = loaded.provenance
    assert provenance["injected_anomalies"]["events"] == 0 and provenance["labelled_events"] == {"events": 2, "points": 40}
    with open(path, "rb") as data:
        assert provenance["file"]["sha256"] == hashlib.sha256(data.read()).hexdigest()
    assert provenance["file"]["rows"] == len(values) and provenance["used_sources"] == ["file"] and provenance["real_data"]


def test_an_unlabelled_file_gets_injected_events_on_a_fifth_of_its_rows_as_prometheus_data_does(tmp_path):
    values = clean_values()
    loaded = load_training_frame(spec(), settings(DATA_FILE=write(values, tmp_path / "m.csv"), TRAINING_HOURS=str(HOURS)))
    rows = HOURS * 60
    assert not loaded.labels_from_data
    assert loaded.provenance["rows_per_source"] == {"file": rows - round(0.2 * rows), "synthetic": round(0.2 * rows)}
    assert int(loaded.frame["is_anomaly"].sum()) == round(0.2 * rows) and loaded.provenance["injected_anomalies"]["events"] > 0
    untouched = (loaded.row_source == "file").to_numpy()
    assert np.allclose(loaded.frame.loc[untouched, list(METRICS)], values.iloc[-rows:][untouched])
    assert np.allclose(loaded.untouched, values.iloc[-rows:])  # the forecaster's and false alarms' rows: the file's


def test_irregular_rows_are_put_on_the_grid_and_gaps_are_counted(tmp_path):
    values = clean_values()
    jittered = values.copy()
    jittered.index = values.index + pd.to_timedelta(np.random.default_rng(1).integers(1, 50, len(values)), unit="s")
    holes = np.ones(len(values), dtype=bool)
    holes[-300:-290] = False  # ten minutes without a sample
    shuffled = jittered[holes].sample(frac=1, random_state=2)  # any row order
    loaded = load_training_frame(spec(), settings(DATA_FILE=write(shuffled, tmp_path / "m.csv"), TRAINING_HOURS=str(HOURS)))
    assert loaded.provenance["gaps_filled"] == {name: 10 for name in METRICS}
    assert loaded.frame.index.freq is None or loaded.frame.index.freq.n == 60
    assert (np.diff(loaded.frame.index.asi8) == 60 * 10**9).all()
    stamps = loaded.frame.index[-300:-290]
    inside = loaded.frame.loc[stamps, METRICS[0]]
    assert inside.notna().all()  # filled linearly between the samples around the hole


def test_a_file_shorter_than_the_window_is_used_whole_and_says_so(tmp_path):
    loaded = load_training_frame(spec(), settings(DATA_FILE=write(clean_values(hours=12), tmp_path / "m.csv"), TRAINING_HOURS="48"))
    assert len(loaded.frame) == 12 * 60
    assert "covers 12.0 h of the 48 h asked for" in loaded.provenance["file"]["window_clipped"]


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(is_anomaly=["maybe"] + [0] * (len(t) - 1)), r"row 1, column 'is_anomaly': 'maybe' is not true/false or 1/0"),
    (lambda t: t.assign(timestamp=t["timestamp"].astype(str).where(t.index != 4, "soon")), r"row 5, column 'timestamp': 'soon' is not a time"),
    (lambda t: t.drop(columns=METRICS[1]), rf"no column '{METRICS[1]}'"),
    (lambda t: t.assign(**{METRICS[0]: t[METRICS[0]].where(t.index < len(t) - 0.6 * HOURS * 60)}),
     rf"column '{METRICS[0]}' has samples for 40% of the window"),
])
def test_a_bad_file_is_refused_naming_the_file_column_and_row(tmp_path, change, message):
    table = clean_values().rename_axis("timestamp").reset_index()
    path = tmp_path / "bad.csv"
    change(table).to_csv(path, index=False)
    with pytest.raises(DataError, match=message) as caught:
        load_training_frame(spec(), settings(DATA_FILE=str(path), TRAINING_HOURS=str(HOURS)))
    assert str(path) in str(caught.value)


def test_inf_values_are_gaps_and_labels_of_any_sample_in_a_step_label_it(tmp_path):
    table = pd.DataFrame({"timestamp": ["2026-01-01T00:00:05Z", "2026-01-01T00:00:45Z", "2026-01-01T00:01:30Z", "2026-01-01T00:02:10Z"],
                          "cpu": [1.0, float("inf"), 5.0, 7.0], "is_anomaly": ["false", "TRUE", "0", "0"]})
    path = tmp_path / "m.csv"
    table.to_csv(path, index=False)
    read = read_metrics_table(path, ("cpu",), 60)
    assert read.values["cpu"].tolist() == [1.0, 5.0, 7.0] and read.gaps() == {"cpu": 0}
    assert read.labels.tolist() == [True, False, False]  # "TRUE" is true, "false" is not


def test_unix_seconds_are_times_and_milliseconds_are_refused_naming_the_row(tmp_path):
    path = tmp_path / "m.csv"
    pd.DataFrame({"timestamp": [1_699_999_980, 1_700_000_040.5], "cpu": [1.0, 2.0]}).to_csv(path, index=False)
    assert list(read_metrics_table(path, ("cpu",), 60).values.index) == list(pd.to_datetime([1_699_999_980, 1_700_000_040], unit="s", utc=True))
    pd.DataFrame({"timestamp": [1_700_000_000, 1_700_000_060_000], "cpu": [1.0, 2.0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"row 2, column 'timestamp': .* is not a time in Unix seconds \(milliseconds\?"):
        read_metrics_table(path, ("cpu",), 60)


def panel(values: pd.DataFrame, labels: np.ndarray | None = None) -> pd.DataFrame:
    """Two instances: worker-2 the whole file, worker-1 added 10 h later; shuffled as an export may be."""
    whole = values.assign(instance="worker-2")
    later = (values * 1.5).iloc[600:].assign(instance="worker-1")
    if labels is not None:
        whole, later = whole.assign(is_anomaly=labels), later.assign(is_anomaly=labels[600:])
    return pd.concat([whole, later]).sample(frac=1, random_state=3)


def test_an_entity_models_file_gives_the_panel_frame_of_the_contract(tmp_path):
    values = clean_values(hours=24)
    labels = np.zeros(len(values), dtype=bool)
    labels[900:920] = True
    loaded = load_training_frame(entity_spec(), settings(DATA_FILE=write(panel(values, labels), tmp_path / "p.csv"),
                                                         TRAINING_HOURS=str(HOURS)))
    frame = loaded.frame
    assert list(frame.columns) == ["instance", *METRICS, "is_anomaly", "anomaly_kind"]
    assert frame["instance"].tolist() == ["worker-1"] * (len(values) - 600) + ["worker-2"] * len(values)  # sorted by entity, then time
    worker1 = frame[frame["instance"] == "worker-1"]
    assert worker1.index.equals(values.index[600:]) and np.allclose(worker1[list(METRICS)], values.iloc[600:] * 1.5)
    assert loaded.untouched.index.equals(frame.index) and list(loaded.untouched.columns[:1]) == ["instance"]
    assert loaded.row_source.index.equals(frame.index) and "instance" in loaded.features.columns
    entities = loaded.provenance["entities"]
    assert entities["labels"] == ["instance"] and entities["count"] == 2
    assert entities["per_entity"]["worker-1"]["rows"] == len(values) - 600
    assert entities["per_entity"]["worker-1"]["first"] == values.index[600].isoformat()
    assert loaded.provenance["labelled_events"] == {"events": 2, "points": 40}  # one incident seen on both instances


def test_unlabelled_panels_get_injected_events_per_entity(tmp_path):
    values = clean_values(hours=24)
    loaded = load_training_frame(entity_spec(), settings(DATA_FILE=write(panel(values), tmp_path / "p.csv"), TRAINING_HOURS=str(HOURS)))
    for key in ("worker-1", "worker-2"):
        rows = loaded.frame[loaded.frame["instance"] == key]
        assert int(rows["is_anomaly"].sum()) == round(0.2 * len(rows))
        assert len(runs(rows["is_anomaly"].to_numpy())) >= 1
    assert {e["entity"] for e in loaded.provenance["injected_anomalies"]["event_list"]} == {"worker-1", "worker-2"}


@pytest.mark.parametrize("change, message", [
    # two nodes' rows without their label: averaging them would make one series of two nodes
    (lambda t: t.drop(columns="instance"), "repeats the time of row"),
    (lambda t: t.drop(columns="instance"), "without the model's entity column 'instance' the file is one series, one row per time"),
    (lambda t: t.assign(instance=t["instance"].where(t.index != 7, "")), "row 8, column 'instance' (an entity label of the model): empty"),
])
def test_a_missing_or_empty_entity_column_is_refused_naming_it(tmp_path, change, message):
    table = panel(clean_values(hours=24)).rename_axis("timestamp").reset_index()
    path = tmp_path / "p.csv"
    change(table).to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        load_training_frame(entity_spec(), settings(DATA_FILE=str(path), TRAINING_HOURS=str(HOURS)))
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_a_file_of_one_node_is_one_entity_of_the_per_node_default_named_after_the_file(tmp_path):
    """A CSV exported from one node has no `instance` column: for the per-node default detector it is
    one entity, and the provenance says so (an SRE's own export must just work)."""
    values = clean_values(hours=24)
    path = write(values, tmp_path / "node-a.csv")
    loaded = load_training_frame(registry_spec(), settings(DATA_FILE=path, TRAINING_HOURS=str(HOURS)))
    frame = loaded.frame
    assert list(frame.columns) == ["instance", *METRICS, "is_anomaly", "anomaly_kind"]
    assert set(frame["instance"]) == {"node-a"} and frame.index.equals(values.index)
    assert np.allclose(loaded.untouched[list(METRICS)], values)
    assert loaded.provenance["file"]["one_entity"] == ("no 'instance' column: the file's rows are one entity, "
                                                       "instance=node-a (named after the file)")
    assert loaded.provenance["entities"]["count"] == 1 and list(loaded.provenance["entities"]["per_entity"]) == ["node-a"]
    with_labels = load_training_frame(entity_spec(), settings(DATA_FILE=write(panel(values), tmp_path / "p.csv"), TRAINING_HOURS=str(HOURS)))
    assert "one_entity" not in with_labels.provenance["file"]  # a file with its entity column: nothing to say


def test_a_file_with_some_of_the_entity_labels_is_refused_naming_the_missing_one(tmp_path):
    two_labels = dataclasses.replace(spec(), entity=("namespace", "pod"))
    path = tmp_path / "pods.csv"
    clean_values(hours=24).assign(namespace="shop").rename_axis("timestamp").reset_index().to_csv(path, index=False)
    with pytest.raises(DataError, match=r"pods\.csv: no column 'pod' .*a file of one series may leave out every entity column, not some"):
        read_metrics_table(path, METRICS, 60, two_labels.entity)


def test_a_short_process_that_reads_a_parquet_file_exits_cleanly(tmp_path):
    """`modelkit score` and check-params read the file and exit. With Arrow's thread pool, about one
    such process in ten aborted at exit (SIGABRT, apache/arrow#34314) after its work was done: 40
    fresh processes in a row all exited cleanly about once in 70 tries then; the reader now reads
    Parquet without the pool."""
    import subprocess
    import sys
    from pathlib import Path

    import modelkit

    path = write(clean_values(hours=6), tmp_path / "m.parquet")
    code = ("import sys; sys.path.insert(0, sys.argv[2]); from modelkit.data.file_source import read_metrics_table; "
            "read_metrics_table(sys.argv[1], tuple(sys.argv[3:]), 60)")
    notebooks = str(Path(modelkit.__file__).resolve().parents[1])
    exits = [subprocess.run([sys.executable, "-c", code, path, notebooks, *METRICS], capture_output=True, timeout=60).returncode
             for _ in range(40)]
    assert exits == [0] * 40
