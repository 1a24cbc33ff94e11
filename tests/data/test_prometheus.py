"""The Prometheus client and the prometheus/hybrid modes against a real Prometheus
(tests/fixtures/prometheus.py): full grids, exact seams, token + TLS, retries, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
import requests

from fixtures import history
from fixtures.prometheus import HISTORY_DAYS, start_prometheus
from modelkit.data import fetch_prometheus_data, load_training_frame
from modelkit.data import prometheus as prom
from modelkit.data.grid import make_grid
from modelkit.errors import DataError
from modelkit.registry import MetricSpec

from .helpers import settings, spec, spec_with

CPU = MetricSpec(name="node_cpu_utilisation", query="instance:node_cpu:ratio", aggregate="mean", unit="ratio")


def client(server, **options) -> prom.PrometheusClient:
    return prom.PrometheusClient(server.url, token=server.token, ca_bundle=server.ca_bundle, backoff_seconds=0.01, **options)


def requested_points(params: dict[str, str]) -> int:
    return int((float(params["end"]) - float(params["start"])) // int(params["step"].rstrip("s"))) + 1


def test_720h_pull_at_60s_returns_the_full_grid_in_chunks_of_at_most_11000_points(prometheus_server):
    grid = make_grid(720, 60, end=prometheus_server.history_end)
    first_request = len(prometheus_server.proxy.forwarded)
    values = client(prometheus_server).fetch({"cpu": "avg(instance:node_cpu:ratio)"}, grid)["cpu"]
    assert grid.points == 43_200
    assert not np.isnan(values).any()
    np.testing.assert_allclose(values, history.expected_mean("instance:node_cpu:ratio", grid.seconds()), rtol=1e-12)
    requests_sent = prometheus_server.proxy.forwarded[first_request:]
    assert len(requests_sent) == 4
    assert max(requested_points(p) for p in requests_sent) <= 11_000
    covered = sorted(np.arange(float(p["start"]), float(p["end"]) + 1, 60).tolist() for p in requests_sent)
    assert sum(covered, []) == grid.seconds().tolist()  # no point twice, none missing


def test_chunk_seams_are_exact_with_many_small_chunks(prometheus_server, monkeypatch):
    grid = make_grid(3, 60, end=prometheus_server.history_end)
    whole = client(prometheus_server).fetch({"cpu": "avg(instance:node_cpu:ratio)"}, grid)["cpu"]
    monkeypatch.setattr(prom, "MAX_POINTS_PER_REQUEST", 7)  # 180 points -> 26 chunks, 25 seams
    chunked_client = client(prometheus_server, max_in_flight=3)
    chunked = chunked_client.fetch({"cpu": "avg(instance:node_cpu:ratio)"}, grid)["cpu"]
    assert chunked_client.stats.requests == 26
    np.testing.assert_array_equal(chunked, whole)


def test_another_step_gives_another_grid_with_the_same_values(prometheus_server):
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="720", PROMETHEUS_STEP_SECONDS="300")
    tf = load_training_frame(spec_with(CPU), settings(**env), end=prometheus_server.history_end)
    assert len(tf.frame) == 720 * 12 and (tf.frame.index.asi8 % (300 * 10**9) == 0).all()
    untouched = ~tf.frame["is_anomaly"].to_numpy()
    real = history.expected_mean("instance:node_cpu:ratio", tf.frame.index.asi8 // 10**9)
    np.testing.assert_allclose(tf.frame["node_cpu_utilisation"].to_numpy()[untouched], real[untouched], rtol=1e-12)


def test_prometheus_mode_is_80_percent_untouched_real_rows_and_20_percent_labelled_anomalies(prometheus_server):
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="168", SEED="3")
    tf = load_training_frame(spec(), settings(**env), end=prometheus_server.history_end)
    frame, n = tf.frame, len(tf.frame)
    assert n == 168 * 60 and list(frame.columns) == [*spec().metric_names, "is_anomaly", "anomaly_kind"]
    assert tf.provenance["rows_per_source"] == {"prometheus": round(0.8 * n), "synthetic": n - round(0.8 * n)}
    assert frame["is_anomaly"].sum() == round(0.2 * n)
    assert (tf.row_source == "synthetic").equals(frame["is_anomaly"])
    assert tf.provenance["real_data"] is True and tf.provenance["used_sources"] == ["prometheus", "synthetic"]
    assert tf.provenance["gaps_filled"] == dict.fromkeys(spec().metric_names, 0)
    # Untouched rows are exactly what Prometheus holds; injected rows are changed in the real timeline.
    real = history.expected_mean("instance:node_cpu:ratio", frame.index.asi8 // 10**9)
    untouched = ~frame["is_anomaly"].to_numpy()
    np.testing.assert_allclose(frame["node_cpu_utilisation"].to_numpy()[untouched], real[untouched], rtol=1e-12)
    restarts = frame.loc[untouched, "container_restarts_rate"]
    assert restarts.mean() == pytest.approx(len(history.PODS) / (240 * 60), rel=0.15)  # counter -> per-second rate
    assert tf.provenance["query_timings"]["requests"] == len(spec().metrics)


def test_hybrid_mode_is_half_untouched_real_rows_with_synthetic_blocks_spliced_in(prometheus_server):
    env = prometheus_server.env(DATA_SOURCE="hybrid", TRAINING_HOURS="168")
    tf = load_training_frame(spec(), settings(**env), end=prometheus_server.history_end)
    frame, n = tf.frame, len(tf.frame)
    assert tf.provenance["rows_per_source"]["prometheus"] == n // 2
    assert frame["is_anomaly"].sum() == round(0.2 * n)
    blocks = (tf.row_source == "synthetic") & ~frame["is_anomaly"]
    assert blocks.sum() == n - n // 2 - round(0.2 * n)
    real = history.expected_mean("instance:node_cpu:ratio", frame.index.asi8 // 10**9)
    cpu = frame["node_cpu_utilisation"].to_numpy()
    assert not np.allclose(cpu[blocks.to_numpy()], real[blocks.to_numpy()])
    # Spliced blocks meet the real series at their edges: no jump bigger than normal minute-to-minute change.
    normal_jump = np.abs(np.diff(real)).max()
    edges = np.flatnonzero(np.diff(blocks.to_numpy().astype(int)))
    assert np.abs(cpu[edges + 1] - cpu[edges]).max() < 3 * normal_jump + 0.05


def test_bearer_token_and_test_ca_are_required_and_used(prometheus_server):
    grid = make_grid(1, 60, end=prometheus_server.history_end)
    authorized = prometheus_server.proxy.authorized
    assert client(prometheus_server).fetch({"cpu": "avg(instance:node_cpu:ratio)"}, grid)["cpu"].shape == (60,)
    assert prometheus_server.proxy.authorized == authorized + 1
    no_token = prom.PrometheusClient(prometheus_server.url, ca_bundle=prometheus_server.ca_bundle)
    with pytest.raises(prom.PrometheusUnavailable, match="HTTP 401.*PROMETHEUS_TOKEN"):
        no_token.fetch({"cpu": "avg(instance:node_cpu:ratio)"}, grid)
    system_cas = prom.PrometheusClient(prometheus_server.url, token=prometheus_server.token)
    with pytest.raises(prom.PrometheusUnavailable, match="TLS .* failed.*PROMETHEUS_CA_BUNDLE"):
        system_cas.fetch({"cpu": "avg(instance:node_cpu:ratio)"}, grid)
    assert system_cas.verify is True  # verification is on by default


def test_token_file_from_the_environment_reaches_prometheus(prometheus_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(prometheus_server.token + "\n")
    # 3 h: the history's restarts are at most 91 min apart, so the restart rate is never constant.
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="3", PROMETHEUS_TOKEN_FILE=str(token_file))
    del env["PROMETHEUS_TOKEN"]
    assert load_training_frame(spec(), settings(**env), end=prometheus_server.history_end).provenance["real_data"] is True
    token_file.write_text("not-the-token")
    with pytest.raises(DataError, match="HTTP 401"):
        load_training_frame(spec(), settings(**env), end=prometheus_server.history_end)


def test_timeouts_429_and_5xx_are_retried_but_4xx_is_not(prometheus_server):
    grid = make_grid(1, 60, end=prometheus_server.history_end)
    retrying = client(prometheus_server)
    prometheus_server.proxy.fail_next(503, 429, 502)
    assert not np.isnan(retrying.fetch({"cpu": "avg(instance:node_cpu:ratio)"}, grid)["cpu"]).any()
    assert retrying.stats.retries == 3
    impatient = client(prometheus_server, timeout_seconds=0.3)
    prometheus_server.proxy.stall_next(1.0)
    assert not np.isnan(impatient.fetch({"cpu": "avg(instance:node_cpu:ratio)"}, grid)["cpu"]).any()
    assert impatient.stats.retries == 1
    not_found = client(prometheus_server)
    prometheus_server.proxy.fail_next(404)
    with pytest.raises(prom.PrometheusQueryError, match="HTTP 404"):
        not_found.fetch({"cpu": "avg(instance:node_cpu:ratio)"}, grid)
    assert not_found.stats.retries == 0


def test_retry_waits_as_long_as_the_servers_retry_after(prometheus_server, monkeypatch):
    waits = []
    monkeypatch.setattr(prom.time, "sleep", waits.append)
    prometheus_server.proxy.fail_next(429, 429, retry_after=2)
    values = client(prometheus_server).fetch({"cpu": "avg(instance:node_cpu:ratio)"}, make_grid(1, 60, end=prometheus_server.history_end))
    assert not np.isnan(values["cpu"]).any()
    assert waits == [2.0, 2.0]  # Retry-After beats the 0.01 s / 0.02 s backoff


def test_bad_query_reports_prometheus_error_text_and_is_never_a_fallback(prometheus_server):
    bad = spec_with(MetricSpec(name="cpu", query="rate(instance:node_cpu:ratio", unit="ratio"))
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="1", FALLBACK_POLICY="synthetic")
    with pytest.raises(prom.PrometheusQueryError, match=r"rejected the query .*HTTP 400.*bad_data: .*parse error"):
        load_training_frame(bad, settings(**env), end=prometheus_server.history_end)


def test_empty_result_fails_or_falls_back_as_the_policy_says(prometheus_server):
    missing = spec_with(CPU, MetricSpec(name="gone", query="no_such_metric_recorded", unit="ratio"))
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="2")
    with pytest.raises(DataError, match=r"no data for gone \(sum\(no_such_metric_recorded\)\).*FALLBACK_POLICY=fail"):
        load_training_frame(missing, settings(**env), end=prometheus_server.history_end)
    tf = load_training_frame(missing, settings(**env, FALLBACK_POLICY="synthetic"), end=prometheus_server.history_end)
    assert tf.provenance["used_sources"] == ["synthetic"] and tf.provenance["real_data"] is False
    assert "no data for gone" in tf.provenance["fallbacks"][0]["reason"]


def test_hybrid_gives_a_missing_metric_a_synthetic_stand_in_and_says_so(prometheus_server):
    missing = spec_with(CPU, MetricSpec(name="gone", query="no_such_metric_recorded", unit="ratio"))
    env = prometheus_server.env(DATA_SOURCE="hybrid", TRAINING_HOURS="24")
    tf = load_training_frame(missing, settings(**env), end=prometheus_server.history_end)
    assert tf.provenance["real_data"] is True
    [fallback] = tf.provenance["fallbacks"]
    assert fallback["metrics"] == ["gone"] and "no data for gone" in fallback["reason"]
    assert tf.frame["gone"].std() > 0 and list(tf.provenance["gaps_filled"]) == ["node_cpu_utilisation"]


def test_a_metric_covering_less_than_half_the_window_counts_as_missing(prometheus_server):
    recent_only = spec_with(MetricSpec(name="cpu", query=f"avg(instance:node_cpu:ratio) and on() (vector(time()) > {prometheus_server.history_end - 6 * 3600})", unit="ratio"))
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="24")
    with pytest.raises(DataError, match=r"too little data \(25% of the window, need 50%\) for cpu"):
        load_training_frame(recent_only, settings(**env), end=prometheus_server.history_end)


def test_gaps_are_filled_linearly_and_counted(prometheus_server):
    gappy = spec_with(MetricSpec(name="cpu", query="avg(instance:node_cpu:ratio) unless on() (minute() == 30)", unit="ratio"))
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="24")
    tf = load_training_frame(gappy, settings(**env), end=prometheus_server.history_end)
    assert tf.provenance["gaps_filled"] == {"cpu": 24}
    real = history.expected_mean("instance:node_cpu:ratio", tf.frame.index.asi8 // 10**9)
    at_half_past = np.flatnonzero((tf.frame.index.minute == 30) & ~tf.frame["is_anomaly"].to_numpy())
    at_half_past = at_half_past[(at_half_past > 0) & (at_half_past < len(real) - 1)]
    at_half_past = [i for i in at_half_past if not tf.frame["is_anomaly"].iloc[i - 1 : i + 2].any()]
    expected = (real[np.array(at_half_past) - 1] + real[np.array(at_half_past) + 1]) / 2
    np.testing.assert_allclose(tf.frame["cpu"].to_numpy()[at_half_past], expected, rtol=1e-12)


def test_stopped_server_is_retried_then_the_policy_decides(prometheus_server, tmp_path):
    process, url = start_prometheus(tmp_path / "throwaway", prometheus_server.pki)
    env = {"PROMETHEUS_URL": url, "PROMETHEUS_CA_BUNDLE": str(prometheus_server.ca_bundle), "DATA_SOURCE": "prometheus", "TRAINING_HOURS": "3"}
    with pytest.raises(DataError, match="no data for node_cpu_utilisation"):  # up and answering, but holds no history
        load_training_frame(spec(), settings(**env), end=prometheus_server.history_end)
    process.stop()
    stopped = prom.PrometheusClient(url, ca_bundle=prometheus_server.ca_bundle, attempts=3, backoff_seconds=0.01)
    with pytest.raises(DataError, match=r"no usable answer to query .* after 3 attempts.*FALLBACK_POLICY=fail"):
        load_training_frame(spec(), settings(**env), client=stopped)
    assert stopped.stats.requests >= 3 and stopped.stats.retries >= 2
    again = prom.PrometheusClient(url, ca_bundle=prometheus_server.ca_bundle, attempts=2, backoff_seconds=0.01)
    tf = load_training_frame(spec(), settings(**env, FALLBACK_POLICY="synthetic"), client=again)
    assert tf.provenance["fallbacks"][0]["from"] == "prometheus" and "no usable answer" in tf.provenance["fallbacks"][0]["reason"]
    assert tf.provenance["query_timings"]["retries"] >= 1 and tf.provenance["rows_per_source"]["prometheus"] == 0


def test_recording_rules_turn_live_node_exporter_metrics_into_openshift_names(prometheus_server):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = requests.get(f"{prometheus_server.direct_url}/api/v1/query", params={"query": 'instance:node_memory_utilisation:ratio{job="node"}'},
                              verify=str(prometheus_server.ca_bundle), timeout=5).json()
        if answer["data"]["result"]:
            break
        time.sleep(1)
    value = float(answer["data"]["result"][0]["value"][1])
    assert 0 < value < 1


def test_counter_expression_is_rated_through_a_subquery_like_a_bare_selector(prometheus_server):
    bare = MetricSpec(name="restarts", query="kube_pod_container_status_restarts_total", type="counter")
    expression = MetricSpec(name="restarts", query="kube_pod_container_status_restarts_total * 1", type="counter")
    # A week holds ~42 restarts per pod, so leaving out the rows with injected anomalies
    # cannot move the mean rate much (a day's 6 made this comparison a coin toss).
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS="168")
    frames = [load_training_frame(spec_with(m), settings(**env), end=prometheus_server.history_end) for m in (bare, expression)]
    untouched = ~(frames[0].frame["is_anomaly"] | frames[1].frame["is_anomaly"]).to_numpy()
    mean = [tf.frame["restarts"].to_numpy()[untouched].mean() for tf in frames]
    assert mean[0] == pytest.approx(mean[1], rel=0.05) and mean[0] == pytest.approx(len(history.PODS) / (240 * 60), rel=0.2)


def test_guide_fetch_prometheus_data_reads_the_environment(prometheus_server, monkeypatch):
    for name, value in prometheus_server.env(MODEL_NAME="predictive-analytics").items():
        monkeypatch.setenv(name, value)
    data = fetch_prometheus_data(hours=3, end=prometheus_server.history_end)
    assert list(data.columns) == ["node_cpu_utilisation", "node_memory_utilisation"] and len(data) == 180
    assert data.attrs["provenance"]["real_data"] is True and data.attrs["provenance"]["rows_per_source"]["prometheus"] == 144



def test_a_window_longer_than_the_history_starts_at_the_first_sample_instead_of_inventing_flat_days(prometheus_server):
    """OpenShift's platform Prometheus keeps 15 days and the registry's forecaster asks 30: the rows
    before the oldest sample used to be filled with its value (days of flat "real" data)."""
    asked_hours = (HISTORY_DAYS + 6) * 24
    env = prometheus_server.env(DATA_SOURCE="prometheus", TRAINING_HOURS=str(asked_hours), PROMETHEUS_STEP_SECONDS="300")
    tf = load_training_frame(spec_with(CPU), settings(**env), end=prometheus_server.history_end)
    kept = tf.provenance["history_kept"]
    first = tf.frame.index[0].timestamp()
    oldest = prometheus_server.history_end // 86400 * 86400 - HISTORY_DAYS * 86400
    assert kept["asked_hours"] == asked_hours and oldest <= first < oldest + 300
    assert kept["kept_hours"] == pytest.approx(len(tf.frame) * 300 / 3600, abs=1e-3) and kept["kept_hours"] < asked_hours - 6 * 24 + 24
    assert tf.provenance["window"]["start"] == kept["first_sample"] == tf.frame.index[0].isoformat()
    untouched = ~tf.frame["is_anomaly"].to_numpy()
    real = history.expected_mean("instance:node_cpu:ratio", tf.frame.index.asi8 // 10**9)
    np.testing.assert_allclose(tf.frame["node_cpu_utilisation"].to_numpy()[untouched], real[untouched], rtol=1e-12)
    assert len(tf.untouched) == len(tf.frame) == len(tf.row_source)
