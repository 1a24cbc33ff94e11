"""PSI against reference quantiles, forecasts settled against the actual values, alarm runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelkit.evaluation import drift
from modelkit.scoring.online_quality import AlarmCounter, ForecastLedger


def reference_of(values: np.ndarray) -> dict:
    return drift.reference_quantiles(pd.DataFrame({"x": values}))["x"]


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift_whatever_the_sample_size():
    rng = np.random.default_rng(3)
    reference = reference_of(rng.normal(0.5, 0.1, 10_000))
    assert reference["shares"] == pytest.approx([0.1] * 10, abs=0.002)
    for rows in (1440, 100_000):  # PSI is an effect size: more rows do not make the same data "drifted"
        assert drift.psi(reference, rng.normal(0.5, 0.1, rows)) < 0.02
    assert drift.psi(reference, rng.normal(0.5 + 0.02, 0.1, 100_000)) < 0.1  # a tiny shift stays small on a large sample
    assert drift.psi(reference, rng.normal(0.65, 0.1, 1440)) > drift.DEFAULT_THRESHOLD  # 1.5 standard deviations: drifted
    assert drift.psi(reference, rng.normal(0.5, 0.1, 100)) is None  # too few rows to judge


def test_a_mostly_zero_counter_gets_merged_bins_and_the_same_rule_at_scoring():
    rng = np.random.default_rng(4)
    training = np.where(rng.random(5000) < 0.8, 0.0, rng.exponential(0.01, 5000))
    reference = reference_of(training)
    assert reference["edges"][0] == 0 and len(reference["edges"]) < 9  # the zero deciles merged
    assert sum(reference["shares"]) == pytest.approx(1, abs=1e-5) and reference["shares"][0] == pytest.approx(0.8, abs=0.02)
    assert drift.psi(reference, np.where(rng.random(1440) < 0.8, 0.0, rng.exponential(0.01, 1440))) < 0.05
    assert drift.psi(reference, rng.exponential(0.05, 1440)) > drift.DEFAULT_THRESHOLD  # a restart storm


def test_forecasts_are_judged_once_their_horizon_has_passed_against_last_value():
    ledger = ForecastLedger()
    ledger.add(target_time=3600, forecast=1.5, last_value=1.0)
    ledger.add(target_time=3660, forecast=2.0, last_value=1.0)
    ledger.settle({3600: 1.6}, newest_time=3600)  # the second is not due yet
    assert ledger.mean_errors(3600, now=3600) == pytest.approx((0.1, 0.6))
    ledger.settle({}, newest_time=3700)  # the scorer missed 3660: that forecast is dropped, not guessed
    assert len(ledger.pending) == 0 and ledger.mean_errors(3600, now=3700) == pytest.approx((0.1, 0.6))
    assert ledger.mean_errors(3600, now=3600 + 3600) is None  # outside the 1 h window


def test_alarms_are_runs_of_flagged_rows_and_a_rate_needs_an_hour_of_watching():
    counter = AlarmCounter(gap_seconds=60)
    flags = [0, 1, 1, 1, 0, 0, 1, 0] + [0] * 60
    for minute, flag in enumerate(flags):
        counter.record(minute * 60.0, bool(flag))
        if minute == 30:
            assert counter.per_day(86400, now=minute * 60.0) is None
    now = (len(flags) - 1) * 60.0
    assert counter.per_day(86400, now=now) == pytest.approx(2 * 86400 / now)


def test_the_demo_ends_with_one_scorer_cycle_labelled_synthetic(models, monkeypatch, capsys):
    from modelkit.lifecycle.demo import show_scorer_cycle

    monkeypatch.setenv("MODELKIT_REGISTRY", str(models.registry))
    show_scorer_cycle(models.root)
    out = capsys.readouterr().out
    assert "SYNTHETIC window" in out and 'modelkit_scoring_input_source{source="synthetic"} 1.0' in out
    # the default detector is per node: one flag per synthetic node
    assert all(f'modelkit_anomaly_flag{{entity="worker-{n}",instance="worker-{n}",model="anomaly-detector",version="v1"}}' in out
               for n in range(1, 7))
    assert 'modelkit_forecast{horizon_minutes="60",metric="node_cpu_utilisation",model="predictive-analytics",version="v1"}' in out
