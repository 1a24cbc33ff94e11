"""`modelkit report-run` (the pipeline's `finally`): record how the run ended.

Writes the outcome into the version's metadata.json (`run`), removes this run's
staging directory if training died half-way, and when a step after promotion failed
(the smoke test) while this run's version is served, rolls back to the previous one:
a failed run never leaves its model serving. It prunes old versions as promotion does,
so runs the gate refused do not pile up.
"""

from __future__ import annotations

import shutil

from .. import artifacts
from ..errors import ConfigError
from ..settings import Settings
from ..registry import get_model
from .policy import policy_for
from .promotion import prune, rollback
from .served_state import served_version

SUCCEEDED = ("Succeeded", "Completed")


def report_run(settings: Settings, status: str) -> tuple[str, str | None]:
    """(what to print, the run id rolled back to or None)."""
    model, root, run_id = settings.model_name, settings.models_root, settings.run_id
    if not run_id:
        raise ConfigError("RUN_ID is not set; report-run needs the run to report on")
    staging = artifacts.versions_dir(root, model) / f"{artifacts.STAGING_PREFIX}{run_id}"
    shutil.rmtree(staging, ignore_errors=True)
    version = artifacts.version_dir(root, model, run_id)
    if not version.is_dir():
        return f"{model} run {run_id}: {status or 'unknown'}; no version was published", None
    lines = [f"{model} run {run_id}: {status or 'unknown'}"]
    served, _ = served_version(artifacts.model_dir(root, model))
    rolled_back_to = None
    if status not in SUCCEEDED and served == run_id:
        rolled_back_to = rollback(root, model).run_id
        lines.append(f"  a step after promotion failed: rolled back to {rolled_back_to}")
    metadata = artifacts.update_metadata(version, run={"status": status or "unknown", "finished_at": artifacts.utc_now(),
                                                       "rolled_back_to": rolled_back_to})
    gate = metadata.get("gate") or {}
    lines.append(f"  gate: {'accepted' if gate.get('accepted') else gate.get('reasons') or 'not run'}")
    lines.append(f"  served now: {served_version(artifacts.model_dir(root, model))[0] or 'nothing'}")
    pruned = prune(root, model, policy_for(get_model(model)).keep_versions)  # refused runs pile up too
    if pruned:
        lines.append(f"  pruned old versions: {', '.join(pruned)}")
    if (version / artifacts.REPORT_FILE).is_file():
        lines.append(f"  report: {version / artifacts.REPORT_FILE}")
    return "\n".join(lines), rolled_back_to
