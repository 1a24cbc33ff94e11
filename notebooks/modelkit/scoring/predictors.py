"""Predictions for the latest rows: in-process from the served file, or from the InferenceService.

Local: the served `<root>/<model>/model.pkl`, loaded through the serving code's `load_version`
(the checked loader), cached by the file's identity (inode, size, mtime): promotion replaces the
file with os.replace, so a new inode is a new version. Remote: KServe v1 `:predict` at
`--predict-url-template`; the detector asks for `return_scores`, which only the modelkit runtime
answers: with KServe's stock sklearn runtime the flag comes from `predictions` and no score is
exported (docs/ARCHITECTURE.md, "Live scoring").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests
from threadpoolctl import ThreadpoolController

from .. import artifacts
from ..errors import ModelkitError
from ..serving.served_file import LoadedVersion, load_version
from .window import WindowError

FileIdentity = tuple[int, int, int]


@dataclass(frozen=True)
class Prediction:
    version: str
    predictions: np.ndarray  # detector: -1/+1 per row; forecaster: change per metric per row
    scores: np.ndarray | None  # detector's decision_function, when the predictor gives it


def served_file_identity(root: Path, model: str) -> FileIdentity | None:
    try:
        stat = os.stat(artifacts.served_model_path(root, model))
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


class ServedVersions:
    """The loaded served version of each model, reloaded when the served file changes."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._loaded: dict[str, tuple[FileIdentity, LoadedVersion]] = {}

    def current(self, model: str) -> tuple[FileIdentity, LoadedVersion] | None:
        identity = served_file_identity(self.root, model)
        if identity is None:
            self._loaded.pop(model, None)
            return None
        cached = self._loaded.get(model)
        if cached is None or cached[0] != identity:
            try:
                loaded = load_version(artifacts.model_dir(self.root, model))
            except ModelkitError as exc:
                raise WindowError("model_replaced" if served_file_identity(self.root, model) != identity else "other",
                                  str(exc)) from exc
            cached = self._loaded[model] = (identity, loaded)
        return cached


_THREADPOOLS = ThreadpoolController()


def predict_local(loaded: LoadedVersion, rows: np.ndarray, kind: str) -> Prediction:
    # One row: OpenMP's parallel regions (HistGradientBoosting's predict opens one per tree) cost far
    # more than they save, and with many models they were most of a cycle (bench/bench_scoring.py).
    with _THREADPOOLS.limit(limits=1):
        estimator = loaded.estimator
        scores = estimator.decision_function(rows) if kind == "anomaly-detector" else None
        return Prediction(loaded.run_id, np.asarray(estimator.predict(rows), dtype=float), scores)


class RemotePredictor:
    """KServe v1 predict of each model's InferenceService; TLS verified when the URL is https."""

    def __init__(self, url_template: str, namespace: str, timeout_seconds: float = 10, ca_bundle: str | None = None):
        self.url_template = url_template
        self.namespace = namespace
        self.timeout_seconds = timeout_seconds
        self.verify: bool | str = ca_bundle or True
        self.session = requests.Session()

    def url(self, model: str) -> str:
        return self.url_template.format(model=model, namespace=self.namespace)

    def predict(self, model: str, rows: np.ndarray, kind: str, version_on_volume: str) -> Prediction:
        request: dict[str, Any] = {"instances": rows.tolist()}
        if kind == "anomaly-detector":
            request["parameters"] = {"return_scores": True}
        url = self.url(model)
        try:
            answer = self.session.post(url, json=request, timeout=self.timeout_seconds, verify=self.verify)
        except requests.RequestException as exc:
            raise WindowError("endpoint_down", f"{model}: {url} unreachable: {type(exc).__name__}: {exc}") from exc
        if answer.status_code != 200:
            raise WindowError("endpoint_error", f"{model}: {url} answered HTTP {answer.status_code}: {answer.text[:200]}")
        try:
            body = answer.json()
            predictions = np.asarray(body["predictions"], dtype=float)
            scores = np.asarray(body["scores"], dtype=float) if "scores" in body else None
        except (ValueError, KeyError, TypeError) as exc:
            raise WindowError("endpoint_error", f"{model}: {url} answered something that is not a v1 prediction: {answer.text[:200]}") from exc
        if len(predictions) != len(rows) or (scores is not None and len(scores) != len(rows)):
            raise WindowError("endpoint_error", f"{model}: {url} answered {len(predictions)} predictions for {len(rows)} rows")
        return Prediction(str(body.get("model_version") or version_on_volume), predictions, scores)
