"""Synthetic frames: shape, reproducibility, seasonality, labelled anomaly events."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from modelkit.data import generate_synthetic_data, load_training_frame
from modelkit.errors import ConfigError
from modelkit.registry import MetricSpec

from .helpers import FIXED_END, settings, spec


def synthetic(model="anomaly-detector", **env):
    return load_training_frame(spec(model), settings(model, DATA_SOURCE="synthetic", **env), end=FIXED_END)


def test_frame_has_the_contract_columns_on_a_regular_utc_grid():
    tf = synthetic(TRAINING_HOURS="24")
    frame = tf.frame
    assert list(frame.columns) == [*spec().metric_names, "is_anomaly", "anomaly_kind"]
    assert len(frame) == 24 * 60
    assert str(frame.index.tz) == "UTC"
    assert (np.diff(frame.index.asi8) == 60 * 10**9).all()
    assert frame.index[-1] == pd.Timestamp(FIXED_END // 60 * 60, unit="s", tz="UTC")
    assert frame["is_anomaly"].dtype == bool
    assert all(frame[name].dtype == float for name in spec().metric_names)
    assert not frame[list(spec().metric_names)].isna().any().any()
    assert set(frame.loc[~frame["is_anomaly"], "anomaly_kind"]) == {""}


def test_same_seed_gives_the_same_frame_and_another_seed_does_not():
    first, again, other = synthetic(SEED="7"), synthetic(SEED="7"), synthetic(SEED="8")
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert first.provenance == again.provenance
    assert not np.allclose(first.frame["node_cpu_utilisation"], other.frame["node_cpu_utilisation"])


def test_anomaly_share_is_exact_and_events_span_several_points():
    tf = synthetic(ANOMALY_RATE="0.1", TRAINING_HOURS="168")
    frame = tf.frame
    assert frame["is_anomaly"].sum() == round(0.1 * len(frame))
    injected = tf.provenance["injected_anomalies"]
    assert injected["points"] == frame["is_anomaly"].sum()
    assert set(injected["by_kind"]) == {"spike", "drop", "level_shift", "slow_leak", "restart_storm"}
    runs = (frame["is_anomaly"] != frame["is_anomaly"].shift()).cumsum()[frame["is_anomaly"]]
    assert runs.value_counts().min() >= 3
    assert injected["events"] == runs.nunique()  # adjacent events never merge into one run


def test_a_short_window_holds_several_short_events_not_one_long_one():
    injected = synthetic(TRAINING_HOURS="24").provenance["injected_anomalies"]
    assert injected["points"] == round(0.05 * 24 * 60)
    assert injected["events"] >= 8
    assert max(event["points"] for event in injected["event_list"]) <= injected["points"] // 8


def test_anomalies_stand_out_from_normal_behaviour():
    frame = synthetic(TRAINING_HOURS="168").frame
    spikes = frame[frame["anomaly_kind"] == "spike"]
    normal = frame[~frame["is_anomaly"]]
    storms = frame[frame["anomaly_kind"] == "restart_storm"]
    assert spikes[["node_cpu_utilisation", "node_load_per_cpu", "pod_cpu_to_request_ratio"]].max(axis=1).mean() > normal[
        ["node_cpu_utilisation", "node_load_per_cpu", "pod_cpu_to_request_ratio"]
    ].quantile(0.99).min()
    assert storms["container_restarts_rate"].mean() > 5 * normal["container_restarts_rate"].mean()
    assert storms["container_restarts_rate"].min() > normal["container_restarts_rate"].quantile(0.999)  # many restarts, not a coincidence


def test_series_have_daily_and_weekly_cycles_in_registry_units():
    frame = synthetic("predictive-analytics").frame
    cpu = frame.loc[~frame["is_anomaly"], "node_cpu_utilisation"]
    by_hour = cpu.groupby(cpu.index.hour).mean()
    assert by_hour.idxmax() in range(12, 17) and by_hour.idxmin() in (*range(0, 5), *range(22, 24))
    weekend = cpu.index.dayofweek >= 5
    assert cpu[~weekend].mean() - cpu[weekend].mean() > 0.03
    # A weekend is a quiet weekday: its nights are as low as weekday nights, its values inside the weekday range.
    night = cpu.index.hour < 4
    assert abs(cpu[weekend & night].mean() - cpu[~weekend & night].mean()) < 0.02
    assert cpu[weekend].quantile(0.01) > cpu[~weekend].quantile(0.001)
    assert frame["node_cpu_utilisation"].between(0, 1).all()
    # A day-ago value predicts better than the mean: seasonality, not pure noise.
    day = 24 * 60
    assert np.mean((cpu.values[day:] - cpu.values[:-day]) ** 2) < np.var(cpu.values)


def test_bad_synthetic_hint_names_the_model_metric_and_key():
    broken = dataclasses.replace(
        spec(), metrics=(MetricSpec(name="cpu", query="up", synthetic={"baseline": "high"}),), features=("cpu",)
    )
    with pytest.raises(ConfigError, match=r"model 'anomaly-detector' metric 'cpu' .*`baseline` must be a number"):
        load_training_frame(broken, settings(DATA_SOURCE="synthetic"), end=FIXED_END)
    typo = dataclasses.replace(broken, metrics=(MetricSpec(name="cpu", query="up", synthetic={"dialy": 1}),))
    with pytest.raises(ConfigError, match="unknown key.*dialy"):
        load_training_frame(typo, settings(DATA_SOURCE="synthetic"), end=FIXED_END)


@pytest.mark.parametrize("key, value", [("baseline", float("nan")), ("noise", float("inf")), ("max", float("-inf"))])
def test_a_non_finite_synthetic_hint_is_refused(key, value):
    """YAML's .nan/.inf are floats: baseline .nan made an all-NaN column and exit 0."""
    broken = dataclasses.replace(
        spec(), metrics=(MetricSpec(name="cpu", query="up", unit="ratio", synthetic={key: value}),), features=("cpu",)
    )
    with pytest.raises(ConfigError, match=rf"metric 'cpu' synthetic hints: `{key}` must be a finite number"):
        load_training_frame(broken, settings(DATA_SOURCE="synthetic"), end=FIXED_END)


def test_guide_function_returns_fit_ready_features_with_provenance(monkeypatch):
    monkeypatch.setenv("MODEL_NAME", "your-model")  # the guide template's default: not in the registry
    data = generate_synthetic_data(hours=24)
    # The default detector is per node: one node's metrics a row (no label column to break fit), its node in attrs.
    assert list(data.columns) == list(spec().metric_names) and all(data[c].dtype == float for c in data.columns)
    assert len(data) == 6 * 24 * 60  # the registry's syntheticEntities
    assert sorted(set(data.attrs["entities"][:, 0])) == [f"worker-{n}" for n in range(1, 7)]
    assert data.attrs["provenance"]["model"] == "anomaly-detector"
    assert data.attrs["is_anomaly"].sum() == data.attrs["provenance"]["injected_anomalies"]["points"]
    forecaster = generate_synthetic_data(hours=24, model="predictive-analytics")
    assert list(forecaster.columns) == ["node_cpu_utilisation", "node_memory_utilisation"]
