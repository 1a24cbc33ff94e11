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
from .file_source import entity_series, read_metrics_table, training_values, training_window
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
    entity = tuple(getattr(spec, "entity", ()))  # ModelSpec.entity (ENTITY_CONTRACT.md); () = cluster-wide
    table = clipped = None
    if source == FILE:
        table = read_metrics_table(settings.data_file, spec.metric_names, settings.prometheus_step_seconds, entity)
        grid, clipped = training_window(table, hours, settings.prometheus_step_seconds, end)
    else:
        grid = make_grid(hours, settings.prometheus_step_seconds, end)
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
        if entity:
            return _entity_file_frame(spec, settings, table, grid, provenance)
        real, labels = training_values(table, grid, provenance)
    else:
        real, labels = (None if source == SYNTHETIC else fetch_real_values(spec, settings, source, grid, client, progress, provenance)), None
    mixed = _mix(spec, settings, source, grid, real, labels, settings.seed)
    provenance["input_checks"] = check_training_values(mixed.values_checked, spec, mixed.checked_as, provenance["window"])
    provenance.update(mixed.describe(grid))
    return TrainingFrame(frame=mixed.frame, provenance=provenance, row_source=pd.Series(mixed.row_source, index=mixed.frame.index, name="source"),
                         untouched=mixed.untouched, labels_from_data=labels is not None)


@dataclass
class _Mixed:
    """One series' frame: values, injected events and spliced blocks, and where each row came from."""
    frame: pd.DataFrame
    untouched: pd.DataFrame
    row_source: np.ndarray
    records: list[dict]
    share_note: str
    real_source: str
    labels: pd.Series | None
    values_checked: pd.DataFrame  # the values before injection, for the input checks
    checked_as: str

    def describe(self, grid: TimeGrid) -> dict[str, Any]:
        used = sorted(set(self.row_source))
        described = {
            "used_sources": used,
            "real_data": self.real_source in used,
            "mix": self.share_note,
            "rows_per_source": {name: int((self.row_source == name).sum()) for name in (self.real_source, SYNTHETIC)},
            "injected_anomalies": _describe_events(self.records, grid, self.frame if self.labels is None else
                                                   self.frame.assign(is_anomaly=False)),
        }
        if self.labels is not None:
            described["labelled_events"] = {"events": len(runs(self.labels.to_numpy())), "points": int(self.labels.sum())}
        return described


def _mix(spec: ModelSpec, settings: Settings, source: str, grid: TimeGrid, real: pd.DataFrame | None,
         labels: pd.Series | None, seed: int) -> _Mixed:
    """The frame of one series on `grid` by the data-source rule (module docstring); `seed`: its random streams."""
    hints = {m.name: metric_hints(m, spec.name) for m in spec.metrics}
    real_source = FILE if source == FILE else PROMETHEUS
    if real is None:
        values = synthetic_values(spec, grid, seed)
        row_source = np.full(grid.points, SYNTHETIC, dtype=object)
        pieces = _anomaly_pieces(round(settings.anomaly_rate * grid.points), hints, seed)
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
        pieces = _anomaly_pieces(anomaly_rows, hints, seed) + block_pieces(synthetic_rows - anomaly_rows, grid)
        share_note = f"{REAL_SHARE[source]:.0%} untouched real rows, {INJECTED_ANOMALY_SHARE:.0%} rows inside injected anomaly events"
        if synthetic_rows > anomaly_rows:
            share_note += f", {1 - REAL_SHARE[source] - INJECTED_ANOMALY_SHARE:.0%} rows in spliced synthetic blocks"
    untouched = values.astype(float)
    placement_rng = np.random.default_rng([seed, PLACEMENT_STREAM])
    segments = anomalies.place(pieces, grid.points, placement_rng)
    blocks = [s for s in segments if s.kind == BLOCK_KIND]
    if blocks:
        splice_synthetic_blocks(values, synthetic_values(spec, grid, seed), blocks, hints)
    events = [s for s in segments if s.kind != BLOCK_KIND]
    records = anomalies.inject(values, events, hints, np.random.default_rng([seed, ANOMALY_STREAM]))
    frame = labelled(values, events)
    if labels is not None:
        frame["is_anomaly"] = labels.to_numpy()
        frame["anomaly_kind"] = np.where(labels.to_numpy(), LABELLED_KIND, "").astype(object)
    for segment in segments:
        row_source[segment.start : segment.stop] = SYNTHETIC
    return _Mixed(frame, untouched, row_source, records, share_note, real_source, labels, untouched,
                  SYNTHETIC if real is None else source)


def _entity_file_frame(spec: ModelSpec, settings: Settings, table, grid: TimeGrid, provenance: dict[str, Any]) -> TrainingFrame:
    """The panel frame of ENTITY_CONTRACT.md from a file: each entity's rows from its first to its last
    sample inside the window, mixed by the file rule on their own (injected events hit one entity)."""
    frames, untouched, sources, per_entity = [], [], [], {}
    for number, (key, label_values, part, part_labels) in enumerate(entity_series(table, grid)):
        part_grid = TimeGrid(end_seconds=int(part.index[-1].timestamp()), step_seconds=grid.step_seconds, points=len(part))
        filled: dict[str, Any] = {}
        part, part_labels = training_values(table, part_grid, filled, values=part, labels=part_labels, entity=key)
        seed = int(np.random.SeedSequence([settings.seed, number]).generate_state(1)[0])
        mixed = _mix(spec, settings, FILE, part_grid, part, part_labels, seed)
        columns = dict(zip(table.entity, label_values))
        frames.append(mixed.frame.assign(**columns)[[*table.entity, *mixed.frame.columns]])
        untouched.append(mixed.untouched.assign(**columns)[[*table.entity, *mixed.untouched.columns]])
        sources.append(mixed.row_source)
        per_entity[key] = {"rows": len(part), "first": part.index[0].isoformat(), "last": part.index[-1].isoformat(),
                           "gaps_filled": filled["gaps_filled"], "fallbacks": [], **mixed.describe(part_grid)}
    frame, clean, row_source = pd.concat(frames), pd.concat(untouched), np.concatenate(sources)
    provenance["input_checks"] = check_training_values(clean, spec, FILE, provenance["window"])
    provenance["gaps_filled"] = {name: sum(e["gaps_filled"][name] for e in per_entity.values()) for name in spec.metric_names}
    events = [{**record, "entity": key} for key, e in per_entity.items() for record in e["injected_anomalies"]["event_list"]]
    points = sum(e["injected_anomalies"]["points"] for e in per_entity.values())
    provenance.update(
        used_sources=sorted(set(row_source)),
        real_data=True,
        mix=mixed.share_note + ", per entity",
        rows_per_source={name: int((row_source == name).sum()) for name in (FILE, SYNTHETIC)},
        injected_anomalies={"events": len(events), "points": points, "share": round(points / len(frame), 6),
                            "by_kind": {kind: sum(1 for e in events if e["kind"] == kind) for kind in sorted({e["kind"] for e in events})},
                            "event_list": events},
        entities={"labels": list(table.entity), "count": len(per_entity), "per_entity": per_entity},
    )
    if table.labels is not None:
        provenance["labelled_events"] = {name: sum(e["labelled_events"][name] for e in per_entity.values()) for name in ("events", "points")}
    return TrainingFrame(frame=frame, provenance=provenance, row_source=pd.Series(row_source, index=frame.index, name="source"),
                         untouched=clean, labels_from_data=table.labels is not None)


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

