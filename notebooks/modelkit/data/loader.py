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
  file        the rows of the user's file (DATA_FILE, file_source.py). With an `is_anomaly`
              column its labels judge the detector and nothing is injected (every row
              untouched, `labels_from_data`); without one, as prometheus: 80 % untouched
              rows of the file, 20 % rows inside injected, labelled events.
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
from .file_source import read_metrics_table, training_values, training_window
from .grid import make_grid
from .hints import metric_hints
from .panel import load_panel_frame
from .prometheus import PrometheusClient, Progress
from .quality import check_training_values
from .real import FILE, SYNTHETIC, fetch_real_values, kept_grid
from .synthetic import synthetic_values
from .timeline import (TrainingFrame, anomaly_pieces, describe_events, describe_labels, mix, real_pieces, real_row_source,
                       share_note)

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
    end = settings.data_end if end is None else end
    table = clipped = None
    if source == FILE:
        table = read_metrics_table(settings.data_file, spec.metric_names, settings.prometheus_step_seconds, tuple(spec.entity))
        grid, clipped = training_window(table, hours, settings.prometheus_step_seconds, end)
    else:
        grid = make_grid(hours, settings.prometheus_step_seconds, end)
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
    if table is not None:
        provenance["file"] = {**table.describe(), "window_clipped": clipped}
    if is_entity_model(spec):
        return load_panel_frame(spec, settings, source, grid, hints, provenance, client, progress, table)
    real = labels = None
    if table is not None:
        real, labels = training_values(table, grid, provenance)
    elif source != SYNTHETIC:
        real = fetch_real_values(spec, settings, source, grid, client, progress, provenance)
        if real is not None:
            grid = kept_grid(real, grid)
            provenance["window"] = grid.describe()
    if real is None:
        values = synthetic_values(spec, grid, settings.seed)
        pieces = anomaly_pieces(round(settings.anomaly_rate * grid.points), hints, settings.seed)
    else:
        values = real
        pieces = [] if labels is not None else real_pieces(grid.points, source, hints, settings.seed, grid.step_seconds)
    provenance["input_checks"] = check_training_values(values, spec, SYNTHETIC if real is None else source, provenance["window"])
    untouched = values.astype(float)
    real_rows = SYNTHETIC if real is None else real_row_source(source)
    mixed = mix(values, pieces, hints, settings.seed, lambda: synthetic_values(spec, grid, settings.seed),
                untouched_source=real_rows, labels=labels)
    used = sorted(set(mixed.row_source))
    provenance.update(
        used_sources=used,
        real_data=real_row_source(source) in used,
        mix=share_note(None if real is None else source, settings.anomaly_rate, grid.points, labelled=labels is not None),
        rows_per_source={name: int((mixed.row_source == name).sum()) for name in (real_row_source(source), SYNTHETIC)},
        injected_anomalies=describe_events(mixed.records, mixed.frame, labels_from_data=labels is not None),
    )
    if labels is not None:
        provenance["labelled_events"] = describe_labels([labels])
    return TrainingFrame(frame=mixed.frame, provenance=provenance,
                         row_source=pd.Series(mixed.row_source, index=mixed.frame.index, name="source"), untouched=untouched,
                         labels_from_data=labels is not None)
