"""One served model for the KServe model server: loads `<model dir>/model.pkl` the way
KServe's stock sklearn server does (the single *.pkl|*.joblib|*.pickle file at the top
of the directory, here through modelkit's checked loader), checks every request against
the feature contract, and says which version answered.

v1 request:  {"instances": [[f1, ..., fn], ...], "parameters": {"return_scores": true}}
v1 response: {"predictions": [...], "model_version": "<run id>", "scores": [...]}
v2: the first input tensor [rows, n] (FP32/FP64/INT*), `parameters.return_scores`;
outputs "predictions" (+ "scores"), `model_version` set.
Scores are the estimator's decision_function: lower = more anomalous, < 0 = flagged.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import artifacts
from ..errors import ConfigError
from ..model_loading import load_model
from .served_state import served_version

_argv, sys.argv = sys.argv, sys.argv[:1]  # importing kserve parses sys.argv; keep our options away from it
try:
    from kserve import Model
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
finally:
    sys.argv = _argv

MODEL_EXTENSIONS = (".joblib", ".pkl", ".pickle")
NUMERIC_V2_TYPES = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}


class BadRequest(InvalidInput):
    """A request the model cannot answer; the message says what to send instead."""


@dataclass(frozen=True)
class LoadedVersion:
    estimator: Any
    run_id: str  # "unknown" when the served file matches no version directory
    features: tuple[str, ...]


def find_model_file(model_dir: Path) -> Path:
    found = [p for p in sorted(model_dir.iterdir()) if p.is_file() and p.name.endswith(MODEL_EXTENSIONS)]
    if len(found) != 1:
        what = "no model file" if not found else f"{len(found)} model files ({', '.join(p.name for p in found)})"
        raise FileNotFoundError(f"{model_dir}: {what}; KServe serves exactly one *.pkl|*.joblib|*.pickle file")
    return found[0]


def load_version(model_dir: Path) -> LoadedVersion:
    """The served file of `model_dir`, refused when its version was pickled by another scikit-learn.

    A file with no recorded version (copied in by hand) is loaded as KServe's sklearn server would."""
    run_id, _ = served_version(model_dir)
    metadata: dict[str, Any] = {}
    if run_id:
        try:
            metadata = artifacts.read_metadata(model_dir / artifacts.VERSIONS / run_id)
        except ConfigError:
            pass
    estimator = load_model(find_model_file(model_dir), metadata or None)
    features = tuple(metadata.get("feature_contract", {}).get("names", ()))
    if not features:
        count = int(getattr(estimator, "n_features_in_", 0))
        features = tuple(f"feature_{i}" for i in range(count))
    return LoadedVersion(estimator, run_id or "unknown", features)


def _shown(value: Any) -> str:
    """A request value as the client wrote it (JSON), shortened."""
    text = json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


class ServedModel(Model):
    def __init__(self, name: str, model_dir: Path):
        super().__init__(name)
        self.model_dir = Path(model_dir)
        self.current: LoadedVersion | None = None
        self._load_lock = threading.Lock()

    def load(self) -> bool:
        """(Re)load the served file; on failure the version already loaded keeps answering."""
        with self._load_lock:
            self.current = load_version(self.model_dir)
        self.ready = True
        return self.ready

    def how_to_call(self) -> str:
        features = self.current.features if self.current else ()
        example = ", ".join("0.5" for _ in features) or "..."
        return (f'send Content-Type: application/json and a body like {{"instances": [[{example}]]}}: '
                f"one row per instance, {len(features)} finite numbers in this order: {', '.join(features)}")

    def _rows_v1(self, payload: dict[str, Any]) -> Any:
        if not isinstance(payload, dict) or "instances" not in payload:
            raise BadRequest(f"the body has no \"instances\" list; {self.how_to_call()}")
        return payload["instances"]

    def _rows_v2(self, payload: InferRequest) -> np.ndarray:
        if not payload.inputs:
            raise BadRequest(f"the request has no inputs; send one FP64 input of shape [rows, {len(self.current.features)}]")
        tensor = payload.inputs[0]
        if tensor.datatype not in NUMERIC_V2_TYPES:
            raise BadRequest(f"input {tensor.name!r} has datatype {tensor.datatype}; send FP64 numbers "
                             f"of shape [rows, {len(self.current.features)}]")
        try:
            return tensor.as_numpy()
        except ValueError as exc:
            raise BadRequest(f"input {tensor.name!r} does not match its shape {tensor.shape}: {exc}") from None

    def check_rows(self, rows: Any) -> np.ndarray:
        """The request's rows as a float matrix, or BadRequest naming the first problem."""
        width = len(self.current.features)
        if isinstance(rows, np.ndarray):
            matrix = rows
        elif not isinstance(rows, list):
            raise BadRequest(f"\"instances\" must be a list of rows; {self.how_to_call()}")
        elif not rows:
            raise BadRequest(f"\"instances\" is empty; {self.how_to_call()}")
        else:
            try:
                matrix = np.array(rows)
            except ValueError:  # ragged rows
                matrix = np.empty(0, dtype=object)
        if matrix.ndim != 2 or matrix.shape[1] != width or matrix.dtype.kind not in "fiu":
            raise BadRequest(f"{self._first_bad_row(rows)}; {self.how_to_call()}")
        if matrix.shape[0] == 0:
            raise BadRequest(f"the input has no rows; {self.how_to_call()}")
        matrix = matrix.astype(np.float64, copy=False)
        finite = np.isfinite(matrix)
        if not finite.all():
            row, column = (int(i) for i in np.argwhere(~finite)[0])
            raise BadRequest(f"instances[{row}][{column}] ({self.current.features[column]}) is {matrix[row, column]}; "
                             f"every feature must be a finite number")
        return matrix

    def _first_bad_row(self, rows: Any) -> str:
        width = len(self.current.features)
        for index, row in enumerate(np.asarray(rows, dtype=object) if isinstance(rows, np.ndarray) else rows):
            values = list(row) if isinstance(row, (list, np.ndarray)) else None
            if values is None:
                return f"instances[{index}] is {_shown(row)}, not a list of {width} numbers"
            if len(values) != width:
                return f"instances[{index}] has {len(values)} values, the model expects {width}"
            for column, value in enumerate(values):
                if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                    return f"instances[{index}][{column}] ({self.current.features[column]}) is {_shown(value)}, not a number"
        return f"instances must be a list of rows of {width} numbers"

    def predict(self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None):
        version = self.current
        if isinstance(payload, InferRequest):
            matrix, parameters = self.check_rows(self._rows_v2(payload)), payload.parameters or {}
        else:
            matrix, parameters = self.check_rows(self._rows_v1(payload)), payload.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise BadRequest('"parameters" must be an object, e.g. {"return_scores": true}')
        want_scores = bool(parameters.get("return_scores", False))
        if want_scores and not hasattr(version.estimator, "decision_function"):
            raise BadRequest(f"model {self.name} has no scores (it is a {type(version.estimator).__name__}); "
                             "leave out parameters.return_scores")
        predictions = np.asarray(version.estimator.predict(matrix))
        scores = np.asarray(version.estimator.decision_function(matrix)) if want_scores else None
        if isinstance(payload, InferRequest):
            return self._v2_response(payload, version, predictions, scores)
        body: dict[str, Any] = {"predictions": predictions.tolist(), "model_version": version.run_id}
        if scores is not None:
            body["scores"] = scores.tolist()
        return body

    def _v2_response(self, payload: InferRequest, version: LoadedVersion, predictions: np.ndarray,
                     scores: np.ndarray | None) -> InferResponse:
        outputs = []
        for name, values in (("predictions", predictions), ("scores", scores)):
            if values is not None:
                values = values.astype(np.float64) if values.dtype.kind == "f" else values.astype(np.int64)
                output = InferOutput(name=name, shape=list(values.shape), datatype="FP64" if values.dtype.kind == "f" else "INT64")
                output.set_data_from_numpy(values, binary_data=False)
                outputs.append(output)
        return InferResponse(response_id=payload.id or str(uuid.uuid4()), model_name=self.name,
                             infer_outputs=outputs, model_version=version.run_id)

    def get_input_types(self) -> list[dict[str, Any]]:
        width = len(self.current.features) if self.current else -1
        return [{"name": "instances", "datatype": "FP64", "shape": [-1, width]}]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [{"name": "predictions", "datatype": "FP64", "shape": [-1]},
                {"name": "scores", "datatype": "FP64", "shape": [-1]}]
