"""`modelkit smoke-test`: does the endpoint answer with the version just promoted?

Sends the version's recorded `probe_input` to the serving endpoint (the InferenceService
in the cluster; the local server, or a temporary one, on a laptop) and compares the
answer with the candidate's own predictions computed in a fresh process. A
`model_version` in the answer (the modelkit runtime) must name the version; KServe's
stock sklearn runtime reports none, so there the predictions must match.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np
import requests

from .. import artifacts
from ..errors import SmokeTestFailed
from ..evaluation.probe import probe_in_fresh_process
from ..serving.local_server import running_server_url, temporary_server
from ..settings import Settings, in_cluster
from .cluster import ClusterClient, endpoint_url

REQUEST_TIMEOUT = 30


def compare(answer: dict[str, Any], expected: list[Any], run_id: str) -> list[str]:
    problems = []
    reported = answer.get("model_version")
    if reported is not None and reported != run_id:
        problems.append(f"the endpoint reports version {reported!r}, not {run_id!r}")
    got = answer.get("predictions")
    if not isinstance(got, list) or len(got) != len(expected):
        problems.append(f"the endpoint answered {str(answer)[:200]}, expected {len(expected)} predictions")
    elif not np.allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), rtol=1e-6, atol=1e-9):
        problems.append(f"the endpoint's predictions {got[:5]} differ from version {run_id}'s {expected[:5]}")
    return problems


def smoke_test(settings: Settings, run_id: str, url: str | None = None) -> str:
    model = settings.model_name
    version = artifacts.version_dir(settings.models_root, model, run_id)
    rows = artifacts.read_metadata(version).get("probe_input") or []
    if not rows:
        raise SmokeTestFailed(f"version {run_id} has no probe_input to send")
    expected = probe_in_fresh_process(version, rows)
    if "error" in expected:
        raise SmokeTestFailed(f"version {run_id} does not predict locally: {expected['error']}")
    served_name, server = model, nullcontext(url)
    if url is None and in_cluster():
        served_name = settings.inference_service_name
        isvc = ClusterClient().inference_service(settings.namespace, served_name)
        server = nullcontext(endpoint_url(isvc, settings.namespace, served_name))
    elif url is None:
        running = running_server_url(settings.models_root)
        server = nullcontext(running) if running else temporary_server(settings.models_root, [model])
    with server as base:
        endpoint = f"{base.rstrip('/')}/v1/models/{served_name}:predict"
        try:
            response = requests.post(endpoint, json={"instances": rows}, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            raise SmokeTestFailed(f"{endpoint} did not answer: {exc}") from None
    if response.status_code != 200:
        raise SmokeTestFailed(f"{endpoint} answered HTTP {response.status_code}: {response.text[:300]}")
    problems = compare(response.json(), expected["predictions"], run_id)
    if problems:
        raise SmokeTestFailed(f"{model} smoke test failed at {endpoint}: " + "; ".join(problems))
    return f"{model}: {endpoint} answers {len(rows)} probe rows like version {run_id}"
