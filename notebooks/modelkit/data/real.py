"""Real metric values for a training window from Prometheus, under the fallback policy.

A metric with samples for less than MIN_COVERAGE of the window counts as missing: in
prometheus mode (or when all are missing) FALLBACK_POLICY decides (fail, or synthetic
data, recorded in the provenance); in hybrid mode it gets a synthetic stand-in column.
Samples that are +Inf, -Inf or NaN (a query dividing by zero) are gaps, counted in
`non_finite_samples`. Gaps are filled linearly in time, at the window's edges with the
nearest value, and counted per metric in `gaps_filled`. A window that begins before
Prometheus' oldest sample starts at that sample instead when a week or more is kept
(`history_kept`, never filled); a leading span under an hour is a gap like the others.

A per-entity model (`fetch_real_panel`) sends one query per metric that returns a series per
entity and splits them by the entity labels. Each entity's rows run from its first to its last
finite sample of a `group` metric (a node added or drained inside the window has fewer rows);
gaps inside are filled as above and counted per entity. An entity lacking a `group` metric (less
than MIN_COVERAGE of its rows) is dropped in prometheus mode and gets a synthetic stand-in column
in hybrid mode, recorded in its `fallbacks`; only when no entity is left does FALLBACK_POLICY
decide for the whole model. `broadcast` metrics follow the cluster-wide rules.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, TypeVar

import numpy as np
import pandas as pd

from ..errors import DataError
from ..entities import entity_key
from ..registry import BROADCAST, ModelSpec
from ..settings import Settings
from .grid import TimeGrid, fill_gaps
from .prometheus import PrometheusClient, PrometheusEmpty, PrometheusQueryError, Progress
from .promql import feature_query
from .synthetic import synthetic_values

log = logging.getLogger("modelkit.data")

SYNTHETIC, PROMETHEUS, FILE = "synthetic", "prometheus", "file"
MIN_COVERAGE = 0.5
MIN_KEPT_HOURS = 168  # a week of history: the weekly pattern, the detector's default window
MIN_UNKEPT = timedelta(hours=1)  # shorter leading spans without a sample are gaps, not retention
Fetched = TypeVar("Fetched")


@dataclass
class EntityRows:
    """One entity's rows of a per-entity model, before mixing."""

    labels: tuple[str, ...]  # its entity label values, in registry order
    number: int  # 1-based; mixed into its random streams
    start: int  # grid position of its first row
    values: pd.DataFrame  # metric columns, index = its timestamps (consecutive grid points)
    gaps_filled: dict[str, int] = field(default_factory=dict)
    fallbacks: list[dict[str, Any]] = field(default_factory=list)
    is_anomaly: pd.Series | None = None  # its rows' own labels (a labelled file); None: events are injected

    @property
    def key(self) -> str:
        return entity_key(self.labels)


def _under_fallback_policy(spec: ModelSpec, settings: Settings, queries: dict[str, str], client: PrometheusClient | None,
                           provenance: dict[str, Any], fetch: Callable[[PrometheusClient], Fetched]) -> Fetched | None:
    """What `fetch` gets from Prometheus; None when it fails and FALLBACK_POLICY says synthetic."""
    provenance["queries"] = queries
    began = time.perf_counter()
    try:
        client = client or PrometheusClient.from_settings(settings)
        provenance["prometheus_url"] = client.url
        return fetch(client)
    except PrometheusQueryError:
        raise  # a broken query is a bug to fix, never a reason to train on synthetic data
    except DataError as exc:
        if settings.fallback_policy != SYNTHETIC:
            raise DataError(f"{exc} (FALLBACK_POLICY=fail; set FALLBACK_POLICY=synthetic to train on synthetic data instead)") from exc
        log.warning("!!! FALLING BACK TO SYNTHETIC DATA for model %s: %s", spec.name, exc)
        provenance["fallbacks"].append({"from": PROMETHEUS, "to": SYNTHETIC, "metrics": list(queries), "reason": str(exc)})
        return None
    finally:
        if client is not None:
            provenance["query_timings"] = {
                "total_seconds": round(time.perf_counter() - began, 3),
                "seconds_by_metric": {k: round(v, 3) for k, v in client.stats.seconds_by_query.items()},
                "requests": client.stats.requests,
                "retries": client.stats.retries,
            }


def fetch_real_values(
    spec: ModelSpec,
    settings: Settings,
    source: str,
    grid: TimeGrid,
    client: PrometheusClient | None,
    progress: Progress | None,
    provenance: dict[str, Any],
) -> pd.DataFrame | None:
    """Real values on the grid, gaps filled; None when the fallback policy says synthetic."""
    queries = {m.name: feature_query(m, grid.step_seconds) for m in spec.metrics}

    def fetch(client: PrometheusClient) -> tuple[pd.DataFrame, dict[str, str]]:
        frame = pd.DataFrame(client.fetch(queries, grid, progress), index=grid.index())
        non_finite = {name: client.stats.non_finite_by_query.get(name, 0) for name in queries}
        provenance["non_finite_samples"] = non_finite
        frame = _from_first_sample(frame, grid, provenance)
        missing = _missing_metrics(frame, queries, kept_grid(frame, grid), client.url, non_finite)
        if missing and (source == PROMETHEUS or len(missing) == len(queries)):
            raise PrometheusEmpty("; ".join(missing.values()))
        return frame, missing

    fetched = _under_fallback_policy(spec, settings, queries, client, provenance, fetch)
    if fetched is None:
        return None
    frame, missing = fetched
    present = [name for name in frame.columns if name not in missing]
    provenance["gaps_filled"] = {name: int(frame[name].isna().sum()) for name in present}
    frame = fill_gaps(frame)
    if missing:  # hybrid only: stand-ins for the metrics Prometheus lacks
        _stand_in(frame, missing, synthetic_values(spec, kept_grid(frame, grid), settings.seed), provenance["fallbacks"], "hybrid")
    return frame


def _stand_in(frame: pd.DataFrame, missing: dict[str, str], synthetic: pd.DataFrame, fallbacks: list, who: str) -> None:
    log.warning("!!! %s: synthetic stand-ins for %s: %s", who, ", ".join(missing), "; ".join(missing.values()))
    fallbacks.append({"from": PROMETHEUS, "to": SYNTHETIC, "metrics": list(missing), "reason": "; ".join(missing.values())})
    for name in missing:
        frame[name] = synthetic[name].to_numpy()


def fetch_real_panel(
    spec: ModelSpec,
    settings: Settings,
    source: str,
    grid: TimeGrid,
    client: PrometheusClient | None,
    progress: Progress | None,
    provenance: dict[str, Any],
) -> list[EntityRows] | None:
    """Each entity's real rows, gaps filled, sorted by label values; None when the fallback policy says synthetic."""
    queries = {m.name: feature_query(m, grid.step_seconds, spec.entity) for m in spec.metrics}
    labels = {m.name: () if m.entity_join == BROADCAST else spec.entity for m in spec.metrics}

    def fetch(client: PrometheusClient) -> list[EntityRows]:
        try:
            series = client.fetch_grouped(queries, labels, grid, progress)
        except PrometheusQueryError as exc:  # its messages name the metric and query; add the model
            raise PrometheusQueryError(f"model {spec.name!r} {exc}") from None
        non_finite = {name: client.stats.non_finite_by_query.get(name, 0) for name in queries}
        provenance["non_finite_samples"] = non_finite
        broadcast = pd.DataFrame({name: series[name].get((), np.full(grid.points, np.nan)) for name in queries if not labels[name]},
                                 index=grid.index())
        missing = _missing_metrics(broadcast, queries, grid, client.url, non_finite)
        if missing and source == PROMETHEUS:
            raise PrometheusEmpty("; ".join(missing.values()))
        entities, dropped = split_series(spec, settings, source, grid, series, fill_gaps(broadcast), queries)
        if dropped:
            provenance["entities_dropped"] = dropped
        if not entities:
            grouped = [name for name in queries if labels[name]]
            window = grid.describe()
            raise PrometheusEmpty(f"no entity ({', '.join(spec.entity)}) has all its metrics ({', '.join(grouped)}) between "
                                  f"{window['start']} and {window['end']} at {client.url}"
                                  + (f"; left out: {', '.join(dropped)} (first: {next(iter(dropped.values()))})" if dropped else ""))
        if missing:  # hybrid only
            _stand_in_broadcast(spec, settings, grid, entities, missing, provenance["fallbacks"])
        return entities

    return _under_fallback_policy(spec, settings, queries, client, provenance, fetch)


def _stand_in_broadcast(spec, settings, grid, entities: list[EntityRows], missing: dict[str, str], fallbacks: list) -> None:
    cluster = synthetic_values(spec, grid, settings.seed)
    for entity in entities:
        for name in missing:
            entity.values[name] = cluster[name].to_numpy()[entity.start : entity.start + len(entity.values)]
    log.warning("!!! hybrid: synthetic stand-ins for broadcast metrics %s: %s", ", ".join(missing), "; ".join(missing.values()))
    fallbacks.append({"from": PROMETHEUS, "to": SYNTHETIC, "metrics": list(missing), "reason": "; ".join(missing.values())})


def split_series(spec: ModelSpec, settings: Settings, source: str, grid: TimeGrid, series: dict[str, dict[tuple, np.ndarray]],
                 broadcast: pd.DataFrame, queries: dict[str, str]) -> tuple[list[EntityRows], dict[str, str]]:
    """The entities of grouped series (consumed), each on its own span; entities dropped, with the reason."""
    grouped = [m.name for m in spec.metrics if m.entity_join != BROADCAST]
    keys = sorted({key for name in grouped for key in series[name]})
    index = grid.index()
    entities, dropped = [], {}
    for number, key in enumerate(keys, start=1):
        columns = {name: series[name].pop(key, None) for name in grouped}
        present = np.zeros(grid.points, dtype=bool)
        for column in columns.values():
            if column is not None:
                present |= np.isfinite(column)
        if not present.any():
            continue
        first, last = int(present.argmax()), int(grid.points - 1 - present[::-1].argmax())
        span = slice(first, last + 1)
        # Views of this entity's own arrays, not copies (the memory of 300 entities' week); broadcast values are copied,
        # as every entity shares them.
        values = pd.DataFrame({m.name: (columns[m.name][span] if columns.get(m.name) is not None else np.full(last + 1 - first, np.nan))
                               if m.entity_join != BROADCAST else broadcast[m.name].to_numpy()[span].copy() for m in spec.metrics},
                              index=index[span], copy=False)
        entity = EntityRows(key, number, first, values)
        short = {name: f"{entity.key}: {name} ({queries[name]}) has samples in {coverage:.0%} of its {len(values)} rows "
                       f"({index[first].isoformat()} to {index[last].isoformat()}), need {MIN_COVERAGE:.0%}"
                 for name in grouped if (coverage := float(values[name].notna().mean())) < MIN_COVERAGE}
        if short and source == PROMETHEUS:
            dropped[entity.key] = "; ".join(short.values())
            log.warning("!!! entity %s left out of model %s: %s", entity.key, spec.name, dropped[entity.key])
            continue
        entity.gaps_filled = {name: int(values[name].isna().sum()) for name in grouped if name not in short}
        entity.values = fill_gaps(values) if values.isna().to_numpy().any() else values
        if short:  # hybrid: this entity's own synthetic series stand in
            _stand_in(entity.values, short, synthetic_values(spec, grid, settings.seed, entity=number - 1).iloc[span],
                      entity.fallbacks, f"hybrid, entity {entity.key}")
        entities.append(entity)
    return entities, dropped


def _from_first_sample(frame: pd.DataFrame, grid: TimeGrid, provenance: dict[str, Any]) -> pd.DataFrame:
    """The window from its first row with a sample of any metric. A Prometheus that keeps less
    history than the window asks for (OpenShift's platform Prometheus keeps 15 days; a new cluster
    has a few) answers nothing before that; filling those rows with the first value would invent
    days of flat, "real" data. Recorded in `history_kept` and warned about. Only when what is kept
    is at least a week (or MIN_COVERAGE of a shorter window): less is a metric recorded only lately
    as much as a short retention, and the coverage rule refuses it naming the metric. A leading
    span shorter than MIN_UNKEPT is a gap like any other (a missed scrape, a sample that was
    +Inf/NaN in every metric), filled as they are: Prometheus drops its history in blocks of hours."""
    sampled = frame.notna().any(axis=1).to_numpy()
    if not sampled.any() or sampled[0] or sampled.argmax() * grid.step_seconds < MIN_UNKEPT.total_seconds():
        return frame
    kept = frame.iloc[int(sampled.argmax()):]
    asked_hours, kept_hours = grid.points * grid.step_seconds / 3600, len(kept) * grid.step_seconds / 3600
    if kept_hours < min(MIN_KEPT_HOURS, MIN_COVERAGE * asked_hours):
        return frame  # too little to train on: the coverage rule names the metrics
    provenance["history_kept"] = {"asked_hours": round(asked_hours, 3), "kept_hours": round(kept_hours, 3),
                                  "first_sample": kept.index[0].isoformat()}
    log.warning("!!! Prometheus holds %.1f h of the %.1f h window (first sample %s): training on those",
                kept_hours, asked_hours, kept.index[0].isoformat())
    return kept


def kept_grid(frame: pd.DataFrame, grid: TimeGrid) -> TimeGrid:
    """The grid of `frame`, the last rows of `grid` (shorter when Prometheus kept less history)."""
    return grid if len(frame) == grid.points else TimeGrid(grid.end_seconds, grid.step_seconds, len(frame))


def _missing_metrics(frame: pd.DataFrame, queries: dict[str, str], grid: TimeGrid, url: str, non_finite: dict[str, int]) -> dict[str, str]:
    """Metrics with finite samples for less than MIN_COVERAGE of the window, each with the reason."""
    window = grid.describe()
    missing = {}
    for name, coverage in frame.notna().mean().items():
        if coverage < MIN_COVERAGE:
            amount = "no data" if coverage == 0 else f"too little data ({coverage:.0%} of the window, need {MIN_COVERAGE:.0%})"
            why = (f"{non_finite[name]} samples were +Inf/-Inf/NaN (a division by zero?)" if non_finite[name]
                   else "is it scraped/recorded there?")
            missing[name] = f"{amount} for {name} ({queries[name]}) between {window['start']} and {window['end']} at {url}: {why}"
    return missing
