"""`make demo` / `modelkit demo`: the whole lifecycle on a laptop, then stop.

Trains both default models on 24 h of synthetic data through the local pipeline
(check-params, train, validate, promote, smoke-test, report), serves the promoted
models on a free 127.0.0.1 port, sends the guide's request to anomaly-detector and a
held-out row to predictive-analytics, prints the answers and where the reports are.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

from .. import artifacts
from ..errors import ConfigError
from .local_pipeline import run_local_pipeline
from .local_server import temporary_server
from .served_state import served_version

DEMO_MODELS = ("anomaly-detector", "predictive-analytics")
GUIDE_REQUEST = {"instances": [[0.5, 0.6, 0.4, 0.3, 0.8]]}


def demo_request(root: Path, model: str, run_id: str) -> dict:
    if model == "anomaly-detector":
        return {**GUIDE_REQUEST, "parameters": {"return_scores": True}}
    probe = artifacts.read_metadata(artifacts.version_dir(root, model, run_id))["probe_input"]
    return {"instances": probe[:1]}


def run_demo(root: Path, training_hours: int = 24) -> int:
    root = Path(root).resolve()
    started = time.monotonic()
    for model in DEMO_MODELS:
        code = run_local_pipeline(model, data_source="synthetic", training_hours=training_hours, models_root=str(root))
        if code != 0:
            print(f"demo: the {model} run did not complete (exit {code}); the version served before, if any, stays served")
    served = {model: served_version(artifacts.model_dir(root, model))[0] for model in DEMO_MODELS}
    missing = [m for m, run_id in served.items() if run_id is None]
    if missing:
        raise ConfigError(f"demo: no version of {', '.join(missing)} passed the gate, so there is nothing to serve; "
                          "see the run output above")
    print("\n==> serving the promoted models on 127.0.0.1")
    with temporary_server(root, list(DEMO_MODELS), log_path=root / "demo-server.log") as url:
        for model, run_id in served.items():
            request = demo_request(root, model, run_id)
            endpoint = f"{url}/v1/models/{model}:predict"
            answer = requests.post(endpoint, json=request, timeout=30)
            print(f"\nPOST {endpoint}\n  request:  {json.dumps(request)}\n  HTTP {answer.status_code}: {answer.text}")
            if answer.status_code != 200:
                raise ConfigError(f"demo: {model} answered HTTP {answer.status_code}")
    print("\nReports (executed notebooks with plots and the Model Evaluation section):")
    for model, run_id in served.items():
        print(f"  {model} {run_id}: {artifacts.version_dir(root, model, run_id) / artifacts.REPORT_FILE}")
    print(f"\nServer stopped. Demo took {time.monotonic() - started:.0f} s. "
          f"`make serve` keeps serving; `modelkit versions --models-root {root}` lists the versions.")
    return 0
