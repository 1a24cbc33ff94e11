"""`load_training_frame`: the one call a training notebook makes to get its data.

What the data-source percentages mean, for a frame of N rows on the grid:
  synthetic   every row generated; ANOMALY_RATE x N rows lie inside labelled anomaly events.
  prometheus  80 % of rows are real values exactly as Prometheus returned them; the
              other 20 % are rows of the same real timeline changed by injected, labelled
              anomaly events (so 20 % of rows are labelled anomalies).
  hybrid      50 % of rows are untouched real values; the other 50 % are synthetic:
              20 % of rows inside injected anomaly events (as in prometheus) and 30 % in
              blocks of synthetic normal behaviour spliced into the real timeline, offset
              to meet the real values at both ends.
Shares are exact to the row (round(share x N)). Untouched real rows are listed per
source in the provenance and in `TrainingFrame.row_source`.

Missing metrics and the fallback policy: see real.py. Metrics no model can learn from
(constant, nearly constant, almost always one value, all gaps) are refused before
anomalies are injected: see quality.py.

A per-entity model (registry `entity:`) gets a panel frame, one timeline per entity with these
shares each: see panel.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from ..entities import is_entity_model
from ..registry import ModelSpec
from ..settings import Settings, source_and_hours
from .grid import make_grid
from .hints import metric_hints
from .panel import load_panel_frame
from .prometheus import PrometheusClient, Progress
from .quality import check_training_values
from .real import PROMETHEUS, SYNTHETIC, fetch_real_values
from .synthetic import synthetic_values
from .timeline import TrainingFrame, anomaly_pieces, describe_events, mix, real_pieces, share_note

__all__ = ["TrainingFrame", "load_training_frame"]


def load_training_frame(
    spec: ModelSpec,
    settings: Settings,
    *,
    end: datetime | float | None = None,
    client: PrometheusClient | None = None,
    progress: Progress | None = None,
) -> TrainingFrame:
    source, hours = source_and_hours(settings, spec)
    grid = make_grid(hours, settings.prometheus_step_seconds, settings.data_end if end is None else end)
    hints = {m.name: metric_hints(m, spec.name) for m in spec.metrics}
    provenance: dict[str, Any] = {
        "model": spec.name,
        "requested_source": source,
        "hours": hours,
        "window": grid.describe(),
        "seed": settings.seed,
        "fallbacks": [],
        "gaps_filled": {},
    }
    if is_entity_model(spec):
        return load_panel_frame(spec, settings, source, grid, hints, provenance, client, progress)
    real = None
    if source != SYNTHETIC:
        real = fetch_real_values(spec, settings, source, grid, client, progress, provenance)
    if real is None:
        values = synthetic_values(spec, grid, settings.seed)
        pieces = anomaly_pieces(round(settings.anomaly_rate * grid.points), hints, settings.seed)
    else:
        values = real
        pieces = real_pieces(grid.points, source, hints, settings.seed, grid.step_seconds)
    provenance["input_checks"] = check_training_values(values, spec, SYNTHETIC if real is None else source, provenance["window"])
    untouched = values.astype(float)
    mixed = mix(values, pieces, hints, settings.seed, lambda: synthetic_values(spec, grid, settings.seed), real=real is not None)
    used = sorted(set(mixed.row_source))
    provenance.update(
        used_sources=used,
        real_data=PROMETHEUS in used,
        mix=share_note(None if real is None else source, settings.anomaly_rate, grid.points),
        rows_per_source={name: int((mixed.row_source == name).sum()) for name in (PROMETHEUS, SYNTHETIC)},
        injected_anomalies=describe_events(mixed.records, mixed.frame),
    )
    return TrainingFrame(frame=mixed.frame, provenance=provenance,
                         row_source=pd.Series(mixed.row_source, index=mixed.frame.index, name="source"), untouched=untouched)
