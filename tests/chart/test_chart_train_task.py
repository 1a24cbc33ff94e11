"""The rendered train Task, run for real: the notebook writes into its run folder only, and
`publish` hands the gate a version it accepts.

The `run` and `publish` step scripts of `model-training-train-anomaly-detector` and the
`run` step of `model-training-validate` are executed with bash, each with the env its
step gets from Tekton (params substituted), the project's tree standing in for the
workbench image's baked one (/opt/app-root/src) and temporary folders for the PVC views.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from chart_helpers import PROJECT_ROOT, find, render
from modelkit import artifacts

MODEL = "anomaly-detector"
RUN_ID = "train-anomaly-detector-x1y2z"
PARAMS = {"model-name": MODEL, "notebook-path": "notebooks/02-anomaly-detection/01-isolation-forest-implementation.ipynb",
          "data-source": "synthetic", "training-hours": "24", "inference-service-name": MODEL, "git-url": "",
          "git-ref": "main", "data-file": "", "run-id": RUN_ID, "namespace": "self-healing-platform"}
PINNED = {"DATA_END": "2026-03-01T00:00:00Z", "SEED": "42"}  # a window on which the detector passes its gate


def step(docs, task, name):
    return next(s for s in find(docs, "Task", task)["spec"]["steps"] if s["name"] == name)


def run_script(step_spec, paths, tmp_path):
    env = {item["name"]: re.sub(r"\$\(params\.([a-z-]+)\)", lambda m: PARAMS[m.group(1)], item["value"])
           for item in step_spec["env"]}
    env.update({k: v for k, v in paths.items() if k in env})
    env.update(PINNED, HOME=str(tmp_path), PATH=f"{Path(os.sys.executable).parent}:{os.environ['PATH']}")
    script = tmp_path / f"{step_spec['name']}.sh"
    script.write_text(step_spec["script"])
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)


def test_the_notebook_writes_only_its_run_folder_and_publish_hands_the_gate_a_version(tmp_path):
    docs = render(values=[PROJECT_ROOT / "values" / "dev.yaml"])  # synthetic data: no Prometheus settings
    registry = tmp_path / "registry.json"
    registry.write_text(find(docs, "ConfigMap", "model-registry")["data"]["registry.json"])
    models, run_dir = tmp_path / "models", tmp_path / "run"
    (run_dir / "models").mkdir(parents=True)
    served = models / MODEL / "model.pkl"
    served.parent.mkdir(parents=True)
    served.write_bytes(b"the served model")

    # The notebook step: its models root is the run folder's scratch one (the PVC subPath).
    notebook = run_script(step(docs, f"model-training-train-{MODEL}", "run"), {
        "BAKED_SOURCE_DIR": str(PROJECT_ROOT), "MODELS_ROOT": str(run_dir / "models"),
        "MODELKIT_REGISTRY": str(registry)}, tmp_path)
    assert notebook.returncode == 0, notebook.stdout[-2000:] + notebook.stderr[-2000:]
    staged = run_dir / "models" / MODEL / "versions" / RUN_ID
    assert (staged / artifacts.MODEL_FILE).is_file() and (staged / artifacts.REPORT_FILE).is_file()
    assert artifacts.read_metadata(staged)["git_ref"] == "image quay.io/self-healing-platform/model-workbench:0.1.0"
    assert served.read_bytes() == b"the served model" and not (models / MODEL / "versions").exists()

    published = run_script(step(docs, f"model-training-train-{MODEL}", "publish"),
                           {"RUN_DIR": str(run_dir), "MODELS_ROOT": str(models)}, tmp_path)
    assert published.returncode == 0, published.stderr
    assert artifacts.version_dir(models, MODEL, RUN_ID).is_dir() and not staged.exists()

    gate = run_script(step(docs, "model-training-validate", "run"),
                      {"MODELS_ROOT": str(models), "MODELKIT_REGISTRY": str(registry)}, tmp_path)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert artifacts.read_metadata(artifacts.version_dir(models, MODEL, RUN_ID))["gate"]["accepted"] is True
    assert served.read_bytes() == b"the served model"  # only promote replaces it
