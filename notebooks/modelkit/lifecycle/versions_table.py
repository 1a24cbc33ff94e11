"""`modelkit versions`: every version of a model with its metrics, gate verdict, which is
served (and whether it was forced past the checks) and which one rollback would serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import artifacts
from .promotion import NoRollbackTarget, current_state, rollback_target
from ..served_state import file_sha256


def _gate_text(gate: dict[str, Any], bytes_changed: bool) -> str:
    if not gate:
        return "not validated"
    if not gate.get("accepted"):
        return "rejected"
    return "accepted, file changed since" if bytes_changed else "accepted"


def version_rows(root: Path, model: str) -> list[dict[str, Any]]:
    model_dir = artifacts.model_dir(root, model)
    state = current_state(model_dir)
    try:
        rollback_to = state.stack[rollback_target(state, root, model)[0]]
    except NoRollbackTarget:
        rollback_to = None
    rows = []
    for version in artifacts.iter_versions(root, model):
        meta = version.metadata
        gate = meta.get("gate") or {}
        served = version.run_id == state.run_id
        judged = gate.get("model_sha256")
        bytes_changed = bool(judged) and file_sha256(version.path / artifacts.MODEL_FILE) != judged
        rows.append({
            "run_id": version.run_id,
            "created_at": meta.get("created_at"),
            "served": served,
            "forced": state.forced if served else None,  # why it should not be served (rollback --force)
            "rollback_target": version.run_id == rollback_to,
            "gate": _gate_text(gate, bytes_changed),
            "data_source": meta.get("data_source"),
            "training_hours": meta.get("training_hours"),
            "metrics": {k: v for k, v in (meta.get("metrics") or {}).items() if isinstance(v, (int, float, bool))},
        })
    return rows


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_rows(model: str, rows: list[dict[str, Any]], metric_names: list[str]) -> str:
    if not rows:
        return f"{model}: no versions"
    lines = [f"{model}:"]
    for row in rows:
        mark = "* served" if row["served"] else ("  rollback target" if row["rollback_target"] else "")
        if row["forced"]:
            mark += f" (FORCED: {row['forced']})"
        metrics = ", ".join(f"{k}={_number(row['metrics'][k])}" for k in metric_names if k in row["metrics"])
        data = f"{row['data_source'] or '?'} {row['training_hours'] or '?'}h"
        lines.append(f"  {row['run_id']:<32} {row['gate']:<13} {data:<16} {metrics} {mark}".rstrip())
    return "\n".join(lines)
