"""Staging dirs and run ids: a run id names one version, once; dirs left by killed runs are removed.

A training run writes into a staging dir (`artifacts.STAGING_PREFIX` + run id, beside the
versions) under its lock; the runner publishes it as the version. `refuse_duplicate_run` stops
a run whose id already has a version or a live staging dir before it trains (check-params, which
`modelkit run-notebook` also runs, and `modelkit train`, which holds `claimed_run_id` for its whole
run so a second local run with the id is refused before its first step). Staging dirs whose lock
is free were left by killed runs; `remove_abandoned_staging` (promotion, run report) deletes
those, never one a live run holds.
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from .artifacts import (STAGING_LOCK_SUFFIX, STAGING_PREFIX, read_metadata, staging_lock_path, update_metadata, utc_now,
                        version_dir, versions_dir)
from .errors import ConfigError
from .locks import LockBusy, exclusive_lock, is_held

RUN_LOCK_PREFIX = ".run-"


def refuse_duplicate_run(root: Path, model: str, run_id: str) -> None:
    """ConfigError when `run_id` already names a version of `model`, or a run writing one now.

    A version whose run never reported (killed, or its `finally` cancelled) is closed first
    (`run.status` recorded), so this refused run's report cannot take it for its own."""
    version = version_dir(root, model, run_id)
    if version.exists():
        _close_unreported(version, run_lock_path(root, model, run_id))
        raise ConfigError(f"RUN_ID={run_id!r}: {model} already has a version {run_id} ({version}); a run id names "
                          "one training run only, so this run would change nothing but could disturb that version's "
                          "outcome. Use a new RUN_ID (a new PipelineRun name, or leave --run-id out)")
    staging = version.with_name(f"{STAGING_PREFIX}{run_id}")
    if is_held(staging_lock_path(staging)):
        raise ConfigError(f"RUN_ID={run_id!r}: another run with this id is writing {staging} now; use a new RUN_ID")


def _close_unreported(version: Path, run_lock: Path) -> None:
    # The run that made it is over: a PipelineRun name is unique while the run exists, and a
    # live local run holds its run lock.
    if "run" not in read_metadata(version) and not is_held(run_lock):
        try:
            update_metadata(version, run={"status": "ended without a report", "finished_at": None,
                                          "closed_at": utc_now(), "closed_by": "a later run with the same id (refused)"})
        except OSError as exc:  # a read-only models volume: the refusal below still stands
            print(f"note: could not record that run {version.name} ended without a report: {exc}", flush=True)


def run_lock_path(root: Path, model: str, run_id: str) -> Path:
    return versions_dir(root, model) / f"{RUN_LOCK_PREFIX}{run_id}{STAGING_LOCK_SUFFIX}"


@contextmanager
def claimed_run_id(root: Path, model: str, run_id: str) -> Iterator[None]:
    """Hold `run_id` for a whole local run: a second run with the id is refused at once."""
    lock = run_lock_path(root, model, run_id)
    with ExitStack() as held:
        try:
            held.enter_context(exclusive_lock(lock, remove=True))
        except LockBusy:
            raise ConfigError(f"RUN_ID={run_id!r}: another `modelkit train` with this run id is running "
                              f"(it holds {lock}); use a new --run-id") from None
        refuse_duplicate_run(root, model, run_id)
        yield


def remove_abandoned_staging(root: Path, model: str) -> list[str]:
    """Delete the staging dirs of `model` that no live process holds; returns their run ids."""
    folder = versions_dir(root, model)
    if not folder.is_dir():
        return []
    removed = []
    for staging in sorted(p for p in folder.glob(f"{STAGING_PREFIX}*") if p.is_dir()):
        try:
            with exclusive_lock(staging_lock_path(staging), remove=True):
                shutil.rmtree(staging)
        except LockBusy:
            continue  # a live run is writing it
        removed.append(staging.name[len(STAGING_PREFIX):])
    locks = [*folder.glob(f"{STAGING_PREFIX}*{STAGING_LOCK_SUFFIX}"), *folder.glob(f"{RUN_LOCK_PREFIX}*{STAGING_LOCK_SUFFIX}")]
    for lock in locks:
        if lock.with_name(lock.name[:-len(STAGING_LOCK_SUFFIX)]).is_dir():
            continue
        try:
            with exclusive_lock(lock, remove=True):
                pass  # a lock file its killed holder left behind
        except LockBusy:
            pass
    return removed
