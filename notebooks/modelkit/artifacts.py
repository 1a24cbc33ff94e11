"""Model directories on disk: versions written atomically, metadata beside each model.

Layout (see docs/ARCHITECTURE.md):
    <root>/<model>/model.pkl                 served file; written only by promotion
    <root>/<model>/versions/<run-id>/        model.pkl, metadata.json, report.html
    <root>/<model>/versions/.staging-<id>/   a version being written (never read)
    <root>/<model>/state/                    promotion state

A version directory appears under its final name only once complete (staging dir +
rename), so nothing can pick up a half-written version. Model files are read back only
through `model_loading.load_model` (allowlist unpickler, scikit-learn version check).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Iterator

import joblib

from .errors import ConfigError
from .locks import LockBusy, exclusive_lock

MODEL_FILE = "model.pkl"
METADATA_FILE = "metadata.json"
REPORT_FILE = "report.html"
VERSIONS = "versions"
STATE = "state"
STAGING_PREFIX = ".staging-"
STAGING_LOCK_SUFFIX = ".lock"
TRACKED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib", "pandas")


def model_dir(root: Path, model: str) -> Path:
    return Path(root) / model


def served_model_path(root: Path, model: str) -> Path:
    return model_dir(root, model) / MODEL_FILE


def versions_dir(root: Path, model: str) -> Path:
    return model_dir(root, model) / VERSIONS


def version_dir(root: Path, model: str, run_id: str) -> Path:
    check_run_id(run_id)
    return versions_dir(root, model) / run_id


def run_id_or_new(run_id: str | None) -> str:
    """The given RUN_ID, checked, or a new one when none was given."""
    return check_run_id(run_id) if run_id else new_run_id()


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S-") + os.urandom(2).hex()


def check_run_id(run_id: str) -> str:
    """Run ids become directory names: letters, digits, '-', '_', '.', not starting with '.'."""
    if not run_id or run_id.startswith(".") or not all(c.isalnum() or c in "-_." for c in run_id) or len(run_id) > 128:
        raise ConfigError(f"RUN_ID={run_id!r} is not a valid version name (letters, digits, '-', '_', '.'; not starting with '.')")
    return run_id


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old or the new file, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, document: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(document, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_metadata(version_path: Path) -> dict[str, Any]:
    path = Path(version_path) / METADATA_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no metadata; is {version_path} a complete model version?") from None


def update_metadata(version_path: Path, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into a version's metadata.json (atomically) and return the result."""
    document = read_metadata(version_path)
    document.update(fields)
    write_json(Path(version_path) / METADATA_FILE, document)
    return document


class VersionWriter:
    """Stage a new version and publish it under its run id only when complete.

        with VersionWriter(root, model, run_id) as version:
            version.write_model(estimator)
            version.write_metadata({...})
        # version.path now exists; on an exception the staging dir is removed

    While the block runs this process holds the flock on `.staging-<id>.lock`: a second
    writer of the same run id is refused at once instead of sharing (or deleting) the
    staging dir, and a staging dir whose lock is free was left by a killed run.
    """

    def __init__(self, root: Path, model: str, run_id: str):
        self.final_path = version_dir(root, model, run_id)
        self.staging_path = self.final_path.parent / f"{STAGING_PREFIX}{run_id}"
        self.lock_path = staging_lock_path(self.staging_path)
        self.path = self.final_path
        self._held = ExitStack()  # the staging lock, from __enter__ to __exit__
        self._refuse_existing()

    def _refuse_existing(self) -> None:
        if self.final_path.exists():
            raise ConfigError(f"RUN_ID={self.final_path.name!r}: version {self.final_path} already exists; "
                              "every run needs a new RUN_ID")

    def __enter__(self) -> "VersionWriter":
        try:
            self._held.enter_context(exclusive_lock(self.lock_path, remove=True))
        except LockBusy:
            raise ConfigError(f"RUN_ID={self.final_path.name!r}: another run with this id is writing "
                              f"{self.staging_path} now (its lock {self.lock_path.name} is held); use a new RUN_ID") from None
        try:
            self._refuse_existing()  # published by a writer that held the lock just before us
            shutil.rmtree(self.staging_path, ignore_errors=True)  # left by a killed run: its lock was free
            self.staging_path.mkdir(parents=True)
        except BaseException:
            self._held.close()
            raise
        return self

    def write_model(self, estimator: Any) -> Path:
        target = self.staging_path / MODEL_FILE
        joblib.dump(estimator, target)
        return target

    def write_metadata(self, document: dict[str, Any]) -> Path:
        target = self.staging_path / METADATA_FILE
        write_json(target, document)
        return target

    def add_file(self, name: str, data: bytes) -> Path:
        target = self.staging_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._publish_or_discard(failed=exc_type is not None)
        finally:
            self._held.close()

    def _publish_or_discard(self, failed: bool) -> None:
        if failed:
            shutil.rmtree(self.staging_path, ignore_errors=True)
            return
        for required in (MODEL_FILE, METADATA_FILE):
            if not (self.staging_path / required).is_file():
                shutil.rmtree(self.staging_path, ignore_errors=True)
                raise ConfigError(f"version {self.final_path.name!r} is incomplete: {required} was not written")
        _fsync_tree(self.staging_path)
        os.rename(self.staging_path, self.final_path)


def staging_lock_path(staging_path: Path) -> Path:
    """The lock file beside a staging dir (not inside it: the dir is renamed on publish)."""
    return staging_path.with_name(staging_path.name + STAGING_LOCK_SUFFIX)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


@dataclass(frozen=True)
class VersionInfo:
    run_id: str
    path: Path
    metadata: dict[str, Any]


def iter_versions(root: Path, model: str) -> Iterator[VersionInfo]:
    """Complete versions of `model`, oldest first (by created_at, then run id)."""
    folder = versions_dir(root, model)
    if not folder.is_dir():
        return iter(())
    found = []
    for path in folder.iterdir():
        if path.is_dir() and not path.name.startswith(".") and (path / METADATA_FILE).is_file():
            found.append(VersionInfo(path.name, path, read_metadata(path)))
    found.sort(key=lambda v: (str(v.metadata.get("created_at", "")), v.run_id))
    return iter(found)
