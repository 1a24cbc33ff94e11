"""The served file of a model directory, loaded the way KServe's stock sklearn server finds it
(the single *.pkl|*.joblib|*.pickle file at the top of the directory), through modelkit's
checked loader, with the version that answered and its feature contract.

Kept apart from the server (served_model.py) so that readers of the served model that are no
server, such as the live scorer, do not import KServe.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import artifacts
from ..errors import ConfigError, ModelkitError
from ..model_loading import ModelFileError, load_model
from ..served_state import served_version

MODEL_EXTENSIONS = (".joblib", ".pkl", ".pickle")


@dataclass(frozen=True)
class LoadedVersion:
    estimator: Any
    run_id: str  # "unknown" when the served file matches no version directory
    features: tuple[str, ...]


def find_model_file(model_dir: Path) -> Path:
    if not model_dir.is_dir():
        raise ConfigError(f"{model_dir}: no such model directory")
    found = [p for p in sorted(model_dir.iterdir()) if p.is_file() and p.name.endswith(MODEL_EXTENSIONS)]
    if len(found) != 1:
        what = "no model file" if not found else f"{len(found)} model files ({', '.join(p.name for p in found)})"
        raise ConfigError(f"{model_dir}: {what}; KServe serves exactly one *.pkl|*.joblib|*.pickle file")
    return found[0]


def _load_estimator(model_file: Path, metadata: dict[str, Any]) -> Any:
    try:
        estimator = load_model(model_file, metadata or None)
    except ModelkitError:
        raise
    except Exception as exc:  # a truncated or corrupt pickle fails in any of a dozen ways (EOFError, UnpicklingError, ...)
        raise ModelFileError(f"{model_file}: not a complete model file ({type(exc).__name__}: {exc})") from None
    if not hasattr(estimator, "predict"):
        raise ModelFileError(f"{model_file}: holds a {type(estimator).__name__}, not a model with predict()")
    return estimator


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
    estimator = _load_estimator(find_model_file(model_dir), metadata)
    features = tuple(metadata.get("feature_contract", {}).get("names", ()))
    if not features:
        count = int(getattr(estimator, "n_features_in_", 0))
        features = tuple(f"feature_{i}" for i in range(count))
    return LoadedVersion(estimator, run_id or "unknown", features)
