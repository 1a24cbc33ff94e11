"""Real metric values for a training window from Prometheus, under the fallback policy.

A metric with samples for less than MIN_COVERAGE of the window counts as missing: in
prometheus mode (or when all are missing) FALLBACK_POLICY decides (fail, or synthetic
data, recorded in the provenance); in hybrid mode it gets a synthetic stand-in column.
Samples that are +Inf, -Inf or NaN (a query dividing by zero) are gaps, counted in
`non_finite_samples`. Gaps are filled linearly in time, at the window's edges with the
nearest value, and counted per metric in `gaps_filled`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from ..errors import DataError
from ..registry import ModelSpec
from ..settings import Settings
from .grid import TimeGrid, fill_gaps
from .prometheus import PrometheusClient, PrometheusEmpty, PrometheusQueryError, Progress
from .promql import feature_query
from .synthetic import synthetic_values

log = logging.getLogger("modelkit.data")

SYNTHETIC, PROMETHEUS, FILE = "synthetic", "prometheus", "file"
MIN_COVERAGE = 0.5


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
    provenance["queries"] = queries
    began = time.perf_counter()
    try:
        client = client or PrometheusClient.from_settings(settings)
        provenance["prometheus_url"] = client.url
        frame = pd.DataFrame(client.fetch(queries, grid, progress), index=grid.index())
        non_finite = {name: client.stats.non_finite_by_query.get(name, 0) for name in queries}
        provenance["non_finite_samples"] = non_finite
        missing = _missing_metrics(frame, queries, grid, client.url, non_finite)
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
    frame = fill_gaps(frame)
    if missing:  # hybrid only: stand-ins for the metrics Prometheus lacks
        log.warning("!!! hybrid: synthetic stand-ins for %s: %s", ", ".join(missing), "; ".join(missing.values()))
        provenance["fallbacks"].append({"from": PROMETHEUS, "to": SYNTHETIC, "metrics": list(missing), "reason": "; ".join(missing.values())})
        stand_ins = synthetic_values(spec, grid, settings.seed)
        for name in missing:
            frame[name] = stand_ins[name]
    return frame


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
