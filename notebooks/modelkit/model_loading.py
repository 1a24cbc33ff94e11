"""The one way modelkit loads a model file: `load_model(model_file, metadata)`.

Unpickling runs whatever the file names, so a file is read only by joblib's own unpickler,
changed where it could run code. `find_class` hands out exactly the (module, name) pairs below, which are
what the project's models pickle (tests/training/test_model_allowlist.py trains every model
kind and checks the list against their files, both ways); any other name, a dotted one
included, is refused before its module is imported. And BUILD may not set the state of a
class or function itself. The file must be the uncompressed joblib pickle modelkit writes
(the format KServe's stock sklearn server loads with joblib.load): joblib's compressed and
pre-0.10 formats reach unpickling code this module does not control, and arrays of Python
objects hold a nested pickle, so all of those are refused too. Then scikit-learn must be
the version the model was trained with (metadata.library_versions).

A new estimator class is added to the list by hand, after review: classes only (their
constructors and __setstate__ must not touch files, processes or the network), plus the
reconstructor functions their pickles call.
"""

from __future__ import annotations

import importlib
import math
import os
import pickle
import warnings
from pathlib import Path
from typing import Any, Mapping

import joblib.numpy_pickle
import numpy as np

from .errors import ConfigError

ALLOWED_CLASSES = frozenset({
    # every model: arrays as joblib writes them
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    # the anomaly detector (scaler, whitening PCA, isolation forest) and the new-model template
    ("sklearn.pipeline", "Pipeline"),
    ("sklearn.preprocessing._data", "StandardScaler"),
    ("sklearn.decomposition._pca", "PCA"),
    ("sklearn.ensemble._iforest", "IsolationForest"),
    ("sklearn.tree._classes", "ExtraTreeRegressor"),
    ("sklearn.tree._tree", "Tree"),
    # the forecaster: MultiOutputRegressor(VotingRegressor(HistGradientBoostingRegressor with an
    # absolute-error loss, DummyRegressor "no change"))
    ("sklearn.multioutput", "MultiOutputRegressor"),
    ("sklearn.ensemble._voting", "VotingRegressor"),
    ("sklearn.dummy", "DummyRegressor"),
    ("sklearn.utils._bunch", "Bunch"),
    ("sklearn._loss.loss", "AbsoluteError"),
    ("_loss", "CyAbsoluteError"),
    ("sklearn.ensemble._hist_gradient_boosting.gradient_boosting", "HistGradientBoostingRegressor"),
    ("sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper"),
    ("sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor"),
    ("sklearn._loss.link", "IdentityLink"),
    ("sklearn._loss.link", "Interval"),
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random.bit_generator", "SeedSequence"),
})
ALLOWED_RECONSTRUCTORS = frozenset({
    ("numpy._core.multiarray", "scalar"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("_loss", "__pyx_unpickle_CyAbsoluteError"),
})
# sklearn's Cython loss module pickles under its short extension name: the names are looked up
# in the real module, never imported as a top-level `_loss` (which sys.path could supply).
MODULE_ALIASES = {"_loss": "sklearn._loss._loss"}


class ModelFileError(ConfigError):
    """A model file modelkit will not load."""


class UnsafeModelError(ModelFileError):
    """A model file uses code, or a format, outside what modelkit's models are made of."""


class LibraryVersionError(ConfigError):
    """A model is loaded under another scikit-learn than it was trained with."""


def _sklearn_version_problem(metadata: Mapping[str, Any]) -> str | None:
    """Why this environment's scikit-learn cannot be trusted with the model, or None.

    Pickled estimators are only guaranteed to behave the same under the scikit-learn
    they were written with (the serving runtime pins it, see pyproject.toml)."""
    import sklearn

    trained = (metadata.get("library_versions") or {}).get("scikit-learn")
    installed = sklearn.__version__  # what artifacts.library_versions records at training
    if trained is None:
        return "metadata.json records no scikit-learn version (library_versions)"
    if trained != installed:
        return f"trained with scikit-learn {trained}, this environment has {installed}; retrain, or load it where {trained} is installed"
    return None


def load_model(model_file: Path, metadata: Mapping[str, Any] | None, *, allow_version_mismatch: bool = False) -> Any:
    """The estimator in `model_file`, checked (see the module docstring).

    `metadata`: the version's metadata.json; None only for a served file no version records
    (copied in by hand), which scikit-learn's own InconsistentVersionWarning still checks.
    Raises UnsafeModelError, ModelFileError, LibraryVersionError."""
    from sklearn.exceptions import InconsistentVersionWarning

    model_file = Path(model_file)
    problem = _sklearn_version_problem(metadata) if metadata is not None else None
    if problem and not allow_version_mismatch:
        run_id = metadata.get("run_id")
        raise LibraryVersionError(f"{model_file}: {f'version {run_id}: ' if run_id else ''}{problem}")
    with warnings.catch_warnings():
        if not allow_version_mismatch:
            warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            return _unpickle(model_file)
        except InconsistentVersionWarning as exc:
            raise LibraryVersionError(f"{model_file}: {exc}") from None


def _unpickle(model_file: Path) -> Any:
    with open(model_file, "rb") as handle:
        start = handle.read(2)
        if len(start) < 2 or start[:1] != pickle.PROTO or not 2 <= start[1] <= pickle.HIGHEST_PROTOCOL:
            raise UnsafeModelError(f"{model_file}: not an uncompressed joblib pickle (it starts with {start!r}); "
                                   "modelkit writes models with joblib.dump and no compression")
        handle.seek(0)
        try:
            return _CheckedUnpickler(model_file, handle).load()
        except UNREADABLE as exc:
            raise ModelFileError(f"{model_file}: not a complete model file ({type(exc).__name__}: {exc})") from None


# What unpickling a damaged (not hostile) file raises; refusals are ModelkitErrors and pass through.
UNREADABLE = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError)


class _CheckedUnpickler(joblib.numpy_pickle.NumpyUnpickler):
    dispatch = joblib.numpy_pickle.NumpyUnpickler.dispatch.copy()

    def __init__(self, model_file: Path, handle):
        super().__init__(str(model_file), handle, ensure_native_byte_order=True)
        self.file_size = os.fstat(handle.fileno()).st_size
        self.handed_out: dict[int, str] = {}  # id of each global returned -> "module.name"

    def refuse(self, what: str) -> UnsafeModelError:
        return UnsafeModelError(f"{self.filename}: {what}; refused before anything in it ran. A model file may only "
                                "use the classes and reconstructors listed in modelkit/model_loading.py (what the "
                                "project's scikit-learn models pickle); a class defined in a notebook cannot be served")

    def find_class(self, module: str, name: str) -> Any:
        pair = (module, name)
        if pair not in ALLOWED_CLASSES and pair not in ALLOWED_RECONSTRUCTORS:
            raise self.refuse(f"uses {module}.{name}, which is not on the allowlist")
        found = getattr(importlib.import_module(MODULE_ALIASES.get(module, module)), name)
        if isinstance(found, type) != (pair in ALLOWED_CLASSES):  # a list mistake: never call a non-class
            raise self.refuse(f"{module}.{name} is listed as a {'class' if pair in ALLOWED_CLASSES else 'reconstructor'} "
                              f"but is a {type(found).__name__}")
        self.handed_out[id(found)] = f"{module}.{name}"
        return found

    def load_build(self) -> None:
        target = self.stack[-2]
        if id(target) in self.handed_out:
            raise self.refuse(f"sets the state of {self.handed_out[id(target)]} itself (BUILD on a class or function)")
        pickle._Unpickler.load_build(self)  # the stock BUILD: joblib's also reads its pre-0.10 NDArrayWrapper
        if isinstance(self.stack[-1], joblib.numpy_pickle.NumpyArrayWrapper):
            self.stack.append(self.read_array(self.stack.pop()))

    dispatch[pickle.BUILD[0]] = load_build

    def read_array(self, wrapper: joblib.numpy_pickle.NumpyArrayWrapper) -> np.ndarray:
        """The array joblib wrote after the wrapper, once its declared size fits in the file."""
        subclass, dtype, shape = (getattr(wrapper, a, None) for a in ("subclass", "dtype", "shape"))
        if subclass is not np.ndarray or not isinstance(dtype, np.dtype) or not isinstance(shape, tuple) \
                or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise self.refuse(f"holds an array wrapper that is not a plain array (subclass {subclass!r}, "
                              f"dtype {dtype!r}, shape {shape!r})")
        if dtype.hasobject:
            raise self.refuse(f"holds an array of Python objects (dtype object, shape {shape}), which carries a "
                              "nested pickle; the project's models hold numeric arrays only")
        size = math.prod(shape) * dtype.itemsize
        if size > self.file_size:
            raise self.refuse(f"declares an array of {size} bytes; the file has {self.file_size}")
        return wrapper.read(self, self.ensure_native_byte_order)
