"""The metadata.json document of a trained version (the gate and the server read it)."""

from __future__ import annotations

from typing import Any

from ..artifacts import library_versions, utc_now
from ..evaluation.drift import reference_quantiles
from .run_context import TrainingRun
from ..thresholds import check_thresholds


def build_metadata(
    run: TrainingRun,
    *,
    metrics: dict[str, Any],
    outputs: dict[str, Any],
    provenance: dict[str, Any],
    probe_input: list[list[float]],
    details: dict[str, Any],
    replay: dict[str, Any] | None = None,
    reference_inputs: Any = None,  # the training rows of the model's inputs: drift reference for `modelkit watch`
) -> dict[str, Any]:
    """`metrics` are computed on held-out rows only; `details` holds model-specific extras;
    `replay` the held-out window the gate replays (evaluation/replay.py; None: compared by recorded metrics)."""
    met, checks = check_thresholds(metrics, run.spec.thresholds)
    return {
        "model": run.spec.name,
        "kind": run.spec.kind,
        "run_id": run.run_id,
        "created_at": utc_now(),
        "git_ref": run.settings.git_ref,
        "feature_contract": {"names": list(run.spec.features), "count": len(run.spec.features)},
        "outputs": outputs,
        "metrics": metrics,
        "thresholds": dict(run.spec.thresholds),
        "thresholds_met": met,
        "threshold_checks": checks,
        "provenance": provenance,
        "library_versions": library_versions(),
        "data_source": run.data_source,
        "training_hours": run.training_hours,
        "probe_input": probe_input,
        "details": details,
        "replay": replay,
        "reference_quantiles": {} if reference_inputs is None else reference_quantiles(reference_inputs),
    }
