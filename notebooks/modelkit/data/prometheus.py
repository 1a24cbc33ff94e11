"""Prometheus `query_range` client: chunked, bounded concurrency, retries, timeouts, TLS.

Each feature's query is split into chunks of at most MAX_POINTS_PER_REQUEST points
(Prometheus refuses more than 11,000 per series); chunk k covers grid points
[k*MAX, (k+1)*MAX), so seams neither repeat nor skip a point. Requests in flight are
bounded; timeouts, connection errors, 429 and 5xx are retried with exponential backoff
(or the server's Retry-After, up to 30 s), and so is any other transport or decoding
failure (a body cut short, a 200 that is not JSON); other 4xx are not (a bad query is
reported with Prometheus' own error text). Samples are checked: +Inf/-Inf/NaN become gaps
(counted), anything else malformed is a DataError naming the query.

`fetch` expects one series per query (a cluster-wide aggregate); `fetch_grouped` takes one
query per metric that returns a series per entity (`avg by (instance) (...)`) and splits them
by their label values. Big matrix answers (300 series x 10,080 points is ~80 MB of JSON) are
read by `scan_matrix`, which reads Prometheus' compact layout straight from the bytes without
building a Python object per sample, handing each series over as soon as it has arrived: it goes
onto the grid at once, so only grid columns are kept, never an answer's parsed samples (times and
values: twice the columns' size, for each of the answers in flight). Any other layout goes through
the JSON decoder.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import requests
from requests.adapters import HTTPAdapter

from ..errors import ConfigError, DataError
from .grid import TimeGrid

log = logging.getLogger("modelkit.data")

MAX_POINTS_PER_REQUEST = 11_000
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30
STREAM_CHUNK_BYTES = 1 << 20
MAX_LABELS_BYTES = 1 << 20  # a series' labels object longer than this is not Prometheus' layout

Progress = Callable[[int, int], None]
Sampled = tuple[dict[str, str], np.ndarray, np.ndarray]  # one series: its labels, sample times, values
Series = list[Sampled]


class PrometheusUnavailable(DataError):
    """Prometheus could not be reached or refused us (network, TLS, auth, retries exhausted)."""


class PrometheusEmpty(DataError):
    """Queries returned no (or too few) samples in the window."""


class PrometheusQueryError(DataError):
    """Prometheus rejected a query (4xx), or the query's answer is not one series of numbers
    (an instant vector, several series, native histograms); never retried, never a reason to fall back."""


class PrometheusBadAnswer(DataError):
    """A successful answer that is not a well-formed range of samples (missing keys, text values,
    samples outside the window); not retried (it would say the same), but the fallback policy applies."""


@dataclass
class Chunk:
    positions: np.ndarray  # grid positions of the samples
    values: np.ndarray  # NaN where the sample was +Inf, -Inf or NaN
    non_finite: int
    seconds: float


@dataclass
class GroupedChunk:
    first: int  # grid position of the chunk's first point
    series: dict[tuple[str, ...], np.ndarray]  # label values -> the chunk's points (NaN: no finite sample)
    non_finite: int
    seconds: float


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    seconds_by_query: dict[str, float] = field(default_factory=dict)
    non_finite_by_query: dict[str, int] = field(default_factory=dict)  # +Inf/-Inf/NaN samples, made gaps
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

    def _post(self, form: dict[str, str], shortcut: Callable[[Iterator[bytes]], object] | None = None):
        """The `data` of a successful answer, or what `shortcut` makes of the streamed body of a 200;
        when it makes nothing of it (None: another layout), the request is sent again and decoded as
        JSON. Transport and decoding failures are retried alike."""
        endpoint = f"{self.url}/api/v1/query_range"
        query = form["query"]
        last_problem, server_asks = "", 0.0
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(max(self.backoff_seconds * 2 ** (attempt - 1), server_asks))
            self.stats.count(retry=attempt > 0)
            try:
                response = self.session.post(endpoint, data=form, timeout=self.timeout_seconds, verify=self.verify, stream=shortcut is not None)
                if shortcut is not None and response.status_code == 200:
                    quick = shortcut(response.iter_content(STREAM_CHUNK_BYTES))
                    if quick is not None:
                        return quick
                    shortcut = None
                    self.stats.count(retry=False)  # a second request, not a failure
                    response = self.session.post(endpoint, data=form, timeout=self.timeout_seconds, verify=self.verify)
            except requests.exceptions.SSLError as exc:
                raise PrometheusUnavailable(f"TLS to {self.url} failed: {exc}; set PROMETHEUS_CA_BUNDLE to the CA that signed its certificate") from exc
            except requests.RequestException as exc:  # refused, reset, timed out, body cut short or undecodable
                last_problem = f"{type(exc).__name__}: {exc}"
                log.warning("Prometheus request failed (attempt %d/%d): %s", attempt + 1, self.attempts, last_problem)
                continue
            if response.status_code in RETRY_STATUSES:
                server_asks = _retry_after_seconds(response)
                last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
                log.warning("Prometheus answered %s (attempt %d/%d)", response.status_code, attempt + 1, self.attempts)
                continue
            body = self._decode(response, query)
            if body is None:
                last_problem = f"HTTP 200 with a body that is not JSON ({len(response.content)} bytes: {response.text[:80]!r})"
                log.warning("Prometheus answer undecodable (attempt %d/%d): %s", attempt + 1, self.attempts, last_problem)
                continue
            return _field(body, "data", dict, query)
        raise PrometheusUnavailable(
            f"Prometheus at {self.url} gave no usable answer to query {query!r} after {self.attempts} attempts; last problem: {last_problem}"
        )

    def _decode(self, response: requests.Response, query: str) -> dict | None:
        """The JSON body of a successful answer; None for a 200 whose body is not JSON (retried)."""
        if response.status_code in (401, 403):
            raise PrometheusUnavailable(
                f"Prometheus at {self.url} answered HTTP {response.status_code} ({response.text.strip()[:200]}): "
                "check PROMETHEUS_TOKEN/PROMETHEUS_TOKEN_FILE and that the service account may read metrics (cluster-monitoring-view)"
            )
        try:
            body = response.json()
        except ValueError:
            if response.status_code == 200:
                return None
            body = {}
        if not isinstance(body, dict):
            raise PrometheusBadAnswer(f"Prometheus answered query {query!r} with JSON that is not an object: {response.text[:120]!r}")
        if response.status_code != 200 or body.get("status") != "success":
            detail = f"{body.get('errorType', 'error')}: {body.get('error')}" if body.get("error") else response.text.strip()[:300]
            raise PrometheusQueryError(f"Prometheus rejected the query {query!r} (HTTP {response.status_code}): {detail}")
        return body

    def fetch(self, queries: dict[str, str], grid: TimeGrid, progress: Progress | None = None) -> dict[str, np.ndarray]:
        """Each named query's values on the grid (NaN where Prometheus has no finite sample; all NaN for no series)."""
        out = {name: np.full(grid.points, np.nan) for name in queries}
        for name, chunk in self._chunks(queries, grid, lambda name, first: self._fetch_chunk(queries[name], grid, first), progress):
            out[name][chunk.positions] = chunk.values
        return out

    def fetch_grouped(self, queries: dict[str, str], labels: dict[str, tuple[str, ...]], grid: TimeGrid,
                      progress: Progress | None = None) -> dict[str, dict[tuple[str, ...], np.ndarray]]:
        """Each named query's series by the values of its `labels` (NaN where a series has no finite
        sample); a query with labels () must return at most one series, keyed ()."""
        out: dict[str, dict[tuple[str, ...], np.ndarray]] = {name: {} for name in queries}
        fetch = lambda name, first: self._fetch_grouped_chunk(name, queries[name], labels[name], grid, first)  # noqa: E731
        for name, chunk in self._chunks(queries, grid, fetch, progress):
            for key, points in chunk.series.items():
                if len(points) == grid.points:  # the whole window in one chunk: kept as it is, no copy
                    out[name][key] = points
                else:
                    out[name].setdefault(key, np.full(grid.points, np.nan))[chunk.first : chunk.first + len(points)] = points
        return out

    def _chunks(self, queries: dict[str, str], grid: TimeGrid, fetch: Callable, progress: Progress | None):
        """(name, chunk) for every chunk of every query as it arrives, MAX_POINTS_PER_REQUEST points each,
        at most max_in_flight at a time; the first DataError cancels the rest."""
        jobs = [(name, first) for name in queries for first in range(0, grid.points, MAX_POINTS_PER_REQUEST)]
        with ThreadPoolExecutor(max_workers=self.max_in_flight) as pool:
            futures = {pool.submit(fetch, name, first): name for name, first in jobs}
            for done, future in enumerate(as_completed(futures), start=1):
                name = futures[future]
                try:
                    chunk = future.result()
                except DataError:
                    for other in futures:
                        other.cancel()
                    raise
                self.stats.seconds_by_query[name] = self.stats.seconds_by_query.get(name, 0.0) + chunk.seconds
                self.stats.non_finite_by_query[name] = self.stats.non_finite_by_query.get(name, 0) + chunk.non_finite
                yield name, chunk
                if progress:
                    progress(done, len(jobs))

    def _fetch_grouped_chunk(self, name: str, query: str, labels: tuple[str, ...], grid: TimeGrid, first: int) -> GroupedChunk:
        last = min(first + MAX_POINTS_PER_REQUEST, grid.points) - 1
        start = grid.start_seconds + first * grid.step_seconds
        end = grid.start_seconds + last * grid.step_seconds
        began = time.perf_counter()
        on_grid = lambda answer: _grouped_points(name, query, labels, grid, first, last, answer)  # noqa: E731

        def compact(body: Iterator[bytes]) -> GroupedChunk | None:
            try:  # each series onto the grid as it is read: one series' samples in memory at a time, not the answer's
                return on_grid(scan_matrix(body))
            except OtherLayout:
                return None

        answer = self._post({"query": query, "start": str(start), "end": str(end), "step": f"{grid.step_seconds}s"}, shortcut=compact)
        if isinstance(answer, dict):  # not the compact layout: the JSON decoder's result
            answer = on_grid(_matrix_series(answer, query))
        answer.seconds = time.perf_counter() - began
        return answer

    def _fetch_chunk(self, query: str, grid: TimeGrid, first: int) -> Chunk:
        last = min(first + MAX_POINTS_PER_REQUEST, grid.points) - 1
        start = grid.start_seconds + first * grid.step_seconds
        end = grid.start_seconds + last * grid.step_seconds
        began = time.perf_counter()
        data = self._post({"query": query, "start": str(start), "end": str(end), "step": f"{grid.step_seconds}s"})
        if data.get("resultType") != "matrix":
            raise PrometheusQueryError(f"query {query!r} returned a {data.get('resultType')}, not a range of values (resultType matrix)")
        result = _field(data, "result", list, query)
        if len(result) > 1:
            raise PrometheusQueryError(f"query {query!r} returned {len(result)} series; expected one after aggregation")
        if not result:
            return Chunk(np.empty(0, dtype=np.int64), np.empty(0), 0, time.perf_counter() - began)
        stamps, values = _samples(_field(result, 0, dict, query), query)
        positions = _grid_positions(stamps, grid, first, last, query)
        non_finite = ~np.isfinite(values)
        values[non_finite] = np.nan  # +Inf/-Inf/NaN (a division by zero): a gap, like a missing sample
        return Chunk(positions, values, int(non_finite.sum()), time.perf_counter() - began)


def _grid_positions(stamps: np.ndarray, grid: TimeGrid, first: int, last: int, query: str) -> np.ndarray:
    """The grid positions of sample times, which must be grid points in [first, last]."""
    positions = np.rint((stamps - grid.start_seconds) / grid.step_seconds).astype(np.int64)
    off_grid = (positions < first) | (positions > last) | (np.abs(grid.start_seconds + positions * grid.step_seconds - stamps) > 1e-3)
    if off_grid.any():
        start, end = (grid.start_seconds + p * grid.step_seconds for p in (first, last))
        raise PrometheusBadAnswer(
            f"query {query!r}: Prometheus answered a sample at {stamps[off_grid][0]!r}, outside the requested {start}..{end} every {grid.step_seconds} s"
        )
    return positions


def _grouped_points(name: str, query: str, labels: tuple[str, ...], grid: TimeGrid, first: int, last: int,
                    answer: Iterable[Sampled]) -> GroupedChunk:
    """The series of an answer keyed by their `labels` values, each on grid points first..last."""
    if not labels:  # a cluster-level value: one series at most (counted before anything else is said about them)
        answer = list(answer)
        if len(answer) > 1:
            raise PrometheusQueryError(f"query {query!r} returned {len(answer)} series; expected one after aggregation")
    series, non_finite = {}, 0
    for metric, stamps, values in answer:
        missing = next((label for label in labels if label not in metric), None)
        if missing is not None:
            raise PrometheusQueryError(
                f"metric {name!r}: query {query!r} returned a series without the entity label {missing!r} "
                f"(labels {metric}); the query must keep {missing!r} (aggregate `by ({', '.join(labels)})` or leave it "
                "unaggregated), or mark the metric `entityJoin: broadcast` if it is a cluster-level value")
        key = tuple(metric[label] for label in labels)
        if key in series:
            raise PrometheusQueryError(f"metric {name!r}: query {query!r} returned two series for {dict(zip(labels, key))}")
        bad = ~np.isfinite(values)
        non_finite += int(bad.sum())
        values[bad] = np.nan
        points = np.full(last + 1 - first, np.nan)
        points[_grid_positions(stamps, grid, first, last, query) - first] = values
        series[key] = points
    return GroupedChunk(first, series, non_finite, 0.0)


_MATRIX_START = b'{"status":"success","data":{"resultType":"matrix","result":['
# One series' opening up to its samples: a labels object of JSON strings (escapes included), then "values".
_SERIES_START = re.compile(rb'\{"metric":(\{(?:"(?:[^"\\]|\\.)*":"(?:[^"\\]|\\.)*",?)*\}),"values":\[')


class OtherLayout(Exception):
    """The body is not in Prometheus' compact matrix layout: the JSON decoder reads it instead."""


def scan_matrix(chunks: Iterable[bytes]) -> Iterator[Sampled]:
    """The series of a matrix answer in Prometheus' compact JSON layout, each yielded as soon as its
    bytes have arrived (the body is never held whole, nor are its series: the caller keeps what it
    makes of each). Raises OtherLayout, possibly after some series, when the body is laid out
    otherwise (the caller then decodes it as JSON and checks it there)."""
    stream = iter(chunks)
    buffer, ended = bytearray(), False

    def more() -> bool:
        nonlocal ended
        chunk = next(stream, None)
        ended = chunk is None
        if chunk:
            buffer.extend(chunk)
        return not ended

    while len(buffer) < len(_MATRIX_START) and more():
        pass
    if not buffer.startswith(_MATRIX_START):
        raise OtherLayout
    del buffer[: len(_MATRIX_START)]
    while True:
        while not buffer[:1] and more():
            pass
        if buffer[:1] == b"]":
            return
        opening = _SERIES_START.match(buffer)
        while opening is None and len(buffer) < MAX_LABELS_BYTES and more():
            opening = _SERIES_START.match(buffer)
        if opening is None:
            raise OtherLayout
        end = buffer.find(b"]]", opening.end())
        while end < 0:
            searched = len(buffer)
            if not more():
                break
            end = buffer.find(b"]]", max(opening.end(), searched - 1))  # only what arrived (and a "]]" split across chunks)
        while len(buffer) < end + 4 and more():
            pass
        if end < 0 or buffer[end + 2 : end + 3] != b"}":  # no samples, or more than values (histograms): the JSON path says
            raise OtherLayout
        parts = bytes(buffer[opening.end() + 1 : end]).split(b'"')  # ts,"v"],[ts,"v" -> [b'ts,', b'v', b'],[ts,', b'v', b'']
        try:
            values = np.array(parts[1::2]).astype(np.float64)
            stamps = np.array([float(part.strip(b"],[")) for part in parts[0:-1:2]])
        except ValueError:
            raise OtherLayout from None
        if len(stamps) != len(values) or parts[-1] != b"":
            raise OtherLayout
        following = buffer[end + 3 : end + 4]
        if following not in (b",", b"]"):
            raise OtherLayout
        labels = json.loads(bytes(opening.group(1)))
        del buffer[: end + 3 + (following == b",")]
        yield labels, stamps, values


def _matrix_series(data: dict, query: str) -> Series:
    """The series of a decoded answer, which must be a matrix."""
    if data.get("resultType") != "matrix":
        raise PrometheusQueryError(f"query {query!r} returned a {data.get('resultType')}, not a range of values (resultType matrix)")
    out: Series = []
    for position, _ in enumerate(_field(data, "result", list, query)):
        series = _field(data["result"], position, dict, query)
        labels = series.get("metric", {})
        if not isinstance(labels, dict):
            raise PrometheusBadAnswer(f"Prometheus' answer to query {query!r} has a series whose `metric` is not an object")
        out.append((labels, *_samples(series, query)))
    return out


def _field(container, key, kind: type, query: str):
    """container[key], which must be a `kind`; a PrometheusBadAnswer naming the query otherwise."""
    try:
        value = container[key]
    except (KeyError, IndexError, TypeError):
        raise PrometheusBadAnswer(f"Prometheus' answer to query {query!r} has no {key!r}: not a query_range answer") from None
    if not isinstance(value, kind):
        raise PrometheusBadAnswer(f"Prometheus' answer to query {query!r} has a {type(value).__name__} at {key!r}, expected a {kind.__name__}")
    return value


def _samples(series: dict, query: str) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps, values) of one series of a matrix answer; values are strings in the API ("+Inf" included)."""
    if "histograms" in series or "histogram" in series:
        raise PrometheusQueryError(
            f"query {query!r} returned native histograms, not numbers; wrap it, e.g. histogram_quantile(0.9, ...) or histogram_count(...)"
        )
    samples = _field(series, "values", list, query)
    try:
        stamps = np.array([float(s[0]) for s in samples], dtype=np.float64)
        values = np.array([float(s[1]) for s in samples], dtype=np.float64)
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise PrometheusBadAnswer(f"Prometheus' answer to query {query!r} holds a sample that is not [time, \"number\"] ({exc})") from None
    if not np.isfinite(stamps).all():
        raise PrometheusBadAnswer(f"Prometheus' answer to query {query!r} holds a sample with a non-finite timestamp")
    return stamps, values
