"""The real-data bench's "oracle threshold" row: the best single threshold on the scored rows within the
false-alarm limit (an upper bound on what calibration could reach), never one over the limit, and the most
windows any one threshold within the limit finds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_real_data as bench  # noqa: E402

STEP = 300
ROWS_PER_DAY = 86400 // STEP


def limits(per_day: float, time_share: float = 0.05) -> dict:
    return {"per_day": per_day, "time_share": time_share}


def series(days: int, windows: list[tuple[int, int]]) -> bench.Series:
    """A series whose first TRAIN_SHARE is padding (the oracle reads only the rest), with labelled windows
    at row positions of the scored rest."""
    scored = days * ROWS_PER_DAY
    total = int(np.ceil(scored / (1 - bench.TRAIN_SHARE))) + 1
    train = int(total * bench.TRAIN_SHARE)
    labels = np.zeros(total, dtype=bool)
    for start, end in windows:
        labels[train + start : train + end] = True
    index = pd.date_range("2026-01-01", periods=total, freq=f"{STEP}s", tz="UTC")
    return bench.Series("synthetic", pd.DataFrame({bench.METRIC: 0.0}, index=index), labels, STEP)


def test_the_oracle_flags_what_ranks_highest_without_passing_the_false_alarm_limit():
    s = series(4, [(100, 130), (600, 630)])
    rest = len(s.frame) - s.train_rows
    anomaly = np.random.default_rng(0).uniform(0, 1, rest)
    anomaly[110] = anomaly[610] = 5.0  # each window holds the two highest scores
    anomaly[[900, 1000, 1050]] = [3.0, 2.9, 2.8]  # three normal points rank next: 3 false alarms in 4 days
    best = bench.oracle_threshold(s, anomaly, limits(1.0))
    assert best["events_detected"] == 2 and best["false_alarms"] <= 4
    assert best["event_f1"] > 0.5
    strict = bench.oracle_threshold(s, anomaly, limits(0.1))  # allows no false alarm in 4 days
    assert strict["false_alarms"] == 0 and strict["events_detected"] == 2 and strict["event_f1"] == 1.0
    assert best["most_windows"] == strict["most_windows"] == 2


def test_most_windows_may_cost_false_alarms_the_best_f1_avoids_but_never_more_than_the_limit():
    s = series(4, [(100, 130), (600, 630)])
    rest = len(s.frame) - s.train_rows
    anomaly = np.random.default_rng(1).uniform(0, 1, rest)
    anomaly[110] = 5.0  # the first window holds the highest score
    anomaly[[900, 1000, 1050]] = [3.0, 2.9, 2.8]  # three normal points rank next
    anomaly[610] = 2.5  # the second window only below them: finding it costs 3 false alarms in 4 days
    best = bench.oracle_threshold(s, anomaly, limits(1.0))
    assert best["events_detected"] == 1 and best["false_alarms"] == 0  # F1 2/3 beats 2 windows at 3 false alarms (4/7)
    assert best["most_windows"] == 2
    assert bench.oracle_threshold(s, anomaly, limits(0.5))["most_windows"] == 1  # 2 false alarms in 4 days at most


def test_without_a_threshold_within_the_limit_the_oracle_flags_nothing():
    s = series(2, [(100, 110)])
    rest = len(s.frame) - s.train_rows
    anomaly = np.zeros(rest)
    anomaly[::20] = 1.0  # every high score is a false alarm: any threshold that flags anything is over 1 a day
    best = bench.oracle_threshold(s, anomaly, limits(1.0))
    assert best["alarms"] == 0 and best["events_detected"] == 0 and best["most_windows"] == 0


def test_an_alarm_that_lasts_for_days_is_not_a_ceiling_the_oracle_reaches():
    s = series(4, [(100, 130), (600, 630)])
    rest = len(s.frame) - s.train_rows
    anomaly = np.random.default_rng(2).uniform(0, 1, rest)
    anomaly[:400] = 2.0  # one run over the first 1.4 days, the first window inside it
    anomaly[600:630] = 0.0  # the second window scores lowest of all
    # That run touches a window and counts no false alarm, but flags a third of the normal rows.
    assert bench.oracle_threshold(s, anomaly, limits(1.0, time_share=1.0))["most_windows"] == 1
    capped = bench.oracle_threshold(s, anomaly, limits(1.0, time_share=0.05))
    assert capped["most_windows"] == 0 and capped["alarms"] == 0
