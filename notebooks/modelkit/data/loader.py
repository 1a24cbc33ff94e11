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

A metric with samples for less than half the window counts as missing: in prometheus
mode (or when all are missing) the fallback policy decides; in hybrid mode it gets a
synthetic stand-in column, recorded in `fallbacks` with the metric names.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..registry import ModelSpec
from ..settings import Settings
from . import anomalies
from .grid import TimeGrid, make_grid
from .hints import metric_hints
from .prometheus import PrometheusClient, PrometheusEmpty, PrometheusQueryError, Progress
from .promql import feature_query
from .synthetic import clip_to_bounds, synthetic_values

log = logging.getLogger("modelkit.data")

REAL_SHARE = {"prometheus": 0.8, "hybrid": 0.5}
INJECTED_ANOMALY_SHARE = 0.2
HYBRID_BLOCK_HOURS = 6
MIN_COVERAGE = 0.5  # a metric with samples for less of the window than this counts as missing
ANOMALY_STREAM, PLACEMENT_STREAM = 2, 3
SYNTHETIC, PROMETHEUS = "synthetic", "prometheus"


@dataclass
class TrainingFrame:
    frame: pd.DataFrame  # metric columns (float), is_anomaly (bool), anomaly_kind (str)
    provenance: dict[str, Any]
    row_source: pd.Series  # per row: "prometheus" (untouched real value) or "synthetic"

    @property
    def features(self) -> pd.DataFrame:
        return self.frame.drop(columns=["is_anomaly", "anomaly_kind"])


def resolve(spec: ModelSpec, settings: Settings) -> tuple[str, int]:
    """Data source and hours: the environment's when set, else the registry entry's."""
    return settings.data_source or spec.data_source, settings.training_hours or spec.training_hours


def load_training_frame(
    spec: ModelSpec,
    settings: Settings,
    *,
    end: datetime | float | None = None,
    client: PrometheusClient | None = None,
    progress: Progress | None = None,
) -> TrainingFrame:
    source, hours = resolve(spec, settings)
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
    real = None
    if source != SYNTHETIC:
        real = _fetch_real(spec, settings, source, grid, client, progress, provenance)
    if real is None:
        values = synthetic_values(spec, grid, settings.seed)
        row_source = np.full(grid.points, SYNTHETIC, dtype=object)
        pieces = _anomaly_pieces(round(settings.anomaly_rate * grid.points), hints, settings.seed)
        share_note = f"synthetic rows; {settings.anomaly_rate:.0%} of rows inside injected anomaly events (ANOMALY_RATE)"
    else:
        values = real
        row_source = np.full(grid.points, PROMETHEUS, dtype=object)
        synthetic_rows = grid.points - round(REAL_SHARE[source] * grid.points)
        anomaly_rows = round(INJECTED_ANOMALY_SHARE * grid.points)
        pieces = _anomaly_pieces(anomaly_rows, hints, settings.seed) + _block_pieces(synthetic_rows - anomaly_rows, grid)
        share_note = f"{REAL_SHARE[source]:.0%} untouched real rows, {INJECTED_ANOMALY_SHARE:.0%} rows inside injected anomaly events"
        if synthetic_rows > anomaly_rows:
            share_note += f", {1 - REAL_SHARE[source] - INJECTED_ANOMALY_SHARE:.0%} rows in spliced synthetic blocks"
    placement_rng = np.random.default_rng([settings.seed, PLACEMENT_STREAM])
    segments = anomalies.place(pieces, grid.points, placement_rng)
    blocks = [s for s in segments if s.kind == SYNTHETIC]
    if blocks:
        _splice_synthetic_blocks(values, synthetic_values(spec, grid, settings.seed), blocks, hints)
    events = [s for s in segments if s.kind != SYNTHETIC]
    records = anomalies.inject(values, events, hints, np.random.default_rng([settings.seed, ANOMALY_STREAM]))
    frame = _labelled(values, events)
    for segment in segments:
        row_source[segment.start : segment.stop] = SYNTHETIC
    used = sorted(set(row_source))
    provenance.update(
        used_sources=used,
        real_data=PROMETHEUS in used,
        mix=share_note,
        rows_per_source={name: int((row_source == name).sum()) for name in (PROMETHEUS, SYNTHETIC)},
        injected_anomalies=_describe_events(records, grid, frame),
    )
    return TrainingFrame(frame=frame, provenance=provenance, row_source=pd.Series(row_source, index=frame.index, name="source"))


def _fetch_real(spec, settings, source: str, grid: TimeGrid, client, progress, provenance) -> pd.DataFrame | None:
    """Real values on the grid, gaps filled; None when the fallback policy says synthetic."""
    queries = {m.name: feature_query(m, grid.step_seconds) for m in spec.metrics}
    provenance["queries"] = queries
    began = time.perf_counter()
    try:
        client = client or PrometheusClient.from_settings(settings)
        provenance["prometheus_url"] = client.url
        frame = pd.DataFrame(client.fetch(queries, grid, progress), index=grid.index())
        missing = _missing_metrics(frame, queries, grid, client.url)
        if missing and (source == PROMETHEUS or len(missing) == len(queries)):
            raise PrometheusEmpty("; ".join(missing.values()))
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
    present = [name for name in frame.columns if name not in missing]
    provenance["gaps_filled"] = {name: int(frame[name].isna().sum()) for name in present}
    # Gaps: linear in time between known points, nearest known value at the window's edges.
    frame = frame.interpolate(method="linear", limit_area="inside").ffill().bfill()
    if missing:  # hybrid only: stand-ins for the metrics Prometheus lacks
        log.warning("!!! hybrid: synthetic stand-ins for %s: %s", ", ".join(missing), "; ".join(missing.values()))
        provenance["fallbacks"].append({"from": PROMETHEUS, "to": SYNTHETIC, "metrics": list(missing), "reason": "; ".join(missing.values())})
        stand_ins = synthetic_values(spec, grid, settings.seed)
        for name in missing:
            frame[name] = stand_ins[name]
    return frame


def _missing_metrics(frame: pd.DataFrame, queries: dict[str, str], grid: TimeGrid, url: str) -> dict[str, str]:
    """Metrics with samples for less than MIN_COVERAGE of the window, each with the reason."""
    window = grid.describe()
    missing = {}
    for name, coverage in frame.notna().mean().items():
        if coverage < MIN_COVERAGE:
            amount = "no data" if coverage == 0 else f"too little data ({coverage:.0%} of the window, need {MIN_COVERAGE:.0%})"
            missing[name] = f"{amount} for {name} ({queries[name]}) between {window['start']} and {window['end']} at {url}: is it scraped/recorded there?"
    return missing


def _anomaly_pieces(points: int, hints: dict, seed: int) -> list[tuple[str, int]]:
    kinds = anomalies.available_kinds(hints)
    if not kinds or points <= 0:
        return []
    return anomalies.lengths_summing_to(points, kinds, np.random.default_rng([seed, ANOMALY_STREAM, 0]))


def _block_pieces(points: int, grid: TimeGrid) -> list[tuple[str, int]]:
    if points <= 0:
        return []
    size = max(1, min(HYBRID_BLOCK_HOURS * 3600 // grid.step_seconds, points))
    whole, rest = divmod(points, size)
    return [(SYNTHETIC, size)] * whole + ([(SYNTHETIC, rest)] if rest else [])


def _splice_synthetic_blocks(values: pd.DataFrame, synthetic: pd.DataFrame, blocks, hints) -> None:
    """Replace each block by synthetic values offset to meet the real ones at both ends."""
    last = len(values) - 1
    for block in blocks:
        before, after = max(block.start - 1, 0), min(block.stop, last)
        for position, name in enumerate(values.columns):
            real = values.iloc[:, position].to_numpy()
            fake = synthetic[name].to_numpy()[block.start : block.stop]
            offset = np.linspace(real[before] - fake[0], real[after] - fake[-1], block.length)
            values.iloc[block.start : block.stop, position] = clip_to_bounds(fake + offset, hints[name])


def _labelled(values: pd.DataFrame, events) -> pd.DataFrame:
    frame = values.astype(float)
    is_anomaly = np.zeros(len(frame), dtype=bool)
    kind = np.full(len(frame), "", dtype=object)
    for event in events:
        is_anomaly[event.start : event.stop] = True
        kind[event.start : event.stop] = event.kind
    frame["is_anomaly"] = is_anomaly
    frame["anomaly_kind"] = kind
    return frame


def _describe_events(records: list[dict], grid: TimeGrid, frame: pd.DataFrame) -> dict[str, Any]:
    points = int(frame["is_anomaly"].sum())
    by_kind: dict[str, int] = {}
    for record in records:
        by_kind[record["kind"]] = by_kind.get(record["kind"], 0) + 1
        record["start"] = frame.index[record["start"]].isoformat()
    return {"events": len(records), "points": points, "share": round(points / grid.points, 6), "by_kind": by_kind, "event_list": records}


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy of the settings with some fields replaced (None values are ignored)."""
    unknown = set(changes) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    return dataclasses.replace(settings, **{k: v for k, v in changes.items() if v is not None})
