"""The notebooks' training-window figure draws an entity model's panel one line per entity."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from modelkit.training import plots  # noqa: E402


def panel(entities: int, rows: int = 60, labelled: dict[str, int] | None = None) -> pd.DataFrame:
    index = pd.date_range("2026-03-01", periods=rows, freq="60s", tz="UTC", name="timestamp")
    parts = []
    for n in range(entities):
        key = f"node-{n}"
        is_anomaly = np.zeros(rows)
        is_anomaly[: (labelled or {}).get(key, 0)] = 1.0
        parts.append(pd.DataFrame({"instance": key, "cpu": np.linspace(0, 1, rows) + n, "is_anomaly": is_anomaly}, index=index))
    return pd.concat(parts)


def test_each_entity_is_its_own_line_those_with_labelled_anomalies_first():
    figure = plots.training_data(panel(8, labelled={"node-6": 9, "node-2": 4}), ["cpu"], "window", ["instance"])
    axis = figure.axes[0]
    assert len(axis.lines) == plots.MAX_DRAWN_ENTITIES
    for line in axis.lines:  # one entity's timeline: time never runs backwards within a line
        assert np.all(np.diff(matplotlib.dates.date2num(line.get_xdata())) > 0)
    legend = axis.get_legend()
    assert [t.get_text() for t in legend.get_texts()][:2] == ["node-6", "node-2"]
    assert legend.get_title().get_text().startswith(f"{plots.MAX_DRAWN_ENTITIES} of 8 entities")


def test_a_cluster_wide_frame_is_one_line_with_its_labelled_rows_shaded():
    frame = panel(1, labelled={"node-0": 5}).drop(columns="instance")
    axis = plots.training_data(frame, ["cpu"], "window").axes[0]
    assert len(axis.lines) == 1 and axis.get_legend() is None
    assert len(axis.patches) == 1  # the one labelled run
