"""The KServe-based server over real HTTP on 127.0.0.1."""

import json
import shutil

import joblib

import numpy as np
import pytest
import requests

from modelkit import artifacts
from modelkit.serving.local_server import SERVER_FILE, reload_local_server
from modelkit.lifecycle.promotion import promote
from modelkit.model_loading import LibraryVersionError

from lifecycle.factory import DETECTOR, FORECASTER, features_of, mark_accepted, promoted_setup, write_test_registry, write_version
from serving.live_server import running_server

GUIDE_REQUEST = {"instances": [[0.5, 0.6, 0.4, 0.3, 0.8]]}
BODY_LIMIT = 64 * 1024
ROW_LIMIT = 100


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Both models promoted under a fresh root, served by one real server."""
    root, registry = promoted_setup(tmp_path_factory.mktemp("serving"))
    with running_server(root, registry, [DETECTOR, FORECASTER], "--max-body-bytes", str(BODY_LIMIT),
                        "--max-rows", str(ROW_LIMIT)) as url:
        yield url, root


def post(url, path, body, content_type="application/json"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    headers = {"Content-Type": content_type} if content_type else {}
    return requests.post(url + path, data=data, headers=headers, timeout=30)


def local_model(root, model):
    return joblib.load(artifacts.served_model_path(root, model))  # as KServe's stock sklearn server loads it


def test_v1_and_v2_readiness(served):
    url, _ = served
    assert requests.get(f"{url}/v1/models/{DETECTOR}", timeout=5).json() == {"name": DETECTOR, "ready": True}
    assert requests.get(f"{url}/v2/models/{FORECASTER}/ready", timeout=5).json()["ready"] is True
    assert requests.get(f"{url}/v2/health/ready", timeout=5).status_code == 200


def test_guide_request_gets_the_models_prediction_and_version(served):
    url, root = served
    response = post(url, f"/v1/models/{DETECTOR}:predict", GUIDE_REQUEST)
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"] == local_model(root, DETECTOR).predict(GUIDE_REQUEST["instances"]).tolist()
    assert body["model_version"] == "v1"


def test_anomaly_scores_on_request(served):
    url, root = served
    rows = [[0.5, 0.6, 0.4, 0.3, 0.8], [0.5, 0.5, 0.5, 0.5, 0.5]]
    body = post(url, f"/v1/models/{DETECTOR}:predict", {"instances": rows, "parameters": {"return_scores": True}}).json()
    assert np.allclose(body["scores"], local_model(root, DETECTOR).decision_function(rows))
    assert len(body["predictions"]) == 2


def test_v2_infer_returns_predictions_scores_and_version(served):
    url, root = served
    request = {"inputs": [{"name": "instances", "shape": [1, 5], "datatype": "FP64", "data": [0.5, 0.6, 0.4, 0.3, 0.8]}],
               "parameters": {"return_scores": True}}
    body = post(url, f"/v2/models/{DETECTOR}/infer", request).json()
    outputs = {o["name"]: o["data"] for o in body["outputs"]}
    assert body["model_version"] == "v1"
    assert outputs["predictions"] == local_model(root, DETECTOR).predict([[0.5, 0.6, 0.4, 0.3, 0.8]]).tolist()
    assert set(outputs) == {"predictions", "scores"}


def test_forecaster_answers_a_row_of_its_own_features(served):
    url, root = served
    row = [[0.1] * len(features_of(FORECASTER))]
    body = post(url, f"/v1/models/{FORECASTER}:predict", {"instances": row}).json()
    assert np.allclose(body["predictions"], local_model(root, FORECASTER).predict(row))


BAD_REQUESTS = [
    ("wrong feature count", {"instances": [[0.5, 0.6, 0.4]]}, "application/json", 400, "has 3 values, the model expects 5"),
    ("text", {"instances": [["high", 0.6, 0.4, 0.3, 0.8]]}, "application/json", 400, '"high", not a number'),
    ("null", {"instances": [[None, 0.6, 0.4, 0.3, 0.8]]}, "application/json", 400, "is null, not a number"),
    ("NaN", '{"instances": [[NaN, 0.6, 0.4, 0.3, 0.8]]}', "application/json", 400, "NaN and Infinity are not valid JSON"),
    ("overflow", '{"instances": [[1e999, 0.6, 0.4, 0.3, 0.8]]}', "application/json", 400, "NaN and Infinity are not valid JSON"),
    ("empty instances", {"instances": []}, "application/json", 400, '"instances" is empty'),
    ("no instances", {"rows": [[0.5, 0.6, 0.4, 0.3, 0.8]]}, "application/json", 400, 'no "instances" list'),
    ("not JSON", "instances=0.5,0.6", "application/json", 400, "send Content-Type: application/json"),
    ("empty body", "", "application/json", 400, "the request body is empty"),
    ("missing Content-Type", json.dumps(GUIDE_REQUEST), None, 415, "Content-Type is missing"),
    ("wrong Content-Type", json.dumps(GUIDE_REQUEST), "text/plain", 415, "Content-Type is text/plain"),
    ("too large", json.dumps({"instances": [[0.5] * 5] * 5000}), "application/json", 413, "more than the limit"),
    ("scores of a forecaster", None, "application/json", 400, "has no scores"),
    ("parameters not an object", {**GUIDE_REQUEST, "parameters": ["return_scores"]}, "application/json", 400,
     '"parameters" must be an object'),
    ("return_scores a string", {**GUIDE_REQUEST, "parameters": {"return_scores": "no"}}, "application/json", 400,
     '"parameters.return_scores" is "no"; send true or false'),
    ("return_scores a number", {**GUIDE_REQUEST, "parameters": {"return_scores": 1}}, "application/json", 400,
     '"parameters.return_scores" is 1; send true or false'),
    # Finite in JSON, but beyond the float32 the forest computes in (sklearn/tree/_tree.pyx DTYPE).
    ("huge finite value", '{"instances": [[1e308, 0.6, 0.4, 0.3, 0.8]]}', "application/json", 400,
     f"instances[0][0] ({features_of(DETECTOR)[0]}) is 1e+308; every feature must be a finite number within"),
    ("value the scaler pushes beyond float32", '{"instances": [[0.5, 0.6, 0.4, 0.3, 3e38]]}', "application/json", 400,
     "instances[0][4] (container_restarts_rate) is 3e+38: the model's 'scale' step makes it"),
    ("more rows than --max-rows", {"instances": [[0.5] * 5] * (ROW_LIMIT + 1)}, "application/json", 413,
     f"{ROW_LIMIT + 1} rows, more than the limit of {ROW_LIMIT} per request"),
    ("charset other than UTF-8", json.dumps(GUIDE_REQUEST), "application/json; charset=latin-1", 415,
     "has charset latin-1; JSON is UTF-8"),
]


@pytest.mark.parametrize("case, body, content_type, status, message", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_request_gets_a_4xx_saying_what_to_send_and_the_server_keeps_answering(served, case, body, content_type,
                                                                                    status, message):
    url, _ = served
    model = DETECTOR
    if body is None:
        model, body = FORECASTER, {"instances": [[0.1] * len(features_of(FORECASTER))], "parameters": {"return_scores": True}}
    response = post(url, f"/v1/models/{model}:predict", body, content_type)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert post(url, f"/v1/models/{DETECTOR}:predict", GUIDE_REQUEST).status_code == 200


# RFC 8259 s.8.1 (JSON is UTF-8), RFC 6839 s.3.1 (+json suffix); media types are case-insensitive (RFC 9110 s.8.3.1).
JSON_CONTENT_TYPES = ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8",
                      'application/json; charset="utf-8"; foo=bar', "application/vnd.api+json"]


@pytest.mark.parametrize("content_type", JSON_CONTENT_TYPES)
def test_any_json_media_type_with_parameters_is_parsed(served, content_type):
    url, root = served
    expected = local_model(root, DETECTOR).predict(GUIDE_REQUEST["instances"]).tolist()
    response = post(url, f"/v1/models/{DETECTOR}:predict", GUIDE_REQUEST, content_type)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected
    request = {"inputs": [{"name": "instances", "shape": [1, 5], "datatype": "FP64", "data": GUIDE_REQUEST["instances"][0]}]}
    response = post(url, f"/v2/models/{DETECTOR}/infer", request, content_type)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == expected


def v2_request(data, shape=(1, 5), datatype="FP64", name="instances", **fields):
    return {"inputs": [{"name": name, "shape": list(shape), "datatype": datatype, "data": data}], **fields}


ROW = [0.5, 0.6, 0.4, 0.3, 0.8]
V2_BAD_REQUESTS = [
    ("INT8 beyond its range", v2_request([1000, 0, 0, 0, 0], datatype="INT8"), 400,
     "input 'instances' (INT8) has 1000 at data[0]; INT8 holds the integers -128..127"),
    ("UINT8 negative", v2_request([0, -1, 0, 0, 0], datatype="UINT8"), 400,
     "input 'instances' (UINT8) has -1 at data[1]; UINT8 holds the integers 0..255"),
    ("INT32 fraction", v2_request([0.5, 0, 0, 0, 0], datatype="INT32"), 400, "(INT32) has 0.5 at data[0]"),
    ("two inputs", {"inputs": v2_request(ROW)["inputs"] + v2_request(ROW, name="extra")["inputs"]}, 400,
     "the request has 2 inputs ('instances', 'extra'); send one FP64 input of shape [rows, 5]"),
    ("negative shape", v2_request(ROW, shape=(-1, 5)), 400,
     "input 'instances' has shape [-1, 5]; the shape must be [rows, 5], non-negative and matching the data"),
    ("shape larger than the data", v2_request(ROW, shape=(2, 5)), 400, "has 5 values, its shape [2, 5] needs 10"),
    ("more rows than --max-rows", v2_request(ROW * (ROW_LIMIT + 1), shape=(ROW_LIMIT + 1, 5)), 413,
     f"{ROW_LIMIT + 1} rows, more than the limit of {ROW_LIMIT} per request"),
    ("return_scores a string", v2_request(ROW, parameters={"return_scores": "no"}), 400,
     '"parameters.return_scores" is "no"; send true or false'),
    ("huge finite value", v2_request([1e308, 0.6, 0.4, 0.3, 0.8]), 400, f"instances[0][0] ({features_of(DETECTOR)[0]}) is 1e+308"),
]


@pytest.mark.parametrize("case, request_body, status, message", V2_BAD_REQUESTS, ids=[c[0] for c in V2_BAD_REQUESTS])
def test_bad_v2_request_gets_a_4xx_naming_the_input(served, case, request_body, status, message):
    url, _ = served
    response = post(url, f"/v2/models/{DETECTOR}/infer", request_body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_v2_integer_tensor_in_range_is_answered(served):
    url, root = served
    response = post(url, f"/v2/models/{DETECTOR}/infer", v2_request([0, 1, 0, 1, 0], datatype="INT8"))
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == local_model(root, DETECTOR).predict([[0, 1, 0, 1, 0]]).tolist()


def test_v2_text_tensor_is_refused(served):
    url, _ = served
    request = {"inputs": [{"name": "instances", "shape": [1], "datatype": "BYTES", "data": ["hello"]}]}
    response = post(url, f"/v2/models/{DETECTOR}/infer", request)
    assert response.status_code == 400 and "send FP64 numbers" in response.json()["error"]


def test_v2_values_that_overflow_their_type_are_refused(served):
    url, _ = served
    request = {"inputs": [{"name": "instances", "shape": [1, 5], "datatype": "FP32", "data": [1e39, 0.6, 0.4, 0.3, 0.8]}]}
    response = post(url, f"/v2/models/{DETECTOR}/infer", request)
    assert response.status_code == 400 and "must be a finite number" in response.json()["error"]


def structured_cloudevent(data):
    """A CloudEvents 1.0 event in structured mode (the attributes KServe's is_structured_cloudevent looks for)."""
    return {"specversion": "1.0", "type": "org.example.predict", "source": "tests", "id": "1",
            "time": "2026-01-01T00:00:00Z", "datacontenttype": "application/json", "data": data}


def test_the_lean_predict_route_answers_byte_for_byte_as_kserves_route(served):
    """The v1 predict of a served model skips KServe's router (serving/lean_predict.py); a structured CloudEvent
    with a plain JSON Content-Type still goes through KServe's V1Endpoints.predict, which unwraps it and answers
    plain JSON: both answers must be the same bytes and headers."""
    url, _ = served
    for body in (GUIDE_REQUEST, {**GUIDE_REQUEST, "parameters": {"return_scores": True}}):
        lean = post(url, f"/v1/models/{DETECTOR}:predict", body)
        through_kserve = post(url, f"/v1/models/{DETECTOR}:predict", structured_cloudevent(body))
        assert lean.status_code == through_kserve.status_code == 200
        assert lean.content == through_kserve.content
        assert lean.headers["content-type"] == through_kserve.headers["content-type"] == "application/json"


def test_cloudevents_get_cloudevent_answers(served):
    """KServe's CloudEvents handling (kserve/protocol/dataplane.py decode/encode) stays: binary mode (ce-* headers)
    and structured mode (application/cloudevents+json) are answered as CloudEvents."""
    url, _ = served
    binary = requests.post(f"{url}/v1/models/{DETECTOR}:predict", json=GUIDE_REQUEST, timeout=30, headers={
        "ce-specversion": "1.0", "ce-source": "tests", "ce-type": "org.example.predict", "ce-id": "1"})
    assert binary.status_code == 200 and binary.headers["ce-source"] == f"io.kserve.inference.{DETECTOR}"
    assert binary.json()["model_version"] == "v1"
    structured = post(url, f"/v1/models/{DETECTOR}:predict", structured_cloudevent(GUIDE_REQUEST),
                      "application/cloudevents+json")
    assert structured.status_code == 200, structured.text
    assert structured.headers["content-type"] == "application/cloudevents+json"
    assert structured.json()["data"]["model_version"] == "v1"


def predictions_counted(url, model):
    """KServe's request_predict_seconds histogram count for `model` (kserve/metrics.py), read from /metrics."""
    line = f'request_predict_seconds_count{{model_name="{model}"}} '
    found = [row for row in requests.get(f"{url}/metrics", timeout=5).text.splitlines() if row.startswith(line)]
    return float(found[0].removeprefix(line)) if found else 0.0


def test_every_predict_is_counted_in_kserves_metrics(served):
    """The chart's ServiceMonitor scrapes the predictors' /metrics: the lean route must keep KServe's histograms."""
    url, _ = served
    before = predictions_counted(url, DETECTOR)
    for _ in range(3):
        assert post(url, f"/v1/models/{DETECTOR}:predict", GUIDE_REQUEST).status_code == 200
    assert predictions_counted(url, DETECTOR) == before + 3


def test_predict_for_a_model_not_served_is_404(served):
    url, _ = served
    response = post(url, "/v1/models/no-such-model:predict", GUIDE_REQUEST)
    assert response.status_code == 404
    assert response.json()["error"] == "Model with name no-such-model does not exist."


ACCESS_LINE = f'"POST /v1/models/{DETECTOR}%3Apredict HTTP/1.1" 200'  # as uvicorn quotes the path


def test_requests_are_not_logged_unless_asked(served, tmp_path):
    """Off by default (uvicorn formats each line's arguments even when the level drops it); --access-log logs them."""
    url, root = served
    assert post(url, f"/v1/models/{DETECTOR}:predict", GUIDE_REQUEST).status_code == 200
    assert ACCESS_LINE not in (root.parent / "serve.log").read_text()
    logged_root, registry = promoted_setup(tmp_path)
    with running_server(logged_root, registry, [DETECTOR], "--access-log") as logged_url:
        assert post(logged_url, f"/v1/models/{DETECTOR}:predict", GUIDE_REQUEST).status_code == 200
        assert ACCESS_LINE in (tmp_path / "serve.log").read_text()


def test_unloading_a_model_is_refused(served):
    url, _ = served
    assert requests.post(f"{url}/v2/repository/models/{DETECTOR}/unload", timeout=5).status_code == 501
    assert post(url, f"/v1/models/{DETECTOR}:predict", GUIDE_REQUEST).json()["model_version"] == "v1"


def test_reload_takes_only_a_registry_model_directly_under_the_root(served):
    """The reload endpoint is unauthenticated: `..` must not load <root>/../model.pkl, nor a stray directory."""
    url, root = served
    shutil.copy(artifacts.served_model_path(root, DETECTOR), root.parent / artifacts.MODEL_FILE)
    stray = root / "stray"
    stray.mkdir()
    shutil.copy(artifacts.served_model_path(root, DETECTOR), stray / artifacts.MODEL_FILE)
    try:
        for name, status, message in [("%2E%2E", 400, "'..' is not a model name: a DNS-1123 label"),
                                      ("Anomaly-Detector", 400, "'Anomaly-Detector' is not a model name"),
                                      ("stray", 404, "stray")]:
            response = requests.post(f"{url}/v2/repository/models/{name}/load", timeout=30)
            assert response.status_code == status, response.text
            assert message in response.json()["error"]
        assert requests.get(f"{url}/v1/models/stray", timeout=5).status_code == 404
        assert requests.get(f"{url}/v2/models", timeout=5).json()["models"] == [DETECTOR, FORECASTER]
        assert requests.post(f"{url}/v2/repository/models/{DETECTOR}/load", timeout=30).status_code == 200
    finally:
        shutil.rmtree(stray)
        (root.parent / artifacts.MODEL_FILE).unlink()


def test_promotion_makes_a_running_local_server_reload(tmp_path, monkeypatch):
    registry = write_test_registry(tmp_path / "registry.yaml")
    monkeypatch.setenv("MODELKIT_REGISTRY", str(registry))
    root = tmp_path / "models"
    for run_id in ("v1", "v2"):
        write_version(root, DETECTOR, run_id)
        mark_accepted(artifacts.version_dir(root, DETECTOR, run_id))
    promote(root, DETECTOR, "v1", keep_versions=5)
    with running_server(root, registry, [DETECTOR]) as url:
        promote(root, DETECTOR, "v2", keep_versions=5)
        assert "now serves the new version" in reload_local_server(root, DETECTOR)
        assert post(url, f"/v1/models/{DETECTOR}:predict", GUIDE_REQUEST).json()["model_version"] == "v2"
        assert (root / SERVER_FILE).is_file()
    assert not (root / SERVER_FILE).exists(), "a stopped server leaves no record behind"
    assert reload_local_server(root, DETECTOR) is None


def test_a_running_server_picks_up_a_model_promoted_for_the_first_time(tmp_path, monkeypatch):
    registry = write_test_registry(tmp_path / "registry.yaml")
    monkeypatch.setenv("MODELKIT_REGISTRY", str(registry))
    root = tmp_path / "models"
    for model in (DETECTOR, FORECASTER):
        write_version(root, model, "v1")
        mark_accepted(artifacts.version_dir(root, model, "v1"))
    promote(root, DETECTOR, "v1", keep_versions=5)
    with running_server(root, registry, [DETECTOR]) as url:
        assert requests.get(f"{url}/v1/models/{FORECASTER}", timeout=5).status_code == 404
        promote(root, FORECASTER, "v1", keep_versions=5)
        assert "now serves" in reload_local_server(root, FORECASTER)
        row = {"instances": [[0.1] * len(features_of(FORECASTER))]}
        assert post(url, f"/v1/models/{FORECASTER}:predict", row).json()["model_version"] == "v1"


def test_a_served_version_pickled_by_another_scikit_learn_is_refused(tmp_path):
    from modelkit.serving.served_file import load_version

    root, _ = promoted_setup(tmp_path)
    model_dir = artifacts.model_dir(root, DETECTOR)
    assert load_version(model_dir).features == tuple(features_of(DETECTOR))
    artifacts.update_metadata(artifacts.version_dir(root, DETECTOR, "v1"),
                              library_versions={**artifacts.library_versions(), "scikit-learn": "0.24.2"})
    with pytest.raises(LibraryVersionError, match="model.pkl: version v1: trained with scikit-learn 0.24.2"):
        load_version(model_dir)
