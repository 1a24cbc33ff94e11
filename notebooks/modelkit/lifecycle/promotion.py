"""Promote, roll back and prune versions of a model: the served file is always whole.

The served file `<root>/<model>/model.pkl` is replaced with os.replace from a copy in
`state/` (same filesystem, a name not ending in .pkl, so KServe never sees two model
files). A crash at any point leaves the previous or the new model served, never a
part; `served_state` then reports whichever file is really there.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import artifacts
from ..errors import ConfigError
from .served_state import (ServedState, file_sha256, promotion_lock, read_state, served_version,
                           write_state)

INCOMING_PREFIX = ".incoming-"
PRUNING_PREFIX = ".pruning-"


@dataclass(frozen=True)
class Promotion:
    model: str
    run_id: str
    previous: str | None
    pruned: tuple[str, ...]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install_served_file(model_dir: Path, source: Path, expected_sha256: str | None = None) -> str:
    """Atomically make `source` the served model file; returns its sha256.

    With `expected_sha256` (what the gate judged) a file changed since is refused."""
    state = model_dir / artifacts.STATE
    state.mkdir(parents=True, exist_ok=True)
    for leftover in state.glob(f"{INCOMING_PREFIX}*"):  # from a promotion killed mid-copy
        leftover.unlink(missing_ok=True)
    incoming = state / f"{INCOMING_PREFIX}{os.getpid()}"
    shutil.copyfile(source, incoming)
    with open(incoming, "rb") as handle:
        os.fsync(handle.fileno())
    sha256 = file_sha256(incoming)
    if expected_sha256 and sha256 != expected_sha256:
        incoming.unlink()
        raise ConfigError(f"{source} changed since the gate validated it (sha256 {sha256[:12]}, "
                          f"validated {expected_sha256[:12]}); run `modelkit validate` again")
    os.replace(incoming, model_dir / artifacts.MODEL_FILE)
    _fsync_dir(model_dir)
    return sha256


def _require_version(root: Path, model: str, run_id: str) -> Path:
    path = artifacts.version_dir(root, model, run_id)
    if not (path / artifacts.MODEL_FILE).is_file():
        known = ", ".join(v.run_id for v in artifacts.iter_versions(root, model)) or "none"
        raise ConfigError(f"{model} has no complete version {run_id!r} under {path.parent} (versions: {known})")
    return path


def _require_accepted(path: Path, run_id: str) -> None:
    gate = artifacts.read_metadata(path).get("gate")
    if not gate:
        raise ConfigError(f"version {run_id} has not been through the gate; run `modelkit validate` first")
    if not gate.get("accepted"):
        raise ConfigError(f"version {run_id} was rejected by the gate: {'; '.join(gate.get('reasons', []))}")


def current_state(model_dir: Path) -> ServedState:
    """The recorded state, made true again when a crash left the record behind the served file."""
    state = read_state(model_dir)
    served, sha256 = served_version(model_dir)
    if served != state.run_id:
        state.stack = [r for r in state.stack if r != served] + ([served] if served else [])
        state.run_id, state.sha256 = served, sha256
    return state


def _switch(root: Path, model: str, state: ServedState, run_id: str, stack: list[str], action: str) -> str | None:
    """Serve `run_id` and record it with the new rollback `stack`; returns the previous run id."""
    version = _require_version(root, model, run_id)
    validated = (artifacts.read_metadata(version).get("gate") or {}).get("model_sha256")
    model_dir = artifacts.model_dir(root, model)
    sha256 = install_served_file(model_dir, version / artifacts.MODEL_FILE, validated)
    previous = state.run_id
    state.run_id, state.sha256, state.stack = run_id, sha256, stack
    state.log.append({"action": action, "run_id": run_id, "previous": previous, "at": artifacts.utc_now()})
    write_state(model_dir, state)
    return previous


def promote(root: Path, model: str, run_id: str, *, keep_versions: int, require_gate: bool = True) -> Promotion:
    path = _require_version(root, model, run_id)
    if require_gate:
        _require_accepted(path, run_id)
    model_dir = artifacts.model_dir(root, model)
    with promotion_lock(model_dir):
        state = current_state(model_dir)
        stack = state.stack if state.stack[-1:] == [run_id] else state.stack + [run_id]
        previous = _switch(root, model, state, run_id, stack, "promote")
        pruned = _prune(root, model, keep_versions)
    return Promotion(model, run_id, previous, pruned)


def rollback_target(state: ServedState, root: Path, model: str) -> int:
    """Index in the stack of the latest earlier served version that still exists."""
    for index in range(len(state.stack) - 2, -1, -1):
        if (artifacts.version_dir(root, model, state.stack[index]) / artifacts.MODEL_FILE).is_file():
            return index
    raise ConfigError(f"{model}: no earlier served version to roll back to (history: {state.stack or 'empty'})")


def rollback(root: Path, model: str, to: str | None = None) -> Promotion:
    """Serve the version served before the current one, or `to` (any complete version)."""
    model_dir = artifacts.model_dir(root, model)
    with promotion_lock(model_dir):
        state = current_state(model_dir)
        if to is None:
            index = rollback_target(state, root, model)
            to, stack = state.stack[index], state.stack[:index + 1]
        else:
            stack = state.stack + [to]
        previous = _switch(root, model, state, to, stack, "rollback")
    return Promotion(model, to, previous, ())


def _prune(root: Path, model: str, keep_versions: int) -> tuple[str, ...]:
    """Remove versions beyond the newest `keep_versions`, never the served one or its rollback target."""
    state = read_state(artifacts.model_dir(root, model))
    protected = set(state.stack[-2:])
    versions = list(artifacts.iter_versions(root, model))
    newest = {v.run_id for v in versions[-keep_versions:]}
    removed = []
    for version in versions:
        if version.run_id in protected or version.run_id in newest:
            continue
        doomed = version.path.with_name(f"{PRUNING_PREFIX}{version.run_id}")
        os.rename(version.path, doomed)  # gone from listings at once, even if the delete is cut short
        shutil.rmtree(doomed)
        removed.append(version.run_id)
    for leftover in artifacts.versions_dir(root, model).glob(f"{PRUNING_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return tuple(removed)


def prune(root: Path, model: str, keep_versions: int) -> tuple[str, ...]:
    with promotion_lock(artifacts.model_dir(root, model)):
        return _prune(root, model, keep_versions)
