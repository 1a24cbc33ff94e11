"""`scan_matrix` reads Prometheus' own answers (the real test Prometheus) exactly as the JSON decoder
does, whatever the chunking of the body, a series at a time as the body arrives, and gives up
(OtherLayout: the JSON path decides) on any other layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests

from modelkit.data.prometheus import OtherLayout, _matrix_series, scan_matrix


def chunked(body: bytes, size: int):
    return (body[i : i + size] for i in range(0, len(body), size))


def same(scanned, decoded):
    assert [labels for labels, _, _ in scanned] == [labels for labels, _, _ in decoded]
    for (_, stamps, values), (_, want_stamps, want_values) in zip(scanned, decoded):
        np.testing.assert_array_equal(stamps, want_stamps)
        np.testing.assert_array_equal(values, want_values)


@pytest.fixture(scope="module")
def answer(prometheus_server):
    end = prometheus_server.history_end
    form = {"query": "fleet:node_cpu:ratio", "start": str(end - 3 * 86400), "end": str(end), "step": "60s"}
    response = requests.post(f"{prometheus_server.direct_url}/api/v1/query_range", data=form, verify=str(prometheus_server.ca_bundle), timeout=30)
    return response.content


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
def test_a_real_answer_scans_like_the_json_decoder_in_any_chunking(answer, size):
    decoded = _matrix_series(json.loads(answer)["data"], "q")
    assert len(decoded) == 4  # worker-1..4 (worker-4 was there 2 of these 3 days)
    same(list(scan_matrix(chunked(answer, size))), decoded)


def test_label_values_with_quotes_brackets_and_the_word_values_are_read_as_labels():
    labels = {"instance": 'a "quoted" ]] },"values":[ name', "job": "x\\\\y"}
    body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": labels, "values": [[1.0, "1.5"], [61, "+Inf"], [121, "NaN"]]}]}}, separators=(",", ":")).encode()
    (scanned_labels, stamps, values), = scan_matrix(chunked(body, 5))
    assert scanned_labels == labels and stamps.tolist() == [1.0, 61.0, 121.0]
    assert values[0] == 1.5 and np.isinf(values[1]) and np.isnan(values[2])


@pytest.mark.parametrize("body", [
    b'{"status": "success", "data": {"resultType": "matrix", "result": []}}',  # spaced out: another encoder
    b'{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"1"]],"metric":{}}]}}',  # keys reordered
    b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]],"histograms":[]}]}}',
    b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"one"]]}]}}',  # not a number
    b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}',  # cut short
    b'{"status":"success","data":{"resultType":"vector","result":[]}}',
])
def test_any_other_layout_is_left_to_the_json_decoder(body):
    with pytest.raises(OtherLayout):
        list(scan_matrix(chunked(body, 3)))


def test_an_empty_matrix_is_no_series():
    assert list(scan_matrix([b'{"status":"success","data":{"resultType":"matrix","result":[]}}'])) == []


def test_each_series_is_given_as_soon_as_its_bytes_have_arrived(answer):
    """The grouped fetch puts each series on the grid as it is read: an answer's parsed samples
    (300 nodes x a week: 48 MB of times and values per metric, 4 answers in flight) are never all
    held at once, only the grid columns made of them."""
    pulled = []

    def body():
        for piece in chunked(answer, 4096):
            pulled.append(len(piece))
            yield piece

    series = scan_matrix(body())
    labels, stamps, _ = next(series)
    assert labels["instance"] == "worker-1" and len(stamps) == 3 * 1440 + 1
    assert sum(pulled) < len(answer) / 2  # worker-1's bytes (a quarter of the body) and one chunk more at most
    assert [labels["instance"] for labels, _, _ in series] == ["worker-2", "worker-3", "worker-4"]
    assert sum(pulled) == len(answer)
