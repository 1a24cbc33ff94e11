"""Promote, roll back and prune versions of a model: the served file is always whole.

The served file `<root>/<model>/model.pkl` is replaced with os.replace from a copy in
`state/` (same filesystem, a name not ending in .pkl, so KServe never sees two model
files). A crash at any point leaves the previous or the new model served, never a
part; `served_state` then reports whichever file is really there.

Only a version the gate accepted is ever served, and only the bytes it judged (the
sha256 in its verdict): by promotion, by rollback, and by report-run's automatic
rollback. `rollback --to X --force` is the one way past that, and it is recorded.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import artifacts
from ..errors import ConfigError
from ..served_state import ServedState, file_sha256, promotion_lock, read_state, served_version, write_state
from ..staging import remove_abandoned_staging

INCOMING_PREFIX = ".incoming-"
PRUNING_PREFIX = ".pruning-"


@dataclass(frozen=True)
class Promotion:
    model: str
    run_id: str | None  # None: nothing is served now
    previous: str | None
    pruned: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what the user should know: skipped rollback targets, a forced check


class NoRollbackTarget(ConfigError):
    """No earlier served version may be served again."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install_served_file(model_dir: Path, source: Path, expected_sha256: str | None) -> str:
    """Atomically make `source` the served model file; returns its sha256.

    With `expected_sha256` (what the gate judged) a file changed since is refused; None
    only for `rollback --force`."""
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
    if not (path / artifacts.MODEL_FILE).is_file() or not (path / artifacts.METADATA_FILE).is_file():
        known = ", ".join(v.run_id for v in artifacts.iter_versions(root, model)) or "none"
        raise ConfigError(f"{model} has no complete version {run_id!r} under {path.parent} (versions: {known})")
    return path


def servable_problem(version: Path) -> str | None:
    """Why `version` may not be served, or None: the gate accepted it and its model.pkl has
    exactly the sha256 the gate recorded for the file it judged (gate.model_sha256)."""
    model_file = Path(version) / artifacts.MODEL_FILE
    if not model_file.is_file():
        return f"it no longer exists ({model_file} is missing)"
    gate = artifacts.read_metadata(version).get("gate")
    if not gate:
        return "it has not been through the gate; run `modelkit validate` first"
    if not gate.get("accepted"):
        return f"it was rejected by the gate: {'; '.join(gate.get('reasons') or []) or 'no reason recorded'}"
    judged = gate.get("model_sha256")
    if not judged:
        return "its gate verdict records no model_sha256, so nothing ties it to these bytes; run `modelkit validate` again"
    actual = file_sha256(model_file)
    if actual != judged:
        return (f"its model.pkl changed since the gate validated it (sha256 {actual[:12]}, validated {judged[:12]}); "
                "run `modelkit validate` again")
    return None


def current_state(model_dir: Path) -> ServedState:
    """The recorded state, made true again when a crash left the record behind the served file."""
    state = read_state(model_dir)
    served, sha256 = served_version(model_dir)
    if served != state.run_id:
        state.stack = [r for r in state.stack if r != served] + ([served] if served else [])
        state.run_id, state.sha256, state.forced = served, sha256, None
    return state


def _switch(root: Path, model: str, state: ServedState, run_id: str, stack: list[str], action: str,
            forced: str | None = None) -> str | None:
    """Serve `run_id` and record it with the new rollback `stack`; returns the previous run id.

    The log entry is written before the file is replaced: whatever moment a crash hits, the
    last entry names the switch that may have put the served file there."""
    version = _require_version(root, model, run_id)
    judged = None if forced else artifacts.read_metadata(version)["gate"]["model_sha256"]
    model_dir = artifacts.model_dir(root, model)
    previous = state.run_id
    entry = {"action": action, "run_id": run_id, "previous": previous, "at": artifacts.utc_now()}
    if forced:
        entry["forced"] = forced
    state.log.append(entry)
    write_state(model_dir, state)
    try:
        sha256 = install_served_file(model_dir, version / artifacts.MODEL_FILE, judged)
    except BaseException as exc:
        entry["failed"] = str(exc) or type(exc).__name__
        write_state(model_dir, state)
        raise
    state.run_id, state.sha256, state.stack, state.forced = run_id, sha256, stack, forced
    write_state(model_dir, state)
    return previous


def promoted_by_run(state: ServedState, run_id: str) -> bool:
    """True when `run_id` is served because its own promotion put it there (the last switch),
    not an operator's rollback to it or an earlier run that happened to use the same id."""
    last = state.log[-1] if state.log else {}
    return (state.run_id == run_id and last.get("action") == "promote" and last.get("run_id") == run_id
            and not last.get("failed"))


def promote(root: Path, model: str, run_id: str, *, keep_versions: int) -> Promotion:
    problem = servable_problem(_require_version(root, model, run_id))
    if problem:
        raise ConfigError(f"{model} version {run_id} cannot be promoted: {problem}")
    model_dir = artifacts.model_dir(root, model)
    with promotion_lock(model_dir):
        state = current_state(model_dir)
        stack = state.stack if state.stack[-1:] == [run_id] else state.stack + [run_id]
        previous = _switch(root, model, state, run_id, stack, "promote")
        pruned = _prune(root, model, keep_versions)
    return Promotion(model, run_id, previous, pruned)


def rollback_target(state: ServedState, root: Path, model: str) -> tuple[int, tuple[str, ...]]:
    """(index in the stack of the latest earlier served version that may be served again,
    the newer ones skipped and why). NoRollbackTarget when there is none."""
    skipped = []
    for index in range(len(state.stack) - 2, -1, -1):
        run_id = state.stack[index]
        if run_id == state.run_id:
            continue
        problem = servable_problem(artifacts.version_dir(root, model, run_id))
        if problem is None:
            return index, tuple(skipped)
        skipped.append(f"skipped {run_id}: {problem}")
    detail = f"; {'; '.join(skipped)}" if skipped else ""
    raise NoRollbackTarget(f"{model}: no earlier served version to roll back to "
                           f"(history: {', '.join(state.stack) or 'empty'}{detail})")


def rollback(root: Path, model: str, to: str | None = None, *, force: bool = False) -> Promotion:
    """Serve the latest earlier served version the gate accepted, or `to`.

    Only a version whose model.pkl is the file the gate accepted is served; `force` (with
    `to`) serves one that is not and records why it should not have been."""
    if force and to is None:
        raise ConfigError("--force needs --to: name the version to serve in spite of the checks")
    model_dir = artifacts.model_dir(root, model)
    with promotion_lock(model_dir):
        state = current_state(model_dir)
        notes: tuple[str, ...] = ()
        forced = None
        if to is None:
            index, notes = rollback_target(state, root, model)
            to, stack = state.stack[index], state.stack[:index + 1]
        else:
            problem = servable_problem(_require_version(root, model, to))
            if problem and not force:
                raise ConfigError(f"{model}: will not serve {to}: {problem} "
                                  "(rollback --to ... --force serves it anyway, and records that)")
            forced = problem
            stack = state.stack + [to]
        previous = _switch(root, model, state, to, stack, "rollback", forced)
    if forced:
        notes += (f"FORCED, recorded in {artifacts.STATE}/served.json: {forced}",)
    return Promotion(model, to, previous, (), notes)


def withdraw(root: Path, model: str) -> Promotion:
    """Serve nothing (a first run failed after its promotion: there is no earlier version)."""
    model_dir = artifacts.model_dir(root, model)
    with promotion_lock(model_dir):
        state = current_state(model_dir)
        previous = state.run_id
        state.log.append({"action": "withdraw", "run_id": None, "previous": previous, "at": artifacts.utc_now()})
        write_state(model_dir, state)
        (model_dir / artifacts.MODEL_FILE).unlink(missing_ok=True)
        _fsync_dir(model_dir)
        state.run_id, state.sha256, state.stack, state.forced = None, None, [], None
        write_state(model_dir, state)
    return Promotion(model, None, previous)


def _prune(root: Path, model: str, keep_versions: int) -> tuple[str, ...]:
    """Remove versions beyond the newest `keep_versions`, never the served one or its rollback
    target, and the staging dirs killed runs left (never one a live run holds)."""
    remove_abandoned_staging(root, model)
    state = current_state(artifacts.model_dir(root, model))
    protected = {state.run_id}
    try:
        protected.add(state.stack[rollback_target(state, root, model)[0]])
    except NoRollbackTarget:
        pass
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
