"""A large request neither stalls the server nor goes beyond the default row limit (real server, 127.0.0.1)."""

import json
import threading
import time

import numpy as np
import pytest
import requests

from modelkit.serving.cli import DEFAULT_MAX_ROWS
from modelkit.lifecycle.gate import run_gate
from modelkit.lifecycle.promotion import promote
from modelkit.registry import get_model

from lifecycle.factory import DETECTOR, detector, write_test_registry, write_version
from serving.live_server import running_server

SMALL = {"instances": [[0.5, 0.6, 0.4, 0.3, 0.8]]}


@pytest.fixture(scope="module")
def forest_server(tmp_path_factory):
    """A 1000-tree detector, so that predicting the largest request takes far longer than parsing it."""
    base = tmp_path_factory.mktemp("load")
    registry = write_test_registry(base / "registry.yaml")
    root = base / "models"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELKIT_REGISTRY", str(registry))
        write_version(root, DETECTOR, "v1", estimator=detector(5, n_estimators=1000))
        run_gate(root, get_model(DETECTOR), "v1")
        promote(root, DETECTOR, "v1", keep_versions=5)
    with running_server(root, registry, [DETECTOR]) as url:
        yield f"{url}/v1/models/{DETECTOR}:predict"


def rows_body(count):
    rows = np.random.default_rng(2).normal(0.5, 0.1, size=(count, 5)).round(3)
    return json.dumps({"instances": rows.tolist()})


def test_small_requests_answer_while_a_large_one_is_predicted(forest_server):
    """Before, predict ran on the event loop: a small request waited for the whole large predict."""
    endpoint, body = forest_server, rows_body(DEFAULT_MAX_ROWS)
    large = {}

    def send_large():
        start = time.perf_counter()
        large["response"] = requests.post(endpoint, data=body, headers={"Content-Type": "application/json"}, timeout=600)
        large["seconds"] = time.perf_counter() - start

    with requests.Session() as session:
        alone = []
        for _ in range(10):
            start = time.perf_counter()
            assert session.post(endpoint, json=SMALL, timeout=60).status_code == 200
            alone.append(time.perf_counter() - start)
        sender = threading.Thread(target=send_large)
        sender.start()
        during, deadline = [], time.monotonic() + 600
        while sender.is_alive() and time.monotonic() < deadline:
            start = time.perf_counter()
            assert session.post(endpoint, json=SMALL, timeout=600).status_code == 200
            during.append(time.perf_counter() - start)
        sender.join()
    assert large["response"].status_code == 200 and len(large["response"].json()["predictions"]) == DEFAULT_MAX_ROWS
    shown = (f"large request {large['seconds']:.2f} s; small alone median {np.median(alone) * 1e3:.1f} ms; "
             f"during: {len(during)} requests, max {max(during) * 1e3:.1f} ms")
    # Every small request started during the large one answered in a fraction of its time, and there were
    # many of them: none waited for the large predict.
    assert max(during) < large["seconds"] / 3, shown
    assert len(during) >= 5, shown


def test_more_rows_than_the_default_limit_get_413_naming_it(forest_server):
    response = requests.post(forest_server, data=rows_body(DEFAULT_MAX_ROWS + 1),
                             headers={"Content-Type": "application/json"}, timeout=120)
    assert response.status_code == 413
    assert f"{DEFAULT_MAX_ROWS + 1} rows, more than the limit of {DEFAULT_MAX_ROWS} per request" in response.json()["error"]
