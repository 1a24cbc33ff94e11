"""One served model for the KServe model server: loads `<model dir>/model.pkl` the way
KServe's stock sklearn server does (the single *.pkl|*.joblib|*.pickle file at the top
of the directory, here through modelkit's checked loader), checks every request against
the feature contract, and says which version answered.

v1 request:  {"instances": [[f1, ..., fn], ...], "parameters": {"return_scores": true}}
v1 response: {"predictions": [...], "model_version": "<run id>", "scores": [...]}
v2: exactly one input tensor [rows, n] (FP32/FP64/INT*/UINT*), `parameters.return_scores`;
outputs "predictions" (+ "scores"), `model_version` set.
Scores are the estimator's decision_function: lower = more anomalous, < 0 = flagged.

A request of more than INLINE_MAX_ROWS rows is answered in a worker thread, so it does not
stall the event loop (scikit-learn's trees and numpy release the GIL for most of a large
predict); a smaller one on the loop, where its predict costs less than the thread hand-off.
At most `max_rows` rows are taken per request (413 above).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.pipeline import Pipeline

from ..errors import ModelkitError
from .served_file import LoadedVersion, load_version

_argv, sys.argv = sys.argv, sys.argv[:1]  # importing kserve parses sys.argv; keep our options away from it
try:
    from kserve import Model
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse
finally:
    sys.argv = _argv

NUMERIC_V2_TYPES = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
# scikit-learn's trees compute in float32: a larger input (or one a scaler makes larger) is refused.
FLOAT32_MAX = float(np.finfo(np.float32).max)
IN_RANGE = f"every feature must be a finite number within ±{FLOAT32_MAX:.2g} (float32)"


# Requests of at most this many rows are answered on the event loop (a few ms with 100 trees);
# larger ones in a worker thread.
INLINE_MAX_ROWS = 16


class BadRequest(InvalidInput):
    """A request the model cannot answer; the message says what to send instead."""


class TooManyRows(BadRequest):
    """More rows than the server takes per request (HTTP 413)."""


def _shown(value: Any) -> str:
    """A request value as the client wrote it (JSON), shortened."""
    text = json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _first_out_of_range(matrix: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first value that is not finite or beyond float32, else None."""
    bad = ~(np.abs(matrix) <= FLOAT32_MAX)
    if not bad.any():
        return None
    row, column = np.argwhere(bad)[0]
    return int(row), int(column)


def _row_count(payload: dict[str, Any] | InferRequest) -> float:
    """The rows a request declares (v1: instances, v2: the first input's shape); inf when it is malformed."""
    if isinstance(payload, InferRequest):
        shape = list(payload.inputs[0].shape) if payload.inputs else []
        return shape[0] if shape and isinstance(shape[0], int) else float("inf")
    rows = payload.get("instances") if isinstance(payload, dict) else None
    return len(rows) if isinstance(rows, list) else float("inf")


def _tensor_values(tensor: InferInput) -> np.ndarray:
    """The flat values of a v2 input as its datatype, or BadRequest naming the first that does not fit."""
    dtype = np.dtype(tensor.datatype.replace("FP", "float").lower())
    try:
        values = np.asarray(tensor.data).ravel()
    except ValueError:
        raise BadRequest(f"input {tensor.name!r}: the data is ragged; send a flat list of the "
                         f"{tensor.shape} values, or rows of equal length") from None
    if values.dtype.kind not in "iuf":
        raise BadRequest(f"input {tensor.name!r}: the data must be numbers ({tensor.datatype}), got {_shown(values[:3])}")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        outside = (values < info.min) | (values > info.max) | (values != np.round(values))
        if outside.any():
            index = int(np.argmax(outside))
            raise BadRequest(f"input {tensor.name!r} ({tensor.datatype}) has {values[index]} at data[{index}]; "
                             f"{tensor.datatype} holds the integers {info.min}..{info.max}")
    with np.errstate(over="ignore"):  # FP32/FP16 overflow becomes inf, refused as not finite
        return values.astype(dtype)


class ServedModel(Model):
    def __init__(self, name: str, model_dir: Path, max_rows: int):
        super().__init__(name)
        self.model_dir = Path(model_dir)
        self.max_rows = max_rows
        self.current: LoadedVersion | None = None
        self._load_lock = threading.Lock()

    def load(self) -> bool:
        """(Re)load the served file; on failure the version already loaded keeps answering."""
        with self._load_lock:
            try:
                self.current = load_version(self.model_dir)
            except ModelkitError as exc:
                if self.current is None:
                    raise
                raise type(exc)(f"{exc}; version {self.current.run_id} keeps serving") from None
        self.ready = True
        return self.ready

    def how_to_call(self) -> str:
        features = self.current.features if self.current else ()
        example = ", ".join("0.5" for _ in features) or "..."
        return (f'send Content-Type: application/json and a body like {{"instances": [[{example}]]}}: '
                f"one row per instance, {len(features)} finite numbers in this order: {', '.join(features)}")

    def _check_row_count(self, count: int) -> None:
        if count > self.max_rows:
            raise TooManyRows(f"the request has {count} rows, more than the limit of {self.max_rows} per request "
                              "(modelkit serve --max-rows); send fewer instances per request")

    def _rows_v1(self, payload: dict[str, Any]) -> Any:
        if not isinstance(payload, dict) or "instances" not in payload:
            raise BadRequest(f"the body has no \"instances\" list; {self.how_to_call()}")
        return payload["instances"]

    def _rows_v2(self, payload: InferRequest) -> np.ndarray:
        width = len(self.current.features)
        send = f"send one FP64 input of shape [rows, {width}]"
        if len(payload.inputs) != 1:
            names = ", ".join(repr(tensor.name) for tensor in payload.inputs)
            raise BadRequest(f"the request has {len(payload.inputs)} inputs{f' ({names})' if names else ''}; {send}")
        tensor = payload.inputs[0]
        if tensor.datatype not in NUMERIC_V2_TYPES:
            raise BadRequest(f"input {tensor.name!r} has datatype {tensor.datatype}; send FP64 numbers "
                             f"of shape [rows, {width}]")
        shape = list(tensor.shape)
        if len(shape) != 2 or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise BadRequest(f"input {tensor.name!r} has shape {shape}; the shape must be [rows, {width}], "
                             "non-negative and matching the data")
        self._check_row_count(shape[0])
        values = _tensor_values(tensor)
        if values.size != shape[0] * shape[1]:
            raise BadRequest(f"input {tensor.name!r} has {values.size} values, its shape {shape} "
                             f"needs {shape[0] * shape[1]}")
        return values.reshape(shape)

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
            self._check_row_count(len(rows))
            try:
                matrix = np.array(rows)
            except ValueError:  # ragged rows
                matrix = np.empty(0, dtype=object)
        if matrix.ndim != 2 or matrix.shape[1] != width or matrix.dtype.kind not in "fiu":
            raise BadRequest(f"{self._first_bad_row(rows)}; {self.how_to_call()}")
        if matrix.shape[0] == 0:
            raise BadRequest(f"the input has no rows; {self.how_to_call()}")
        matrix = matrix.astype(np.float64, copy=False)
        bad = _first_out_of_range(matrix)
        if bad:
            row, column = bad
            raise BadRequest(f"instances[{row}][{column}] ({self.current.features[column]}) is {matrix[row, column]:g}; "
                             f"{IN_RANGE}")
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

    def _wants_scores(self, parameters: Any, version: LoadedVersion) -> bool:
        if not isinstance(parameters, dict):
            raise BadRequest('"parameters" must be an object, e.g. {"return_scores": true}')
        wanted = parameters.get("return_scores", False)
        if not isinstance(wanted, bool):
            raise BadRequest(f'"parameters.return_scores" is {_shown(wanted)}; send true or false (a JSON boolean)')
        if wanted and not hasattr(version.estimator, "decision_function"):
            raise BadRequest(f"model {self.name} has no scores (it is a {type(version.estimator).__name__}); "
                             "leave out parameters.return_scores")
        return wanted

    def _estimate(self, version: LoadedVersion, matrix: np.ndarray, want_scores: bool):
        """(predictions, scores or None); a value the model's own transforms push out of range is a BadRequest."""
        # The rows are checked already and every step's output is checked here: scikit-learn's own finiteness
        # and parameter checks, repeated in each of a forest's trees, would only cost time.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return self._checked_estimate(version, matrix, want_scores)

    def _checked_estimate(self, version: LoadedVersion, matrix: np.ndarray, want_scores: bool):
        final, inputs = version.estimator, matrix
        if isinstance(final, Pipeline) and len(final.steps) > 1:  # what Pipeline.predict does, checked between steps
            inputs = np.asarray(final[:-1].transform(matrix))
            bad = _first_out_of_range(inputs)
            if bad:
                row, column = bad
                where = (f"instances[{row}][{column}] ({version.features[column]}) is {matrix[row, column]:g}"
                         if inputs.shape[1] == matrix.shape[1] else f"instances[{row}]")
                raise BadRequest(f"{where}: the model's {final.steps[-2][0]!r} step makes it {inputs[row, column]:g}, "
                                 f"beyond ±{FLOAT32_MAX:.2g} (float32); send values in the range the model was trained on")
            final = final[-1]
        predictions = np.asarray(final.predict(inputs))
        scores = np.asarray(final.decision_function(inputs)) if want_scores else None
        for what, values in (("prediction", predictions), ("score", scores)):
            if values is not None and values.dtype.kind == "f" and not np.isfinite(values).all():
                row = int(np.argwhere(~np.isfinite(values))[0][0])
                raise BadRequest(f"instances[{row}] gives a {what} of {values.flat[row]}; its values are too large "
                                 "for the model, send values in the range the model was trained on")
        return predictions, scores

    async def predict(self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None):
        # A large request off the event loop: health checks and small requests keep answering meanwhile.
        # A small one on it: the hop to a worker thread and back cost more CPU than its predict.
        if _row_count(payload) <= INLINE_MAX_ROWS:
            return self.answer(payload)
        return await asyncio.to_thread(self.answer, payload)

    def answer(self, payload: dict[str, Any] | InferRequest):
        version = self.current
        if isinstance(payload, InferRequest):
            parameters, rows = payload.parameters, self._rows_v2(payload)
        else:
            rows = self._rows_v1(payload)
            parameters = payload.get("parameters")
        want_scores = self._wants_scores(parameters or {}, version)
        matrix = self.check_rows(rows)
        predictions, scores = self._estimate(version, matrix, want_scores)
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
