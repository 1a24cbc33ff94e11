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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..registry import ModelSpec
from ..settings import Settings, source_and_hours
from ..training.events import runs
from . import anomalies
from .file_source import read_metrics_table, training_values, training_window
from .grid import TimeGrid, make_grid
from .hints import metric_hints
from .mixing import BLOCK_KIND, block_pieces, labelled, splice_synthetic_blocks
from .prometheus import PrometheusClient, Progress
from .quality import check_training_values
from .real import FILE, PROMETHEUS, SYNTHETIC, fetch_real_values
from .synthetic import synthetic_values

REAL_SHARE = {"prometheus": 0.8, "hybrid": 0.5, "file": 0.8}
LABELLED_KIND = "labelled"  # anomaly_kind of the rows a file labels
INJECTED_ANOMALY_SHARE = 0.2
ANOMALY_STREAM, PLACEMENT_STREAM = 2, 3


@dataclass
class TrainingFrame:
    frame: pd.DataFrame  # metric columns (float), is_anomaly (bool), anomaly_kind (str)
    provenance: dict[str, Any]
    row_source: pd.Series  # per row: "prometheus" (untouched real value) or "synthetic"
    untouched: pd.DataFrame  # metric columns before any splice or injection: the real (or clean synthetic) values
    labels_from_data: bool = False  # is_anomaly are the data's own labels (a labelled file): real incidents, nothing injected

    @property
    def features(self) -> pd.DataFrame:
        return self.frame.drop(columns=["is_anomaly", "anomaly_kind"])


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
        table = read_metrics_table(settings.data_file, spec.metric_names, settings.prometheus_step_seconds)
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
    real, labels = None, None
    if table is not None:
        provenance["file"] = {**table.describe(), "window_clipped": clipped}
        real, labels = training_values(table, grid, provenance)
    elif source != SYNTHETIC:
        real = fetch_real_values(spec, settings, source, grid, client, progress, provenance)
    real_source = FILE if table is not None else PROMETHEUS
    if real is None:
        values = synthetic_values(spec, grid, settings.seed)
        row_source = np.full(grid.points, SYNTHETIC, dtype=object)
        pieces = _anomaly_pieces(round(settings.anomaly_rate * grid.points), hints, settings.seed)
        share_note = f"synthetic rows; {settings.anomaly_rate:.0%} of rows inside injected anomaly events (ANOMALY_RATE)"
    elif labels is not None:
        values, pieces = real, []
        row_source = np.full(grid.points, real_source, dtype=object)
        share_note = "100% untouched rows of the file; is_anomaly is the file's own labels (nothing injected)"
    else:
        values = real
        row_source = np.full(grid.points, real_source, dtype=object)
        synthetic_rows = grid.points - round(REAL_SHARE[source] * grid.points)
        anomaly_rows = round(INJECTED_ANOMALY_SHARE * grid.points)
        pieces = _anomaly_pieces(anomaly_rows, hints, settings.seed) + block_pieces(synthetic_rows - anomaly_rows, grid)
        share_note = f"{REAL_SHARE[source]:.0%} untouched real rows, {INJECTED_ANOMALY_SHARE:.0%} rows inside injected anomaly events"
        if synthetic_rows > anomaly_rows:
            share_note += f", {1 - REAL_SHARE[source] - INJECTED_ANOMALY_SHARE:.0%} rows in spliced synthetic blocks"
    provenance["input_checks"] = check_training_values(values, spec, SYNTHETIC if real is None else source, provenance["window"])
    untouched = values.astype(float)
    placement_rng = np.random.default_rng([settings.seed, PLACEMENT_STREAM])
    segments = anomalies.place(pieces, grid.points, placement_rng)
    blocks = [s for s in segments if s.kind == BLOCK_KIND]
    if blocks:
        splice_synthetic_blocks(values, synthetic_values(spec, grid, settings.seed), blocks, hints)
    events = [s for s in segments if s.kind != BLOCK_KIND]
    records = anomalies.inject(values, events, hints, np.random.default_rng([settings.seed, ANOMALY_STREAM]))
    frame = labelled(values, events)
    if labels is not None:
        frame["is_anomaly"] = labels.to_numpy()
        frame["anomaly_kind"] = np.where(labels.to_numpy(), LABELLED_KIND, "").astype(object)
    for segment in segments:
        row_source[segment.start : segment.stop] = SYNTHETIC
    used = sorted(set(row_source))
    provenance.update(
        used_sources=used,
        real_data=real_source in used,
        mix=share_note,
        rows_per_source={name: int((row_source == name).sum()) for name in (real_source, SYNTHETIC)},
        injected_anomalies=_describe_events(records, grid, frame if labels is None else labelled(values, [])),
    )
    if labels is not None:
        provenance["labelled_events"] = {"events": len(runs(labels.to_numpy())), "points": int(labels.sum())}
    return TrainingFrame(frame=frame, provenance=provenance, row_source=pd.Series(row_source, index=frame.index, name="source"),
                         untouched=untouched, labels_from_data=labels is not None)


def _anomaly_pieces(points: int, hints: dict, seed: int) -> list[tuple[str, int]]:
    kinds = anomalies.available_kinds(hints)
    if not kinds or points <= 0:
        return []
    return anomalies.lengths_summing_to(points, kinds, np.random.default_rng([seed, ANOMALY_STREAM, 0]))


def _describe_events(records: list[dict], grid: TimeGrid, frame: pd.DataFrame) -> dict[str, Any]:
    points = int(frame["is_anomaly"].sum())
    by_kind: dict[str, int] = {}
    for record in records:
        by_kind[record["kind"]] = by_kind.get(record["kind"], 0) + 1
        record["start"] = frame.index[record["start"]].isoformat()
    return {"events": len(records), "points": points, "share": round(points / grid.points, 6), "by_kind": by_kind, "event_list": records}

