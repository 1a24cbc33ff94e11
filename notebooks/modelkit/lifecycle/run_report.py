"""`modelkit report-run` (the pipeline's `finally`): record how the run ended.

Writes the outcome into the version's metadata.json (`run`), removes staging dirs that
killed runs left (never one a live run holds), and when a step after promotion failed
(the smoke test) undoes this run's promotion: it rolls back to the previous accepted
version, or serves nothing when there is none (a first run). A failed run never leaves
its model serving. It touches only what this run did: a version served by an operator's
rollback, or published by an earlier run with the same id (whose report is already
recorded), is left alone. It prunes old versions as promotion does, so runs the gate
refused do not pile up.
"""

from __future__ import annotations

from .. import artifacts
from ..errors import ConfigError
from ..registry import get_model
from ..served_state import served_version
from ..settings import Settings
from ..staging import remove_abandoned_staging
from .policy import policy_for
from .promotion import NoRollbackTarget, Promotion, current_state, promoted_by_run, prune, rollback, withdraw

SUCCEEDED = ("Succeeded", "Completed")


def _undo_promotion(settings: Settings) -> tuple[Promotion, list[str]]:
    """Roll back this run's promotion: to the previous accepted version, else to nothing."""
    try:
        result = rollback(settings.models_root, settings.model_name)
        return result, [f"  a step after promotion failed: rolled back to {result.run_id}",
                        *(f"  {note}" for note in result.notes)]
    except NoRollbackTarget as exc:
        result = withdraw(settings.models_root, settings.model_name)
        return result, [f"  a step after promotion failed and nothing earlier may be served ({exc}): "
                        "nothing is served now"]


def report_run(settings: Settings, status: str) -> tuple[str, Promotion | None]:
    """(what to print, the switch of the served version it made, or None)."""
    model, root, run_id = settings.model_name, settings.models_root, settings.run_id
    if not run_id:
        raise ConfigError("RUN_ID is not set; report-run needs the run to report on")
    status = status or "unknown"
    remove_abandoned_staging(root, model)
    version = artifacts.version_dir(root, model, run_id)
    if not version.is_dir():
        return f"{model} run {run_id}: {status}; no version was published", None
    earlier = artifacts.read_metadata(version).get("run")
    if earlier:
        return (f"{model} run {run_id}: {status}; version {run_id} belongs to an earlier run with this id "
                f"(recorded: {earlier.get('status')}); nothing changed"), None
    lines = [f"{model} run {run_id}: {status}"]
    state = current_state(artifacts.model_dir(root, model))
    switch = None
    if status not in SUCCEEDED and promoted_by_run(state, run_id):
        switch, notes = _undo_promotion(settings)
        lines += notes
    elif status not in SUCCEEDED and state.run_id == run_id:
        lines.append(f"  {run_id} is served, but not through this run's promotion (last switch: "
                     f"{(state.log or [{}])[-1].get('action', 'none')}); left as it is")
    metadata = artifacts.update_metadata(version, run={
        "status": status, "finished_at": artifacts.utc_now(),
        "rolled_back_to": switch.run_id if switch else None, "withdrawn": bool(switch and switch.run_id is None)})
    gate = metadata.get("gate") or {}
    lines.append(f"  gate: {'accepted' if gate.get('accepted') else gate.get('reasons') or 'not run'}")
    lines.append(f"  served now: {served_version(artifacts.model_dir(root, model))[0] or 'nothing'}")
    pruned = prune(root, model, policy_for(get_model(model)).keep_versions)  # refused runs pile up too
    if pruned:
        lines.append(f"  pruned old versions: {', '.join(pruned)}")
    if (version / artifacts.REPORT_FILE).is_file():
        lines.append(f"  report: {version / artifacts.REPORT_FILE}")
    return "\n".join(lines), switch
