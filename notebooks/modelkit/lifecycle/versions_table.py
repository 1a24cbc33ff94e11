"""`modelkit versions`: every version of a model with its metrics, gate verdict and which is served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import artifacts
from .served_state import read_state, served_version


def version_rows(root: Path, model: str) -> list[dict[str, Any]]:
    model_dir = artifacts.model_dir(root, model)
    served, _ = served_version(model_dir)
    stack = read_state(model_dir).stack
    rows = []
    for version in artifacts.iter_versions(root, model):
        meta = version.metadata
        gate = meta.get("gate") or {}
        rows.append({
            "run_id": version.run_id,
            "created_at": meta.get("created_at"),
            "served": version.run_id == served,
            "rollback_target": len(stack) > 1 and version.run_id == stack[-2],
            "gate": "accepted" if gate.get("accepted") else ("rejected" if gate else "not validated"),
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
        metrics = ", ".join(f"{k}={_number(row['metrics'][k])}" for k in metric_names if k in row["metrics"])
        data = f"{row['data_source'] or '?'} {row['training_hours'] or '?'}h"
        lines.append(f"  {row['run_id']:<32} {row['gate']:<13} {data:<16} {metrics} {mark}".rstrip())
    return "\n".join(lines)
