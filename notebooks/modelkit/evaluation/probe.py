"""Load a version's model in a fresh process and predict a few rows.

The gate and the smoke test never unpickle a candidate in their own process: a broken
or hostile file can only fail this child. The model is loaded with
`model_loading.load_model` (allowlist unpickler, scikit-learn version check); a refusal is
the child's last stderr line ("UnsafeModelError: <file>: uses os.system, ..."). The child
runs with -P: `-m` would otherwise put the working directory (a checked-out repository)
first on sys.path, and a `joblib.py` there would run before any check.
Protocol: JSON on stdin {"version_path": ..., "rows": [[...], ...]}, JSON on stdout (see `probe`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import MODEL_FILE, read_metadata
from ..errors import ModelkitError
from ..model_loading import load_model

PROBE_TIMEOUT_SECONDS = 120


def probe(version_path: Path, rows: list[list[float]]) -> dict[str, Any]:
    """Load the version's model here and predict `rows`; what the child process prints."""
    model = load_model(version_path / MODEL_FILE, read_metadata(version_path))
    result: dict[str, Any] = {"type": f"{type(model).__module__}.{type(model).__name__}",
                              "n_features_in": getattr(model, "n_features_in_", None)}
    inputs = np.asarray(rows, dtype=float)
    if result["n_features_in"] not in (None, inputs.shape[1]):
        return result  # the gate reports the mismatch; predicting would only fail
    result["predictions"] = np.asarray(model.predict(inputs)).tolist()
    if hasattr(model, "decision_function"):
        result["scores"] = np.asarray(model.decision_function(inputs)).tolist()
    return result


def probe_in_fresh_process(version_path: Path, rows: list[list[float]]) -> dict[str, Any]:
    """Run `probe` in a child Python; {"error": ...} when the child fails."""
    request = json.dumps({"version_path": str(version_path), "rows": rows})
    try:
        done = subprocess.run([sys.executable, "-P", "-m", __name__], input=request, capture_output=True,
                              text=True, timeout=PROBE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return {"error": f"loading and predicting took longer than {PROBE_TIMEOUT_SECONDS} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {"error": last}
    return json.loads(done.stdout)


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        result = probe(Path(request["version_path"]), request["rows"])
    except ModelkitError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
