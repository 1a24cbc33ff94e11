"""Per-entity models (a registry entry with `entity: [instance]`): the panel frame's shape, in one place.

A per-entity frame is long: one row per entity and timestamp, the entity label columns first
(strings), then the metric columns, sorted by the entity labels and then time; the index is the
timestamp, repeated once per entity. A cluster-wide model (no `entity`) has no entity columns, and
`split_entities` gives its whole frame as the one entity "".
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Iterable, Iterator

import pandas as pd

from .registry import GROUP, ModelSpec

KEY_SEPARATOR = "/"


def is_entity_model(spec: ModelSpec) -> bool:
    return bool(spec.entity)


def cluster_wide(spec: ModelSpec) -> ModelSpec:
    """The same entry about one series per metric (entity labels and joins dropped): values in hand that
    carry no entity labels (`modelkit score --data-file` training) train it as one series."""
    return dataclasses.replace(spec, entity=(), metrics=tuple(dataclasses.replace(m, entity_join=GROUP) for m in spec.metrics))


ENTITY_FIELDS = ("entity", "syntheticEntities")  # an entry's per-entity fields, as values.yaml writes them


def cluster_wide_entry(entry: dict) -> dict:
    """`cluster_wide` for a registry entry as values.yaml writes it: a copy without its entity fields
    and its metrics' `entityJoin` (a bench's or test's cluster-wide variant of the default detector)."""
    entry = copy.deepcopy(entry)
    for field in ENTITY_FIELDS:
        entry.pop(field, None)
    for metric in entry.get("metrics", []):
        metric.pop("entityJoin", None)
    return entry


def entity_columns(spec: ModelSpec) -> list[str]:
    """The entity label columns of the model's frames, in registry order ([] for a cluster-wide model)."""
    return list(spec.entity)


def entity_key(values: Iterable[object]) -> str:
    """One entity's name in provenance, reports and logs: its label values joined by '/' ("worker-1")."""
    return KEY_SEPARATOR.join(str(value) for value in values)


def split_entities(frame: pd.DataFrame, spec: ModelSpec) -> Iterator[tuple[str, pd.DataFrame]]:
    """(key, that entity's rows without the entity columns) per entity, in the frame's order;
    each sub-frame's index is its timestamps. A cluster-wide frame is one entity, key ""."""
    columns = entity_columns(spec)
    if not columns:
        yield "", frame
        return
    for values, rows in frame.groupby(columns, sort=False, observed=True):
        yield entity_key(values if isinstance(values, tuple) else (values,)), rows.drop(columns=columns)
