"""What the models volume says about each model: its versions, verdicts, and the schedule's period.

Read every cycle from `<root>/<model>/versions/*/metadata.json` (cached per file by mtime, so a
cycle stats the files and parses only what changed). Times are the versions' `created_at`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cronsim import CronSim

from .. import artifacts
from ..errors import ConfigError

FIRINGS_CHECKED = 8  # the schedule's period is the longest gap among its next firings


@dataclass(frozen=True)
class VersionFacts:
    run_id: str
    created_at: float | None  # Unix seconds
    accepted: bool | None  # None: never judged by the gate


@dataclass(frozen=True)
class ModelFacts:
    last_training: float | None
    last_accepted_training: float | None
    last_gate_accepted: bool | None  # verdict of the newest judged version
    created_at_by_run: dict[str, float | None]
    reference_by_run: dict[str, dict[str, Any]]


def unix_seconds(text: Any) -> float | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def schedule_period_seconds(schedule: str, now: datetime | None = None) -> float:
    """The longest gap between consecutive firings of a 5-field cron schedule (UTC), e.g. 604800 for weekly."""
    firings = CronSim(schedule, now or datetime.now(timezone.utc))
    times = [next(firings) for _ in range(FIRINGS_CHECKED + 1)]
    return max((later - earlier).total_seconds() for earlier, later in zip(times, times[1:]))


class VersionsReader:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: dict[Path, tuple[int, dict[str, Any]]] = {}

    def _metadata(self, version: Path) -> dict[str, Any] | None:
        path = version / artifacts.METADATA_FILE
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return None
        cached = self._cache.get(path)
        if cached is None or cached[0] != mtime:
            try:
                cached = self._cache[path] = (mtime, artifacts.read_metadata(version))
            except (ConfigError, OSError):
                return None  # a version being pruned or rewritten: next cycle
        return cached[1]

    def facts(self, model: str) -> ModelFacts:
        folder = artifacts.versions_dir(self.root, model)
        versions = []
        if folder.is_dir():
            for entry in os.scandir(folder):
                if entry.is_dir() and not entry.name.startswith("."):
                    metadata = self._metadata(Path(entry.path))
                    if metadata is not None:
                        versions.append((entry.name, metadata))
        versions.sort(key=lambda v: (str(v[1].get("created_at", "")), v[0]))
        facts = [VersionFacts(run_id, unix_seconds(m.get("created_at")), (m.get("gate") or {}).get("accepted")) for run_id, m in versions]
        judged = [f for f in facts if f.accepted is not None]
        accepted = [f for f in judged if f.accepted]
        return ModelFacts(
            last_training=facts[-1].created_at if facts else None,
            last_accepted_training=accepted[-1].created_at if accepted else None,
            last_gate_accepted=bool(judged[-1].accepted) if judged else None,
            created_at_by_run={f.run_id: f.created_at for f in facts},
            reference_by_run={run_id: m.get("reference_quantiles") or {} for run_id, m in versions},
        )
