"""The panel training frame of a per-entity model (registry `entity:`): one timeline per entity.

The frame is long (modelkit/entities.py): entity label columns, metric columns, is_anomaly,
anomaly_kind; rows sorted by the entity labels, then time; an entity has rows from its first to
its last sample in the window. Each entity's rows are mixed as a cluster-wide window is
(timeline.py; shares exact to that entity's rows), with its own random streams:

  synthetic   N entities (SYNTHETIC_ENTITIES, else the registry's syntheticEntities), each with
              its own baseline; ANOMALY_RATE of each entity's rows lie inside labelled events.
              FLEET_EVENT_SHARE of those are fleet-wide events, at the same timestamps in every
              entity (a bad rollout, a network partition); the rest hit one entity at a time.
  prometheus  each entity's rows: 80 % untouched real, 20 % inside events injected into that
  hybrid      entity alone (hybrid: 50 % real, 20 % events, 30 % spliced synthetic blocks).
  file        the entities of the file's entity columns, each from its first to its last sample in
              the window: labelled, its own labels and nothing injected; unlabelled, as prometheus.

Events change the `group` metrics only: a `broadcast` metric is one cluster-level value, the same
for every entity, and an event of one entity does not move it. The provenance adds `entities`:
labels, count and per entity its rows, first/last timestamp, gaps filled and fallbacks.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..registry import BROADCAST, ModelSpec
from ..settings import Settings, synthetic_entity_count
from . import anomalies
from .anomalies import Segment
from .file_source import MetricsFile, entity_series, training_values
from .grid import TimeGrid
from .prometheus import PrometheusClient, Progress
from .quality import check_panel_values
from .real import SYNTHETIC, EntityRows, fetch_real_panel
from .synthetic import synthetic_entity_labels, synthetic_values
from .timeline import (PLACEMENT_STREAM, Mixed, TrainingFrame, anomaly_pieces, describe_events, describe_labels, mix, real_pieces,
                       real_row_source, share_note)

FLEET_EVENT_SHARE = 0.25
FLEET_STREAM = (0,)  # the fleet-wide events' random streams; entity i uses (i,), i >= 1


def load_panel_frame(spec: ModelSpec, settings: Settings, source: str, grid: TimeGrid, hints: dict[str, dict[str, Any]],
                     provenance: dict[str, Any], client: PrometheusClient | None, progress: Progress | None,
                     table: MetricsFile | None = None) -> TrainingFrame:
    """`table`: the file of DATA_SOURCE=file, read already (loader.py)."""
    entities = None
    if table is not None:
        entities = file_entities(table, grid)
    elif source != SYNTHETIC:
        entities = fetch_real_panel(spec, settings, source, grid, client, progress, provenance)
    real = entities is not None
    labelled = table is not None and table.labels is not None
    if not real:
        entities = synthetic_entities(spec, grid, settings.seed, synthetic_entity_count(settings, spec))
    provenance["input_checks"] = check_panel_values(entities, spec, source if real else SYNTHETIC, provenance["window"])
    grouped = [m.name for m in spec.metrics if m.entity_join != BROADCAST]
    group_hints = {name: hints[name] for name in grouped}
    fleet = [] if real else fleet_events(grid.points, settings, group_hints)
    fleet_points = sum(event.length for event in fleet)
    fleet_starts = {event.start for event in fleet}
    long = LongFrame(spec, entities)
    records, per_entity, own_labels = [], {}, []
    for entity in _handed_out(entities):  # each entity's values freed once the long frame holds them
        points = len(entity.values)
        stream = (entity.number,)
        if labelled:
            pieces = []
        elif real:
            pieces = real_pieces(points, source, group_hints, settings.seed, grid.step_seconds, stream)
        else:
            pieces = anomaly_pieces(round(settings.anomaly_rate * points) - fleet_points, group_hints, settings.seed, stream)
        rows = slice(entity.start, entity.start + points)
        long.put_untouched(entity)
        mixed = mix(entity.values, pieces, hints, settings.seed,
                    lambda: synthetic_values(spec, grid, settings.seed, entity=entity.number - 1).iloc[rows],
                    untouched_source=real_row_source(source) if real else SYNTHETIC, stream=stream, fixed=fleet,
                    injectable=grouped, labels=entity.is_anomaly)
        for record in mixed.records:
            record.update(entity=entity.key, scope="fleet" if record["start"] in fleet_starts else "entity")
            record["start"] = mixed.frame.index[record["start"]].isoformat()
        records += mixed.records
        long.put_mixed(entity, mixed)
        per_entity[entity.key] = _describe_entity(entity)
        own_labels.append(entity.is_anomaly)
    frame, untouched, row_source = long.frames()
    used = sorted(set(row_source))
    provenance.update(
        used_sources=used,
        real_data=real_row_source(source) in used,
        mix=f"per entity: {share_note(source if real else None, settings.anomaly_rate, grid.points, labelled)}"
            + ("" if real else f"; {FLEET_EVENT_SHARE:.0%} of the event rows in fleet-wide events hitting every entity at once"),
        rows_per_source={name: int((row_source == name).sum()) for name in (real_row_source(source), SYNTHETIC)},
        injected_anomalies={**describe_events(records, frame, labelled), "fleet_events": len(fleet)},
        gaps_filled={name: sum(e["gaps_filled"].get(name, 0) for e in per_entity.values()) for name in grouped},
        entities={"labels": list(spec.entity), "count": len(per_entity), "per_entity": per_entity},
    )
    if labelled:
        provenance["labelled_events"] = describe_labels(own_labels)
    return TrainingFrame(frame=frame, provenance=provenance, row_source=pd.Series(row_source, index=frame.index, name="source", dtype=object),
                         untouched=untouched, labels_from_data=labelled)


class LongFrame:
    """The long frame's and `untouched`'s columns, allocated once for all entities' rows and filled
    entity by entity: no per-entity frames to concatenate (300 entities' week is 115 MB a copy)."""

    def __init__(self, spec: ModelSpec, entities: list[EntityRows]):
        self.labels, self.metrics = list(spec.entity), list(entities[0].values.columns)
        rows = sum(len(entity.values) for entity in entities)
        self.values = {name: np.empty(rows) for name in self.metrics}
        self.untouched = {name: np.empty(rows) for name in self.metrics}
        self.label_values = {label: np.empty(rows, dtype=object) for label in self.labels}
        self.is_anomaly = np.empty(rows, dtype=bool)
        self.anomaly_kind = np.empty(rows, dtype=object)
        self.row_source = np.empty(rows, dtype=object)
        self.indexes: list[pd.DatetimeIndex] = []
        self.filled = 0

    def put_untouched(self, entity: EntityRows) -> None:
        """The entity's values before mixing (mix changes them in place), at the next rows."""
        at = slice(self.filled, self.filled + len(entity.values))
        for name in self.metrics:
            self.untouched[name][at] = entity.values[name].to_numpy(dtype=float)

    def put_mixed(self, entity: EntityRows, mixed: Mixed) -> None:
        at = slice(self.filled, self.filled + len(mixed.frame))
        for name in self.metrics:
            self.values[name][at] = mixed.frame[name].to_numpy(dtype=float)
        for label, value in zip(self.labels, entity.labels):
            self.label_values[label][at] = value
        self.is_anomaly[at] = mixed.frame["is_anomaly"].to_numpy()
        self.anomaly_kind[at] = mixed.frame["anomaly_kind"].to_numpy()
        self.row_source[at] = mixed.row_source
        self.indexes.append(mixed.frame.index)
        self.filled = at.stop

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
        """(frame, untouched, row_source), on the columns filled (not copied); the entity columns are
        each frame's own."""
        index = self.indexes[0].append(self.indexes[1:])
        # Series of their dtype first: a DataFrame would scan each object column for dates and numbers (5 arrays of its length)
        column = lambda values: pd.Series(values, index=index, dtype=values.dtype, copy=False)  # noqa: E731
        frame = pd.DataFrame({name: column(values) for name, values in
                              {**self.label_values, **self.values, "is_anomaly": self.is_anomaly, "anomaly_kind": self.anomaly_kind}.items()},
                             copy=False)
        untouched = pd.DataFrame({**{label: column(values.copy()) for label, values in self.label_values.items()},
                                  **{name: column(values) for name, values in self.untouched.items()}}, copy=False)
        return frame, untouched, self.row_source


def _handed_out(entities: list[EntityRows]) -> Iterator[EntityRows]:
    """The entities in order, each dropped from the list as it is handed out (nothing else holds its values)."""
    entities.reverse()
    while entities:
        yield entities.pop()


def file_entities(table: MetricsFile, grid: TimeGrid) -> list[EntityRows]:
    """The entities of a file (file_source.entity_series), each on its rows of the window, gaps filled
    and counted, coverage checked as for Prometheus."""
    positions = grid.index()
    entities = []
    for number, (key, labels, part, flags) in enumerate(entity_series(table, grid), start=1):
        rows = TimeGrid(end_seconds=int(part.index[-1].timestamp()), step_seconds=grid.step_seconds, points=len(part))
        filled: dict[str, Any] = {}
        values, flags = training_values(table, rows, filled, values=part, labels=flags, entity=key)
        entities.append(EntityRows(labels, number, positions.get_loc(values.index[0]), values, filled["gaps_filled"], is_anomaly=flags))
    return entities


def synthetic_entities(spec: ModelSpec, grid: TimeGrid, seed: int, count: int) -> list[EntityRows]:
    """`count` entities over the whole window, sorted by their label values, each with its own baseline."""
    entities = [EntityRows(labels, number, 0, synthetic_values(spec, grid, seed, entity=number - 1))
                for number, labels in enumerate(synthetic_entity_labels(spec, count), start=1)]
    return sorted(entities, key=lambda e: e.labels)


def fleet_events(points: int, settings: Settings, hints: dict[str, dict[str, Any]]) -> list[Segment]:
    """The synthetic fleet-wide events: at the same rows of every entity."""
    pieces = anomaly_pieces(round(FLEET_EVENT_SHARE * settings.anomaly_rate * points), hints, settings.seed, FLEET_STREAM)
    return anomalies.place(pieces, points, np.random.default_rng([settings.seed, PLACEMENT_STREAM, *FLEET_STREAM]))


def _describe_entity(entity: EntityRows) -> dict[str, Any]:
    return {"rows": len(entity.values), "first": entity.values.index[0].isoformat(), "last": entity.values.index[-1].isoformat(),
            "gaps_filled": entity.gaps_filled, "fallbacks": entity.fallbacks}
