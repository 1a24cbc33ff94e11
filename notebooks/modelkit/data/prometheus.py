"""Prometheus `query_range` client: chunked, bounded concurrency, retries, timeouts, TLS.

Each feature's query is split into chunks of at most MAX_POINTS_PER_REQUEST points
(Prometheus refuses more than 11,000 per series); chunk k covers grid points
[k*MAX, (k+1)*MAX), so seams neither repeat nor skip a point. Requests in flight are
bounded; timeouts, connection errors, 429 and 5xx are retried with exponential backoff
(or the server's Retry-After, up to 30 s), other 4xx are not (a bad query is reported
with Prometheus' own error text).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import requests
from requests.adapters import HTTPAdapter

from ..errors import ConfigError, DataError
from .grid import TimeGrid

log = logging.getLogger("modelkit.data")

MAX_POINTS_PER_REQUEST = 11_000
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30

Progress = Callable[[int, int], None]


class PrometheusUnavailable(DataError):
    """Prometheus could not be reached or refused us (network, TLS, auth, retries exhausted)."""


class PrometheusEmpty(DataError):
    """Queries returned no (or too few) samples in the window."""


class PrometheusQueryError(DataError):
    """Prometheus rejected a query (4xx); never retried, never a reason to fall back."""


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    seconds_by_query: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, retry: bool) -> None:
        with self.lock:
            self.requests += 1
            self.retries += retry


def _retry_after_seconds(response: requests.Response) -> float:
    """A 429/503's Retry-After in seconds (capped), 0 when absent or given as a date."""
    text = response.headers.get("Retry-After", "").strip()
    return min(float(text), MAX_RETRY_AFTER_SECONDS) if text.isdigit() else 0.0


class PrometheusClient:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        ca_bundle: Path | None = None,
        verify: bool = True,
        timeout_seconds: float = 30,
        max_in_flight: int = 4,
        attempts: int = 4,
        backoff_seconds: float = 0.5,
    ):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"PROMETHEUS_URL={url!r} must start with http:// or https://")
        self.url = url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.max_in_flight = max_in_flight
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.stats = RequestStats()
        self.session = requests.Session()
        self.session.mount(self.url, HTTPAdapter(pool_connections=1, pool_maxsize=max_in_flight))
        # Passed on every request: a session-level `verify` loses to REQUESTS_CA_BUNDLE in the environment.
        self.verify: bool | str = str(ca_bundle) if ca_bundle and verify else verify
        if not verify:
            log.warning("TLS verification of %s is OFF (PROMETHEUS_TLS_VERIFY=false): for throwaway test clusters only", self.url)
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_settings(cls, settings) -> "PrometheusClient":
        if not settings.prometheus_url:
            raise PrometheusUnavailable("PROMETHEUS_URL is not set; it is required for DATA_SOURCE=prometheus or hybrid")
        return cls(
            settings.prometheus_url,
            token=settings.prometheus_token,
            ca_bundle=settings.prometheus_ca_bundle,
            verify=settings.prometheus_tls_verify,
            timeout_seconds=settings.prometheus_timeout_seconds,
        )

    def _post(self, form: dict[str, str]) -> dict:
        endpoint = f"{self.url}/api/v1/query_range"
        last_problem, server_asks = "", 0.0
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(max(self.backoff_seconds * 2 ** (attempt - 1), server_asks))
            self.stats.count(retry=attempt > 0)
            try:
                response = self.session.post(endpoint, data=form, timeout=self.timeout_seconds, verify=self.verify)
            except requests.exceptions.SSLError as exc:
                raise PrometheusUnavailable(f"TLS to {self.url} failed: {exc}; set PROMETHEUS_CA_BUNDLE to the CA that signed its certificate") from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                log.warning("Prometheus request failed (attempt %d/%d): %s", attempt + 1, self.attempts, last_problem)
                continue
            if response.status_code in RETRY_STATUSES:
                server_asks = _retry_after_seconds(response)
                last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
                log.warning("Prometheus answered %s (attempt %d/%d)", response.status_code, attempt + 1, self.attempts)
                continue
            return self._decode(response, form["query"])
        raise PrometheusUnavailable(f"Prometheus at {self.url} unreachable after {self.attempts} attempts; last problem: {last_problem}")

    def _decode(self, response: requests.Response, query: str) -> dict:
        if response.status_code in (401, 403):
            raise PrometheusUnavailable(
                f"Prometheus at {self.url} answered HTTP {response.status_code} ({response.text.strip()[:200]}): "
                "check PROMETHEUS_TOKEN/PROMETHEUS_TOKEN_FILE and that the service account may read metrics (cluster-monitoring-view)"
            )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or body.get("status") != "success":
            detail = f"{body.get('errorType', 'error')}: {body.get('error')}" if body.get("error") else response.text.strip()[:300]
            raise PrometheusQueryError(f"Prometheus rejected the query {query!r} (HTTP {response.status_code}): {detail}")
        return body["data"]

    def fetch(self, queries: dict[str, str], grid: TimeGrid, progress: Progress | None = None) -> dict[str, np.ndarray]:
        """Each named query's values on the grid (NaN where Prometheus has no sample; all NaN for no series)."""
        out = {name: np.full(grid.points, np.nan) for name in queries}
        jobs = [(name, first) for name in queries for first in range(0, grid.points, MAX_POINTS_PER_REQUEST)]
        with ThreadPoolExecutor(max_workers=self.max_in_flight) as pool:
            futures = {pool.submit(self._fetch_chunk, queries[name], grid, first): name for name, first in jobs}
            for done, future in enumerate(as_completed(futures), start=1):
                name = futures[future]
                try:
                    positions, values, seconds = future.result()
                except DataError:
                    for other in futures:
                        other.cancel()
                    raise
                out[name][positions] = values
                self.stats.seconds_by_query[name] = self.stats.seconds_by_query.get(name, 0.0) + seconds
                if progress:
                    progress(done, len(jobs))
        return out

    def _fetch_chunk(self, query: str, grid: TimeGrid, first: int) -> tuple[np.ndarray, np.ndarray, float]:
        last = min(first + MAX_POINTS_PER_REQUEST, grid.points) - 1
        start = grid.start_seconds + first * grid.step_seconds
        end = grid.start_seconds + last * grid.step_seconds
        began = time.perf_counter()
        data = self._post({"query": query, "start": str(start), "end": str(end), "step": f"{grid.step_seconds}s"})
        if data.get("resultType") != "matrix":
            raise PrometheusQueryError(f"query {query!r} returned a {data.get('resultType')}, not a range of values")
        if len(data["result"]) > 1:
            raise PrometheusQueryError(f"query {query!r} returned {len(data['result'])} series; expected one after aggregation")
        positions, values = np.empty(0, dtype=np.int64), np.empty(0)
        if data["result"]:
            samples = data["result"][0]["values"]
            stamps = np.fromiter((s[0] for s in samples), dtype=np.float64, count=len(samples))
            values = np.array([s[1] for s in samples], dtype=np.float64)
            positions = np.rint((stamps - grid.start_seconds) / grid.step_seconds).astype(np.int64)
        return positions, values, time.perf_counter() - began
