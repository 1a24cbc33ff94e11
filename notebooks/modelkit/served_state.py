"""Which version a model directory serves, and the promotion stack used by rollback.

`<model dir>/state/served.json` records the served run id, the sha256 of the file
installed as `<model dir>/model.pkl`, the stack of served run ids (rollback pops it),
why the served version was forced past the checks (`rollback --to X --force`), and a
log of every switch (written before the file is replaced, so the last entry names the
switch that put the served file there: report-run undoes only its own run's promotion).
The served file is the truth: when a crash left the record behind the file, the version
whose model.pkl has the served file's hash wins.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from . import artifacts

STATE_FILE = "served.json"
LOCK_FILE = "promotion.lock"
LOG_LIMIT = 200  # promotion log entries and rollback stack entries kept


@dataclass
class ServedState:
    run_id: str | None = None
    sha256: str | None = None
    stack: list[str] = field(default_factory=list)  # served run ids, current last
    log: list[dict] = field(default_factory=list)
    forced: str | None = None  # why the served version may not be served, when forced anyway


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_path(model_dir: Path) -> Path:
    return Path(model_dir) / artifacts.STATE / STATE_FILE


def read_state(model_dir: Path) -> ServedState:
    path = state_path(model_dir)
    if not path.is_file():
        return ServedState()
    document = json.loads(path.read_text())
    return ServedState(**{k: document[k] for k in ("run_id", "sha256", "stack", "log", "forced") if k in document})


def write_state(model_dir: Path, state: ServedState) -> None:
    state.log, state.stack = state.log[-LOG_LIMIT:], state.stack[-LOG_LIMIT:]
    artifacts.write_json(state_path(model_dir), asdict(state))


@contextmanager
def promotion_lock(model_dir: Path) -> Iterator[None]:
    """One promotion, rollback or prune at a time per model (flock, released if the process dies)."""
    lock = Path(model_dir) / artifacts.STATE / LOCK_FILE
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def version_with_hash(model_dir: Path, sha256: str) -> str | None:
    for version in artifacts.iter_versions(Path(model_dir).parent, Path(model_dir).name):
        model_file = version.path / artifacts.MODEL_FILE
        if model_file.is_file() and file_sha256(model_file) == sha256:
            return version.run_id
    return None


def served_version(model_dir: Path) -> tuple[str | None, str | None]:
    """(run id, sha256) of the file being served now; (None, None) when nothing is served.

    The run id is None for a served file no version matches (copied in by hand).
    """
    served_file = Path(model_dir) / artifacts.MODEL_FILE
    if not served_file.is_file():
        return None, None
    sha256 = file_sha256(served_file)
    state = read_state(model_dir)
    if state.sha256 == sha256:
        return state.run_id, sha256
    return version_with_hash(model_dir, sha256), sha256
