"""`make demo` / `modelkit demo`: the whole lifecycle on a laptop, then stop.

Trains both default models on 24 h of synthetic data through the local pipeline
(check-params, train, validate, promote, smoke-test, report); a model the gate refuses
at 24 h is trained again on its registry window (168 h / 720 h). Then it serves the promoted
models on a free 127.0.0.1 port, sends the guide's request to anomaly-detector and a
held-out row to predictive-analytics, prints the answers and where the reports are, and ends
with one cycle of the live scorer's metrics on a synthetic window.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

from .. import artifacts
from ..errors import ConfigError, GateRejected
from ..registry import get_model
from .local_pipeline import run_local_pipeline
from ..serving.local_server import temporary_server
from ..served_state import served_version

DEMO_MODELS = ("anomaly-detector", "predictive-analytics")
GUIDE_REQUEST = {"instances": [[0.5, 0.6, 0.4, 0.3, 0.8]]}


def demo_request(root: Path, model: str, run_id: str) -> dict:
    if model == "anomaly-detector":
        return {**GUIDE_REQUEST, "parameters": {"return_scores": True}}
    probe = artifacts.read_metadata(artifacts.version_dir(root, model, run_id))["probe_input"]
    return {"instances": probe[:1]}


def serve_and_ask(root: Path, served: dict[str, str]) -> None:
    """Serve the promoted models on a free 127.0.0.1 port, ask each one, print answers and reports."""
    print("\n==> serving the promoted models on 127.0.0.1")
    with temporary_server(root, list(served), log_path=root / "demo-server.log") as url:
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


def show_scorer_cycle(root: Path) -> None:
    """One cycle of `modelkit watch` on the promoted models. There is no Prometheus on a laptop, so the
    window comes from the registry's synthetic generator, and the metrics say so (source="synthetic")."""
    from ..scoring.cli import synthetic_cycle_text

    print("\n==> one cycle of the live scorer (`modelkit watch --once --synthetic`: a SYNTHETIC window, no Prometheus here)")
    for line in synthetic_cycle_text(root).splitlines():
        if line.startswith("modelkit_") and "_bucket{" not in line and "_created" not in line:
            print(f"  {line}")


def run_demo(root: Path, training_hours: int = 24) -> int:
    root = Path(root).resolve()
    started = time.monotonic()
    for model in DEMO_MODELS:
        code = run_local_pipeline(model, data_source="synthetic", training_hours=training_hours, models_root=str(root))
        window = get_model(model).training_hours
        if code == GateRejected.exit_code and window != training_hours:
            print(f"\ndemo: the gate refused {model} trained on {training_hours} h (reasons above); "
                  f"training it again on its registry window of {window} h\n", flush=True)
            code = run_local_pipeline(model, data_source="synthetic", training_hours=window, models_root=str(root))
        if code != 0:
            print(f"demo: the {model} run did not complete (exit {code}); the version served before, if any, stays served")
    served = {m: run_id for m in DEMO_MODELS if (run_id := served_version(artifacts.model_dir(root, m))[0])}
    missing = [m for m in DEMO_MODELS if m not in served]
    if not served:
        raise ConfigError("demo: no version passed the gate, so there is nothing to serve; see the run output above")
    serve_and_ask(root, served)
    show_scorer_cycle(root)
    print(f"\nServer stopped. Demo took {time.monotonic() - started:.0f} s. "
          f"`make serve` keeps serving; `modelkit versions --models-root {root}` lists the versions.")
    if missing:
        print(f"demo: nothing served for {', '.join(missing)}: no version passed the gate (see its run above)")
        return 1
    return 0
