"""The quality gate (`modelkit validate`): may this trained version be served?

Checks, each adding a reason when it fails: the version is complete and names this
model; its feature contract equals the registry's; the model file loads (allowlist
unpickler, fresh process), expects as many features as the contract and predicts
finite values of the right shape on the recorded held-out `probe_input`; its held-out
quality on untouched rows is good enough whatever the registry says (a forecaster beats
every naive forecast on every metric, mae_ratio < 1; a detector stays within its
false-alarm limit on a slice long enough to allow at least one, per entity-day for a
per-entity model, whose days are entity-days, and detects at least one of the slice's
labelled events when it holds any: a detector that flags nothing is refused by name even
where the registry sets no minEventRecall); the registry's
thresholds hold; real data was used when the registry requires it; and the primary
metric is not worse than the served version's by more than the tolerance (skipped with
--force, which is recorded). For that comparison the candidate's recorded held-out window
(evaluation/replay.py) is replayed through both versions, so they are judged on the same rows even
when they were trained on other data or hours; a version without a window (older modelkit)
is compared by its recorded metrics, only when both were evaluated on the same data source
and hours. The verdict goes into metadata.json under `gate`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import artifacts
from ..errors import ConfigError, GateRejected
from ..evaluation.anomaly import false_alarm_limit
from ..evaluation.probe import probe_in_fresh_process
from ..evaluation.replay import KEY as REPLAY_KEY
from ..evaluation.replay import replay_metrics
from ..registry import ModelSpec
from ..served_state import file_sha256, served_version
from ..thresholds import check_thresholds
from .policy import PromotionPolicy, policy_for

ANOMALY_LABELS = {-1, 1}
# Versions are compared only when their held-out metrics come from the same kind of data.
EVALUATION_KEYS = ("data_source", "training_hours")


@dataclass
class Verdict:
    accepted: bool
    reasons: list[str]
    notes: list[str] = field(default_factory=list)
    compared_with: str | None = None
    forced: bool = False
    model_sha256: str | None = None  # the exact file judged; promotion serves only these bytes
    validated_at: str = field(default_factory=artifacts.utc_now)


def _finite(values: list[Any]) -> bool:
    flat = values
    while flat and isinstance(flat[0], list):
        flat = [v for row in flat for v in row]
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in flat)


def check_contract(spec: ModelSpec, metadata: dict[str, Any]) -> list[str]:
    reasons = []
    if metadata.get("model") != spec.name:
        reasons.append(f"metadata.json names model {metadata.get('model')!r}, not {spec.name!r}")
    names = (metadata.get("feature_contract") or {}).get("names")
    if names != list(spec.features):
        reasons.append(f"feature contract {names} differs from the registry's features {list(spec.features)}")
    return reasons


def probe_rows(spec: ModelSpec, metadata: dict[str, Any]) -> tuple[list[list[float]], list[str]]:
    rows = metadata.get("probe_input")
    if not isinstance(rows, list) or not rows:
        return [], ["metadata.json has no probe_input rows to predict"]
    width = len(spec.features)
    bad = [i for i, row in enumerate(rows) if not isinstance(row, list) or len(row) != width]
    if bad:
        return [], [f"probe_input row {bad[0]} does not have {width} values"]
    return rows, []


def check_predictions(spec: ModelSpec, rows: list[list[float]], result: dict[str, Any]) -> list[str]:
    if "error" in result:
        return [f"model.pkl does not load or predict: {result['error']}"]
    if result["n_features_in"] != len(spec.features):
        return [f"model expects {result['n_features_in']} features, the contract has {len(spec.features)}"]
    reasons = []
    predictions = result["predictions"]
    if len(predictions) != len(rows):
        reasons.append(f"model returned {len(predictions)} predictions for {len(rows)} probe rows")
    elif not _finite(predictions):
        reasons.append("model predicts NaN, infinite or non-numeric values on probe_input")
    elif spec.kind == "anomaly-detector" and not set(predictions) <= ANOMALY_LABELS:
        reasons.append(f"anomaly detector predicts {sorted(set(predictions) - ANOMALY_LABELS)[:3]}, not only -1/+1")
    if "scores" in result and not _finite(result["scores"]):
        reasons.append("model's decision_function gives NaN or infinite scores on probe_input")
    return reasons


def check_thresholds_from_registry(spec: ModelSpec, metadata: dict[str, Any]) -> list[str]:
    _, detail = check_thresholds(metadata.get("metrics") or {}, spec.thresholds)
    return [f"threshold {key}: {d['metric']} = {d['actual']!r}, needs "
            + ("true" if d["rule"] == "is true" else f"{d['rule']} {d['required']!r}")
            for key, d in detail.items() if not d["met"]]


def check_held_out_quality(spec: ModelSpec, metadata: dict[str, Any]) -> list[str]:
    """The floor under any registry thresholds, on the held-out untouched rows (see module docstring)."""
    metrics = metadata.get("metrics") or {}
    if spec.kind == "forecaster":
        ratio = metrics.get("mae_ratio")
        if not isinstance(ratio, (int, float)) or isinstance(ratio, bool):
            return ["no held-out MAE ratio against naive forecasts (mae_ratio) in its metrics; retrain it with this modelkit"]
        if ratio >= 1:
            worst = [k.removeprefix("mae_ratio_") for k, v in metrics.items() if k.startswith("mae_ratio_") and v == ratio]
            return [f"its held-out forecasts are no better than a naive forecast: MAE ratio {ratio:.3f} "
                    f"({', '.join(worst) or 'worst metric'}) on untouched rows; a model must beat last value and same "
                    "time yesterday on every metric (ratio < 1)"]
        return []
    if spec.kind != "anomaly-detector":
        return []
    limit = false_alarm_limit(spec.thresholds)
    per_day, days = metrics.get("false_alarms_per_day"), metrics.get("false_alarm_days")
    if not isinstance(per_day, (int, float)) or not isinstance(days, (int, float)):
        return ["no false alarms per day counted on untouched held-out rows in its metrics; retrain it with this modelkit"]
    if limit * days < 1:
        return [f"its false-alarm limit of {limit:g}/day allows less than one false alarm on the {days:.2f}-day held-out "
                "slice, so it cannot be checked; train on more hours or raise maxFalseAlarmsPerDay"]
    reasons = []
    if per_day > limit:
        unit = "entity-day" if "entities" in metrics else "day"  # an entity model's rates are per entity-day
        reasons.append(f"{per_day:.2f} false alarms/{unit} on untouched held-out rows, over its limit of {limit:g}/{unit}")
    return reasons + detects_nothing(metadata)


def detects_nothing(metadata: dict[str, Any]) -> list[str]:
    """A detector that finds none of the held-out slice's labelled events; when it raised no alarm at all
    there, the message says where its threshold lies (a threshold extrapolated from a short window of
    normal scores can lie beyond every score the model gives)."""
    metrics = metadata.get("metrics") or {}
    if metrics.get("event_recall") != 0:  # None: the slice holds no labelled event, nothing to detect
        return []
    events = f"{metrics['events']} " if isinstance(metrics.get("events"), int) else ""
    threshold, lowest = (metadata.get("details") or {}).get("threshold"), metrics.get("lowest_held_out_score")
    if metrics.get("alarms") != 0 or not _number(threshold) or not _number(lowest):
        return [f"it detected none of the {events}labelled events of the held-out slice (event recall 0)"]
    return [f"it raised no alarm on the held-out slice, not even at its {events}labelled events: its calibrated threshold "
            f"{threshold:.3f} lies below every score there (the lowest {lowest:.3f}; flagged means below the threshold), "
            "so it would never alarm; train on more hours (the threshold is read from the scores of the normal rows "
            "the training window holds)"]


def check_real_data(spec: ModelSpec, metadata: dict[str, Any]) -> list[str]:
    if not spec.require_real_data:
        return []
    provenance = metadata.get("provenance") or {}
    if metadata.get("data_source") == "synthetic":
        return ["the registry sets requireRealData, but this version was trained on synthetic data"]
    if provenance.get("fallbacks"):
        return [f"the registry sets requireRealData, but training fell back: {provenance['fallbacks']}"]
    return []


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _worse_by(policy: PromotionPolicy, ours: float, theirs: float) -> float:
    return (theirs - ours) if policy.higher_is_better else (ours - theirs)


def compare_with_served(spec: ModelSpec, model_dir: Path, run_id: str, metadata: dict[str, Any],
                        verdict: Verdict) -> list[str]:
    policy = policy_for(spec)
    served_run, _ = served_version(model_dir)
    if policy.primary_metric is None or served_run in (None, run_id):
        return []
    verdict.compared_with = served_run
    served_path = artifacts.version_dir(model_dir.parent, spec.name, served_run)
    try:
        served_metadata = artifacts.read_metadata(served_path)
    except ConfigError:
        verdict.notes.append(f"served version {served_run} has no metadata; not compared")
        return []
    if isinstance(metadata.get(REPLAY_KEY), dict):
        candidate_path = artifacts.version_dir(model_dir.parent, spec.name, run_id)
        return compare_by_replay(spec, policy, (candidate_path, metadata), (served_path, served_metadata), verdict)
    return compare_recorded_metrics(policy, metadata, served_run, served_metadata, verdict)


def compare_by_replay(spec: ModelSpec, policy: PromotionPolicy, candidate: tuple[Path, dict[str, Any]],
                      served: tuple[Path, dict[str, Any]], verdict: Verdict) -> list[str]:
    """Both versions predict the candidate's recorded held-out window; their primary metrics there are compared."""
    block, metric, served_run = candidate[1][REPLAY_KEY], policy.primary_metric, served[0].name
    ours = replay_metrics(spec.kind, candidate[1], candidate[0], block, spec.forecast_horizon_minutes)
    theirs = replay_metrics(spec.kind, served[1], served[0], block, spec.forecast_horizon_minutes)
    if isinstance(theirs, str):
        verdict.notes.append(f"served version {served_run} cannot be replayed on the candidate's window ({theirs}); not compared")
        return []
    if isinstance(ours, str):
        return [f"the candidate cannot be replayed on its own held-out window: {ours}"]
    if not _number(ours.get(metric)) or not _number(theirs.get(metric)):
        verdict.notes.append(f"replay gives no numeric {metric} (candidate {ours.get(metric)!r}, served {theirs.get(metric)!r}); not compared")
        return []
    rows = len(next(iter(block["untouched"].values())))
    where = f" on the same replayed window ({rows} rows, judged from {block['judged_from']})"
    verdict.notes.append(f"replayed the candidate's held-out window through both{where[len(' on the same replayed window'):]}: "
                         f"{metric} candidate {ours[metric]:.4g}, served {served_run} {theirs[metric]:.4g}")
    return _verdict_on(policy, metric, ours[metric], theirs[metric], served_run, where)


def compare_recorded_metrics(policy: PromotionPolicy, metadata: dict[str, Any], served_run: str,
                             served_metadata: dict[str, Any], verdict: Verdict) -> list[str]:
    """Versions without a replay window: their recorded held-out metrics, when measured on the same kind of data."""
    served_metrics = served_metadata.get("metrics") or {}
    evaluation = [(key, metadata.get(key), served_metadata.get(key)) for key in EVALUATION_KEYS]
    differing = [f"{key} {ours} vs {theirs}" for key, ours, theirs in evaluation if ours != theirs]
    if differing:
        verdict.notes.append(f"served version {served_run} was evaluated on other data ({', '.join(differing)}) and the "
                             "candidate records no window to replay; not compared, the thresholds decide")
        return []
    metric = policy.primary_metric
    ours, theirs = (metadata.get("metrics") or {}).get(metric), served_metrics.get(metric)
    if not _number(theirs):
        verdict.notes.append(f"served version {served_run} has no numeric {metric}; not compared")
        return []
    if not _number(ours):
        return [f"candidate has no numeric {metric} to compare with the served version {served_run}"]
    return _verdict_on(policy, metric, ours, theirs, served_run, "")


def _verdict_on(policy: PromotionPolicy, metric: str, ours: float, theirs: float, served_run: str, where: str) -> list[str]:
    worse_by = _worse_by(policy, ours, theirs)
    if worse_by <= policy.tolerance:
        return []
    return [f"{metric} = {ours:.4g} is worse than the served version {served_run}'s {theirs:.4g}{where} "
            f"by {worse_by:.4g} (tolerance {policy.tolerance}); use --force to promote anyway"]


def run_gate(root: Path, spec: ModelSpec, run_id: str, *, force: bool = False) -> Verdict:
    """Judge a version, record the verdict in its metadata.json, raise GateRejected when refused."""
    version_path = artifacts.version_dir(root, spec.name, run_id)
    if not version_path.is_dir():
        raise ConfigError(f"no version {run_id!r} of {spec.name!r} under {version_path.parent}")
    metadata = artifacts.read_metadata(version_path)
    verdict = Verdict(accepted=False, reasons=[], forced=force)
    if (version_path / artifacts.MODEL_FILE).is_file():
        verdict.model_sha256 = file_sha256(version_path / artifacts.MODEL_FILE)
    verdict.reasons += check_contract(spec, metadata)
    rows, reasons = probe_rows(spec, metadata)
    verdict.reasons += reasons
    if rows:
        result = probe_in_fresh_process(version_path, rows)
        verdict.reasons += check_predictions(spec, rows, result)
    verdict.reasons += check_held_out_quality(spec, metadata)
    verdict.reasons += check_thresholds_from_registry(spec, metadata)
    verdict.reasons += check_real_data(spec, metadata)
    comparison = compare_with_served(spec, artifacts.model_dir(root, spec.name), run_id, metadata, verdict)
    if force and comparison:
        verdict.notes += [f"forced past: {reason}" for reason in comparison]
    else:
        verdict.reasons += comparison
    verdict.accepted = not verdict.reasons
    artifacts.update_metadata(version_path, gate=asdict(verdict))
    if not verdict.accepted:
        raise GateRejected(f"{spec.name} version {run_id} rejected: " + "; ".join(verdict.reasons))
    return verdict
