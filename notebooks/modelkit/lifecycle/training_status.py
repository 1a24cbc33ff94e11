"""scripts/check-training-status.sh: the latest training run of each model and how it ended.

Cluster: reads `kubectl get pipelineruns -l model-name -o json` on stdin. Local: reads
the version directories (their `run` and `gate` records). Exit 1 when a model's latest
run failed, naming it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .. import artifacts
from ..registry import load_registry
from ..settings import models_root_from_env
from ..served_state import served_version

FAILED = ("Failed", "PipelineRunTimeout", "Cancelled", "CancelledRunFinally", "StoppedRunFinally", "PipelineRunCancelled")


def pipelinerun_lines(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(one line per model's latest run, models whose latest run failed)."""
    latest: dict[str, dict[str, Any]] = {}
    for run in document.get("items", []):
        model = run["metadata"].get("labels", {}).get("model-name", "?")
        if model not in latest or run["metadata"]["creationTimestamp"] > latest[model]["metadata"]["creationTimestamp"]:
            latest[model] = run
    lines, failed = [], []
    for model, run in sorted(latest.items()):
        condition = next(iter(run.get("status", {}).get("conditions", [])), {})
        reason = condition.get("reason") or "Pending"
        lines.append(f"{model:<24} {run['metadata']['name']:<44} {reason:<12} started {run.get('status', {}).get('startTime', '-')}"
                     + (f"  ({condition.get('message')})" if reason in FAILED else ""))
        if reason in FAILED:
            failed.append(model)
    return lines, failed


def local_lines(root: Path, model: str | None = None) -> tuple[list[str], list[str]]:
    """One line per model of the registry (or just `model`), and the models whose latest run failed."""
    lines, failed = [], []
    for model in [model] if model else sorted(load_registry()):
        versions = list(artifacts.iter_versions(root, model))
        served, _ = served_version(artifacts.model_dir(root, model))
        if not versions:
            lines.append(f"{model:<24} no training run yet")
            continue
        latest = versions[-1].metadata
        status = (latest.get("run") or {}).get("status", "unknown")
        gate = latest.get("gate") or {}
        verdict = "accepted" if gate.get("accepted") else ("rejected: " + "; ".join(gate.get("reasons", [])) if gate else "not validated")
        lines.append(f"{model:<24} {versions[-1].run_id:<36} run {status:<10} gate {verdict}  (serving {served or 'nothing'})")
        if status in FAILED or (gate and not gate.get("accepted")):
            failed.append(model)
    return lines, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true")
    parser.add_argument("--models-root", type=Path)
    parser.add_argument("--model", help="only this model (local mode; the cluster mode selects by label)")
    args = parser.parse_args()
    if args.local:
        lines, failed = local_lines(args.models_root or models_root_from_env(), args.model)
    else:
        lines, failed = pipelinerun_lines(json.load(sys.stdin))
        lines = lines or ["no PipelineRuns labelled model-name found"]
    print("\n".join(lines))
    if failed:
        sys.exit(f"latest training run failed for: {', '.join(failed)}")


if __name__ == "__main__":
    main()
