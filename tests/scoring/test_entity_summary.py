"""`modelkit score`'s per-entity summary on a scored panel built by hand: alarms counted per entity
(a run never continues into the next entity's rows), and the noisiest entity named first."""

from __future__ import annotations

import pandas as pd

from modelkit.scoring.entity_summary import per_entity_summary


def scored_panel(flags: dict[str, list[bool]]) -> pd.DataFrame:
    parts = []
    for node, flagged in flags.items():
        index = pd.date_range("2026-01-01", periods=len(flagged), freq="60s", tz="UTC", name="timestamp")
        parts.append(pd.DataFrame({"instance": node, "score": [-0.2 if f else 0.1 for f in flagged], "flagged": flagged},
                                  index=index))
    return pd.concat(parts)


def test_alarms_per_entity_and_the_worst_first():
    # worker-1 ends flagged and worker-2 starts flagged: two alarms, not one run across entities.
    scored = scored_panel({"worker-1": [False] * 1438 + [True, True], "worker-2": [True] + [False] * 1438 + [True],
                           "worker-3": [False] * 1440})
    summary = per_entity_summary(scored, ("instance",), 60)
    per_entity = summary["per_entity"]
    assert {k: v["alarms"] for k, v in per_entity.items()} == {"worker-1": 1, "worker-2": 2, "worker-3": 0}
    assert per_entity["worker-2"]["alarms_per_day"] == 2.0 and per_entity["worker-2"]["flagged_rows"] == 2
    assert [w["entity"] for w in summary["worst_entities"]] == ["worker-2", "worker-1", "worker-3"]
    assert per_entity["worker-3"]["min_score"] == 0.1


def test_a_cluster_wide_model_has_no_per_entity_part():
    assert per_entity_summary(scored_panel({"x": [False, True]}).drop(columns="instance"), (), 60) == {}
