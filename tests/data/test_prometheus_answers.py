"""Answers that are not numbers, or not whole, from a real Prometheus behind the TLS token proxy
(tests/fixtures/token_proxy.py spoils answers on request): non-finite samples are counted gaps,
a body cut off mid-transfer is retried and then goes through the fallback policy like any
transport failure, and a malformed answer is a DataError naming the query.

Sample values are strings in the HTTP API and may be "+Inf", "-Inf" or "NaN"
(https://prometheus.io/docs/prometheus/latest/querying/api/#expression-query-result-formats);
range answers carry `values`, or `histograms` for native histograms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixtures import history
from modelkit.data import load_training_frame
from modelkit.data import prometheus as prom
from modelkit.data.grid import make_grid
from modelkit.errors import DataError
from modelkit.registry import MetricSpec

from .helpers import settings, spec_with

CPU_QUERY = "avg(instance:node_cpu:ratio)"


def client(server, **options) -> prom.PrometheusClient:
    return prom.PrometheusClient(server.url, token=server.token, ca_bundle=server.ca_bundle, backoff_seconds=0.01, **options)


def gauge(name: str, query: str) -> MetricSpec:
    return MetricSpec(name=name, query=query, aggregate="mean", unit="ratio")


@pytest.mark.parametrize("first_minute", [0, 17], ids=["window-opens-on-non-finite", "window-opens-mid-hour"])
def test_inf_and_nan_samples_are_gaps_counted_in_the_provenance(prometheus_server, first_minute):
    """Also when the window's first minute is non-finite in every metric: that is a gap like the
    others, not the start of what Prometheus holds (it was trimmed as such when the suite happened
    to start at xx:59 or xx:29)."""
    # x / 0 is +Inf (or -Inf), 0 / 0 is NaN: at minutes 0 and 30 (+-Inf), and 0, 20, 40 (NaN) of every hour.
    every_30 = "on() (minute() % 30 > bool 0)"  # 0 at minutes 0 and 30, else 1
    every_20 = "on() (minute() % 20 > bool 0)"
    divided = gauge("cpu_divided", f"{CPU_QUERY} / {every_30}")
    negated = gauge("cpu_negated", f"-{CPU_QUERY} / {every_30}")
    zero_by_zero = gauge("cpu_nan", f"{CPU_QUERY} * {every_20} / {every_20}")
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="24")
    hour = prometheus_server.history_end // 3600 * 3600
    end = hour - 3600 + (first_minute - 1) * 60  # the grid is (end - 24 h, end]: it opens at `first_minute`
    tf = load_training_frame(spec_with(divided, negated, zero_by_zero), settings(**env), end=end)
    assert tf.frame.index[0].minute == first_minute and len(tf.frame) == 24 * 60
    assert "history_kept" not in tf.provenance
    assert tf.provenance["non_finite_samples"] == {"cpu_divided": 48, "cpu_negated": 48, "cpu_nan": 72}
    assert tf.provenance["gaps_filled"] == {"cpu_divided": 48, "cpu_negated": 48, "cpu_nan": 72}
    features = tf.features.to_numpy()
    assert np.isfinite(features).all()
    real = history.expected_mean("instance:node_cpu:ratio", tf.frame.index.asi8 // 10**9)
    untouched = ~tf.frame["is_anomaly"].to_numpy() & (tf.frame.index.minute % 10 != 0)
    np.testing.assert_allclose(tf.frame["cpu_divided"].to_numpy()[untouched], real[untouched], rtol=1e-12)


def test_a_query_of_only_infinities_is_no_data_and_the_policy_decides(prometheus_server):
    infinite = spec_with(gauge("cpu", f"{CPU_QUERY} / 0"))
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="2")
    with pytest.raises(DataError, match=r"no data for cpu .*120 samples were \+Inf/-Inf/NaN.*FALLBACK_POLICY=fail"):
        load_training_frame(infinite, settings(**env), end=prometheus_server.history_end)
    tf = load_training_frame(infinite, settings(**env, FALLBACK_POLICY="synthetic"), end=prometheus_server.history_end)
    assert tf.provenance["real_data"] is False and "+Inf" in tf.provenance["fallbacks"][0]["reason"]
    assert np.isfinite(tf.features.to_numpy()).all()


@pytest.mark.parametrize("cut", ["short", "relabelled"])
def test_a_body_cut_off_mid_transfer_is_retried(prometheus_server, cut):
    """short: fewer bytes than Content-Length, then the connection closes; relabelled: a matching
    Content-Length on half a JSON document (a proxy that buffered a broken upstream answer)."""
    grid = make_grid(1, 60, end=prometheus_server.history_end)
    retrying = client(prometheus_server)
    prometheus_server.proxy.cut_next(cut)
    values = retrying.fetch({"cpu": CPU_QUERY}, grid)["cpu"]
    assert not np.isnan(values).any() and retrying.stats.retries == 1


def test_answers_cut_off_every_time_go_through_the_fallback_policy(prometheus_server):
    cpu = spec_with(gauge("cpu", CPU_QUERY))
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="1")
    prometheus_server.proxy.cut_next("short", "relabelled")
    with pytest.raises(DataError, match=r"no usable answer to query .*after 2 attempts.*FALLBACK_POLICY=fail"):
        load_training_frame(cpu, settings(**env), end=prometheus_server.history_end, client=client(prometheus_server, attempts=2))
    prometheus_server.proxy.cut_next("relabelled", "short")
    tf = load_training_frame(cpu, settings(**env, FALLBACK_POLICY="synthetic"), end=prometheus_server.history_end,
                             client=client(prometheus_server, attempts=2))
    assert tf.provenance["real_data"] is False and tf.provenance["query_timings"]["retries"] == 1
    assert "no usable answer" in tf.provenance["fallbacks"][0]["reason"]


def _matrix(series: list[dict], result_type: str = "matrix") -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": result_type, "result": series}}).encode()


def malformed_answers(start: int) -> dict[str, tuple[bytes, type, str]]:
    """name -> (body, error class, what the message says); `start` is the window's first sample."""
    ok = [start, "0.5"]
    return {
        "text value": (_matrix([{"metric": {}, "values": [ok, [start + 60, "high"]]}]), prom.PrometheusBadAnswer, "not \\[time, \"number\"\\]"),
        "sample too short": (_matrix([{"metric": {}, "values": [ok, [start + 60]]}]), prom.PrometheusBadAnswer, "not \\[time, \"number\"\\]"),
        "timestamp before the window": (_matrix([{"metric": {}, "values": [[start - 3600, "0.5"], ok]}]), prom.PrometheusBadAnswer, "outside the requested"),
        "timestamp after the window": (_matrix([{"metric": {}, "values": [ok, [start + 10**6, "0.5"]]}]), prom.PrometheusBadAnswer, "outside the requested"),
        "timestamp between grid points": (_matrix([{"metric": {}, "values": [[start + 30, "0.5"]]}]), prom.PrometheusBadAnswer, "outside the requested"),
        "native histograms": (_matrix([{"metric": {}, "histograms": [[start, {"count": "3", "sum": "1.5", "buckets": []}]]}]),
                              prom.PrometheusQueryError, "native histograms"),
        "vector result": (_matrix([{"metric": {}, "value": ok}], "vector"), prom.PrometheusQueryError, "returned a vector"),
        "no data": (b'{"status": "success"}', prom.PrometheusBadAnswer, "has no 'data'"),
        "no result": (b'{"status": "success", "data": {"resultType": "matrix"}}', prom.PrometheusBadAnswer, "has no 'result'"),
        "series without values": (_matrix([{"metric": {}}]), prom.PrometheusBadAnswer, "has no 'values'"),
        "values not a list": (_matrix([{"metric": {}, "values": "0.5"}]), prom.PrometheusBadAnswer, "has a str at 'values'"),
        "JSON not an object": (b'["success"]', prom.PrometheusBadAnswer, "not an object"),
    }


@pytest.mark.parametrize("case", list(malformed_answers(0)))
def test_a_malformed_answer_is_a_data_error_naming_the_query(prometheus_server, case):
    grid = make_grid(1, 60, end=prometheus_server.history_end)
    body, error, says = malformed_answers(grid.start_seconds)[case]
    prometheus_server.proxy.answer_next(body)
    with pytest.raises(error, match=says) as raised:
        client(prometheus_server).fetch({"cpu": CPU_QUERY}, grid)
    assert CPU_QUERY in str(raised.value)
    assert isinstance(raised.value, DataError)


def test_a_malformed_answer_goes_through_the_fallback_policy_but_a_histogram_query_never_does(prometheus_server):
    cpu = spec_with(gauge("cpu", CPU_QUERY))
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="1", FALLBACK_POLICY="synthetic")
    start = make_grid(1, 60, end=prometheus_server.history_end).start_seconds
    answers = malformed_answers(start)
    prometheus_server.proxy.answer_next(answers["text value"][0])
    tf = load_training_frame(cpu, settings(**env), end=prometheus_server.history_end, client=client(prometheus_server))
    assert tf.provenance["real_data"] is False and CPU_QUERY in tf.provenance["fallbacks"][0]["reason"]
    prometheus_server.proxy.answer_next(answers["native histograms"][0])
    with pytest.raises(prom.PrometheusQueryError, match="native histograms"):  # the query must change; synthetic data would hide it
        load_training_frame(cpu, settings(**env), end=prometheus_server.history_end, client=client(prometheus_server))


def test_a_grouped_answer_that_leaves_the_compact_layout_midway_is_read_whole_by_the_json_decoder(prometheus_server):
    """Grouped answers are put on the grid a series at a time as they stream in (scan_matrix); when a
    later series is laid out otherwise, the request is sent again and decoded as JSON, and nothing of
    the series read before is kept twice or lost."""
    grid = make_grid(1, 60, end=prometheus_server.history_end)
    stamps = [grid.start_seconds + 60 * i for i in range(grid.points)]
    compact = {"metric": {"instance": "a"}, "values": [[t, "0.25"] for t in stamps]}
    reordered = {"values": [[t, "0.75"] for t in stamps[1:]], "metric": {"instance": "b"}}  # keys in another order
    body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [compact, reordered]}}, separators=(",", ":")).encode()
    prometheus_server.proxy.answer_next(body, body)
    grouped = client(prometheus_server)
    series = grouped.fetch_grouped({"cpu": "avg by (instance) (x)"}, {"cpu": ("instance",)}, grid)["cpu"]
    assert grouped.stats.retries == 0 and grouped.stats.requests == 2  # sent again for the JSON decoder: not a failure, but a request
    assert sorted(series) == [("a",), ("b",)]
    assert (series[("a",)] == 0.25).all()
    assert np.isnan(series[("b",)][0]) and (series[("b",)][1:] == 0.75).all()
