"""`modelkit data`: writes the frame, prints provenance, shows progress, draws the plot."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from modelkit.cli import main

from .helpers import spec


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("MODEL_NAME", "DATA_SOURCE", "TRAINING_HOURS", "SEED", "PROMETHEUS_URL", "PROMETHEUS_TOKEN", "PROMETHEUS_CA_BUNDLE", "FALLBACK_POLICY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_synthetic_frame_to_parquet_and_csv_with_a_plot(clean_env, tmp_path, capsys):
    parquet, csv, png = tmp_path / "frame.parquet", tmp_path / "frame.csv", tmp_path / "plots" / "frame.png"
    assert main(["data", "--model", "anomaly-detector", "--source", "synthetic", "--hours", "24", "--seed", "5", "--output", str(parquet), "--plot", str(png)]) == 0
    provenance = json.loads(capsys.readouterr().out)
    assert provenance["requested_source"] == "synthetic" and provenance["seed"] == 5 and provenance["window"]["rows"] == 1440
    frame = pd.read_parquet(parquet)  # the default detector is per node: its 6 synthetic nodes' rows
    assert list(frame.columns) == ["instance", *spec().metric_names, "is_anomaly", "anomaly_kind"] and len(frame) == 6 * 1440
    assert frame["is_anomaly"].sum() == provenance["injected_anomalies"]["points"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["data", "--model", "anomaly-detector", "--source", "synthetic", "--hours", "24", "--seed", "5", "--output", str(csv)]) == 0
    from_csv = pd.read_csv(csv, index_col=0, parse_dates=True, keep_default_na=False)
    pd.testing.assert_frame_equal(from_csv[list(spec().metric_names)], frame[list(spec().metric_names)], check_freq=False, check_index_type=False)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--output", "frame.xlsx"], "--output frame.xlsx: unknown file type '.xlsx'; use .csv or .parquet"),
        (["--hours", "-3"], "--hours -3 is not a whole number"),
        (["--hours", "0"], "--hours 0 must be greater than 0"),
        (["--hours", "8761"], "--hours 8761 is more than 8760"),
        (["--seed", "-1"], "--seed -1 is not a whole number"),
        (["--seed", "4294967296"], "--seed 4294967296 is more than 4294967295"),
        (["--plot", "frame.svg"], "--plot frame.svg: must be a .png file"),
        (["--model", "no-such-model"], "MODEL_NAME='no-such-model' is not in the models registry"),
    ],
)
def test_bad_options_are_named_in_the_error(clean_env, capsys, argv, message):
    assert main(["data", "--model", "anomaly-detector", *argv]) == 2
    assert message in capsys.readouterr().err


def test_prometheus_pull_shows_progress_and_an_unset_url_is_a_clear_error(clean_env, prometheus_server, capsys, tmp_path):
    assert main(["data", "--model", "anomaly-detector", "--source", "prometheus", "--hours", "1"]) == 3
    assert "PROMETHEUS_URL is not set" in capsys.readouterr().err
    for name, value in prometheus_server.env().items():
        clean_env.setenv(name, value)
    assert main(["data", "--model", "predictive-analytics", "--source", "hybrid", "--hours", "200", "--output", str(tmp_path / "f.csv")]) == 0
    captured = capsys.readouterr()
    assert "prometheus: 4/4 range requests" in captured.err  # 2 metrics x 2 chunks of <= 11,000 points
    assert json.loads(captured.out)["rows_per_source"]["prometheus"] == 200 * 60 // 2


def test_options_beat_the_environment_which_beats_the_registry(clean_env, capsys):
    """modelkit.settings' precedence rule: --source over $DATA_SOURCE (prometheus, with no URL, would
    exit 3), --hours over $TRAINING_HOURS, $SEED over the default, the registry's trainingHours last."""
    clean_env.setenv("DATA_SOURCE", "prometheus")
    clean_env.setenv("TRAINING_HOURS", "24")
    clean_env.setenv("SEED", "9")
    assert main(["data", "--model", "anomaly-detector", "--source", "synthetic", "--hours", "2"]) == 0
    provenance = json.loads(capsys.readouterr().out)
    assert (provenance["requested_source"], provenance["hours"], provenance["seed"]) == ("synthetic", 2, 9)
    assert main(["data", "--model", "anomaly-detector", "--source", "synthetic", "--seed", "5"]) == 0
    provenance = json.loads(capsys.readouterr().out)
    assert (provenance["hours"], provenance["seed"]) == (24, 5)
    clean_env.delenv("TRAINING_HOURS")
    assert main(["data", "--model", "anomaly-detector", "--source", "synthetic", "--seed", "5"]) == 0
    provenance = json.loads(capsys.readouterr().out)
    assert (provenance["hours"], provenance["seed"]) == (spec().training_hours, 5)
