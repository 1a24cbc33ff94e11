"""Features of an entity model's panel frame (ENTITY_CONTRACT, "Features and models"): every
feature comes from the entity's own history, so windows never cross from one node to the next."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelkit import features
from modelkit.errors import DataError

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
        pd.testing.assert_frame_equal(got, expected)
    # the second entity's first rows have no history yet: a window does not borrow the first entity's rows
    assert result[result["instance"] == "worker-2"]["cpu_delta_15m"].iloc[:15].isna().all()
    # a busy node is not unusual for being busy: its deviation from its own mean is as small as the quiet one's
    deviations = result.dropna().groupby("instance")["cpu_dev_1h"].apply(lambda d: d.abs().mean())
    assert deviations.max() < 0.02


def test_an_entity_whose_rows_skip_a_step_is_refused_by_name():
    broken = _entity("worker-2", "2026-01-05", 600, 0.5, 2).drop(pd.Timestamp("2026-01-05 03:00", tz="UTC"))
    with pytest.raises(DataError, match="worker-2.*03:00"):
        features.model_inputs(panel(_entity("worker-1", "2026-01-05", 600, 0.5, 1), broken), NAMES, MINUTE,
                              entity_columns=["instance"])

