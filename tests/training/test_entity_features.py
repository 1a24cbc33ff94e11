"""An entity model's panel frame (ENTITY_CONTRACT, "Features and models"): every feature comes from
the entity's own history, alarms and events stay inside one entity, and the time split cuts every
entity at the same times."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelkit import features
from modelkit.errors import DataError
from modelkit.evaluation.anomaly import evaluate_flags, per_entity, worst_entities
from modelkit.evaluation import forecast_targets as ff
from modelkit.evaluation.events import runs
from modelkit.training.splits import split_by_time

MINUTE = 60
NAMES = ["cpu", "cpu_delta_15m", "cpu_dev_1h", "cpu_zscore_1h", "mem_delta_1h_1d_ago", "hour_of_day_sin"]


def _entity(name: str, start: str, rows: int, level: float, seed: int) -> pd.DataFrame:
    index = pd.date_range(start, periods=rows, freq="60s", tz="UTC", name="timestamp")
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"instance": name, "cpu": level + 0.01 * rng.standard_normal(rows),
                         "mem": np.arange(rows, dtype=float) * (seed + 1)}, index=index)


def panel(*entities: pd.DataFrame) -> pd.DataFrame:
    """A panel frame as the loader returns it: entity column first, rows by entity then time."""
    return pd.concat(entities)


def test_each_entity_gets_the_features_of_its_own_history():
    busy = _entity("worker-1", "2026-01-05", 3000, 0.9, 1)
    quiet = _entity("worker-2", "2026-01-05 06:00", 2400, 0.1, 2)  # added six hours later
    frame = panel(busy, quiet)
    result = features.model_inputs(frame, NAMES, MINUTE, entity_columns=["instance"])

    assert list(result.columns) == ["instance", *NAMES]
    assert (result.index == frame.index).all() and (result["instance"] == frame["instance"]).all()
    for alone in (busy, quiet):
        expected = features.model_inputs(alone.drop(columns="instance"), NAMES, MINUTE)
        got = result[result["instance"] == alone["instance"].iloc[0]][NAMES]
        pd.testing.assert_frame_equal(got, expected, check_freq=False)
    # the second entity's first rows have no history yet: a window does not borrow the first entity's rows
    assert result[result["instance"] == "worker-2"]["cpu_delta_15m"].iloc[:15].isna().all()
    # a busy node is not unusual for being busy: its deviation from its own mean is as small as the quiet one's
    deviations = result.dropna().groupby("instance")["cpu_dev_1h"].apply(lambda d: d.abs().mean())
    assert deviations.max() < 0.02


def test_an_entity_whose_rows_skip_a_step_is_refused_by_name():
    broken = _entity("worker-2", "2026-01-05", 600, 0.5, 2).drop(pd.Timestamp("2026-01-05 03:00", tz="UTC"))
    with pytest.raises(DataError, match="worker-2.*02:59.*03:01"):
        features.model_inputs(panel(_entity("worker-1", "2026-01-05", 600, 0.5, 1), broken), NAMES, MINUTE,
                              entity_columns=["instance"])



def test_an_alarm_or_event_never_spans_two_entities_and_rates_are_per_entity_day():
    entities = np.array(["worker-1"] * 1440 + ["worker-2"] * 1440, dtype=object)
    flags = np.zeros(2880, dtype=bool)
    flags[1438:1442] = True  # the last minutes of worker-1 and the first of worker-2: two alarms
    labels = np.zeros(2880, dtype=bool)
    labels[1430:1450] = True  # one labelled run in each entity
    assert runs(flags, entities) == [(1438, 1440), (1440, 1442)] and runs(flags) == [(1438, 1442)]
    metrics = evaluate_flags(labels, flags, MINUTE, entities)
    assert (metrics["events"], metrics["alarms"], metrics["evaluated_days"]) == (2, 2, 2.0)
    untouched = np.zeros(2880, dtype=bool)
    untouched[[100, 200, 300, 2000]] = True  # worker-1: 3 false alarms in its day, worker-2: 1
    report = per_entity(entities, labels, flags, untouched, MINUTE)
    assert report["worker-1"]["false_alarms_per_day"] == 3.0 and report["worker-2"]["event_recall"] == 1.0
    assert [w["entity"] for w in worst_entities(report)] == ["worker-1", "worker-2"]


def test_a_panel_is_split_at_the_same_times_for_every_entity():
    early = _entity("worker-1", "2026-01-05", 3000, 0.5, 1)
    late = _entity("worker-2", "2026-01-05 10:00", 2400, 0.5, 2)  # joined the fleet later
    split = split_by_time(panel(early, late), panel=True)
    for part, following in ((split.train, split.validation), (split.validation, split.test)):
        assert part.index.max() < following.index.min()
        assert set(part["instance"]) == {"worker-1", "worker-2"}
    assert len(split.train) + len(split.validation) + len(split.test) == 5400


def test_forecast_targets_and_baselines_stay_inside_each_entity():
    frame = panel(_entity("worker-1", "2026-01-05", 3000, 0.9, 1), _entity("worker-2", "2026-01-05", 3000, 0.1, 2))
    targets = ff.build_targets(frame, ("cpu", "mem"), 60, MINUTE, ["instance"])
    for name, part in targets.groupby("instance"):
        alone = frame[frame["instance"] == name]
        assert part["cpu_change_60m"].iloc[-60:].isna().all()  # no future borrowed from the next entity
        assert part["mem_change_60m"].iloc[0] == alone["mem"].iloc[60] - alone["mem"].iloc[0]
    seasonal = ff.seasonal_naive_change(frame, ("cpu",), 60, MINUTE, entity_columns=["instance"])
    assert seasonal[seasonal["instance"] == "worker-2"]["cpu"].iloc[:1380].isna().all()
