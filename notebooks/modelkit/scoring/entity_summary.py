"""The per-entity part of `modelkit score`'s summary for a per-entity model: for each entity its rows,
alarms (runs of flagged rows, as training counts them) and alarms per day, its lowest score, and
the entities with the most alarms per day first (`worst_entities`), which is where an SRE looks.

`scored` is score_values' output for a panel: the entity label columns, then score and flagged,
rows grouped by entity in time order, on the grid of `step_seconds`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..entities import entity_key
from ..evaluation.anomaly import SECONDS_PER_DAY
from ..evaluation.events import runs

WORST_SHOWN = 5


def per_entity_summary(scored: pd.DataFrame, entity: tuple[str, ...], step_seconds: int) -> dict[str, Any]:
    if not entity or "flagged" not in scored.columns:
        return {}
    per_entity = {}
    for values, part in scored.groupby(list(entity), sort=True):
        days = len(part) * step_seconds / SECONDS_PER_DAY
        alarms = len(runs(part["flagged"].to_numpy(dtype=bool)))
        per_entity[entity_key(values if isinstance(values, tuple) else (values,))] = {
            "rows": len(part), "alarms": alarms, "alarms_per_day": round(alarms / days, 3) if days else None,
            "flagged_rows": int(part["flagged"].sum()), "min_score": float(np.min(part["score"])),
            "first": part.index.min().isoformat(), "last": part.index.max().isoformat()}
    worst = sorted(per_entity, key=lambda key: (-(per_entity[key]["alarms_per_day"] or 0), per_entity[key]["min_score"]))
    return {"per_entity": per_entity,
            "worst_entities": [{"entity": key, **{k: per_entity[key][k] for k in ("alarms", "alarms_per_day", "min_score")}}
                               for key in worst[:WORST_SHOWN]]}
