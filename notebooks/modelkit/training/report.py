"""The "Model Evaluation" section the notebooks print (the guide greps logs for it)."""

from __future__ import annotations

from typing import Any

from .anomaly_workflow import AnomalyResult
from .detector_baseline import static_threshold_baseline
from .forecast_workflow import ForecastResult
from ..thresholds import check_thresholds

HEADING = "Model Evaluation"


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def threshold_lines(metrics: dict[str, Any], thresholds: dict[str, Any]) -> list[str]:
    met, checks = check_thresholds(metrics, thresholds)
    lines = ["Registry thresholds:"]
    for key, check in checks.items():
        verdict = "met" if check["met"] else "NOT MET"
        needs = "true" if check["rule"] == "is true" else f"{check['rule']} {check['required']}"
        lines.append(f"  {key}: {check['metric']} = {_number(check['actual'])} (needs {needs}) -> {verdict}")
    lines.append("Verdict: meets every threshold" if met else "Verdict: does NOT meet the thresholds; the gate will refuse this version")
    return lines


def anomaly_lines(result: AnomalyResult) -> list[str]:
    m, test = result.metrics, result.split.test
    limit_note = "" if m["false_alarm_limit_checkable"] else " (the limit allows < 1 false alarm on this slice: cannot be checked)"
    day = "entity-day" if "entities" in m else "day"  # an entity model's rates are per entity-day
    real_labels = result.provenance.get("labelled_events") is not None
    false_alarms = (f"  false alarms: {m['false_alarms']} = {m['false_alarms_per_day']:.2f}/{day} over {m['false_alarm_days']:.2f} {day}s "
                    f"(limit {m['false_alarm_limit_per_day']:g}/{day}){limit_note}")
    if real_labels:  # a labelled file: its incidents judge the model, nothing was injected
        judged = ["On the real rows of the slice, judged by the data's own is_anomaly labels (nothing injected):",
                  false_alarms + ", alarms touching no labelled incident"]
        events_title, touching = "Real labelled incidents of the slice:", "touching no labelled incident"
    else:
        judged = ["On the untouched values of the slice (no injected event; every alarm there is false):", false_alarms]
        events_title, touching = "On the same slice with the injected, labelled anomaly events:", "touching no injected event"
    baseline = static_threshold_baseline(result)  # the naive rule on the same rows, under each of the model's figures
    judged.append(f"  baseline, {baseline['name']}: {baseline['false_alarms']} = {baseline['false_alarms_per_day']:.2f}/{day}")
    return [
        f"{HEADING}: {result.run.spec.name} (run {result.run.run_id})",
        f"Held-out test slice {test.index.min()} .. {test.index.max()}: {len(test)} rows, {m['evaluated_days']:.2f} {day}s, "
        "never used for training or threshold calibration",
        *judged,
        events_title,
        f"  events:     {m['events_detected']} of {m['events']} detected (event recall {_number(m['event_recall'])})"
        + "".join(f", {key.removeprefix('event_recall_')} {value:.2f}" for key, value in m.items() if key.startswith("event_recall_")),
        f"  baseline:   {baseline['events_detected']} of {baseline['events']} detected (event recall "
        f"{_number(baseline['event_recall'])}), {baseline['alarms_per_day']:.2f} alarms/{day}",
        f"  alarms:     {m['alarms']} = {m['alarms_per_day']:.2f}/day, {m['injected_slice_false_alarms_per_day']:.2f}/day {touching}",
        f"  point-wise: precision {_number(m['point_precision'])}  recall {_number(m['point_recall'])}  "
        f"F1 {_number(m['point_f1'])}  PR-AUC {_number(m['pr_auc'])}",
        f"  threshold:  score_samples < {result.calibration.threshold:.4f}, calibrated for at most "
        f"{result.calibration.false_alarm_budget_per_day:g} false alarms/day: read from the fitted tail of the scores of normal rows "
        "the model did not see (validation slice, out-of-fold training rows), "
        + (("and counted on the validation slice " + ("touching no labelled incident" if real_labels else "on its untouched values"))
           if result.calibration.effective_budget_per_day else "the validation slice being too short to count that budget")
        + ("" if result.calibration.within_budget else " (no threshold met that budget; the fewest false alarms was taken)"),
    ]


def forecast_lines(result: ForecastResult) -> list[str]:
    m, test = result.metrics, result.split.test
    methods = list(result.predictions)
    baselines = methods[1:]
    lines = [
        f"{HEADING}: {result.run.spec.name} (run {result.run.run_id})",
        f"Forecast: change of each metric over the next {result.horizon_minutes} min. Held-out test slice "
        f"{test.index.min()} .. {test.index.max()}: {len(test)} rows, after the training rows and a {result.horizon_minutes} min gap; "
        f"trained and judged on {m['judged_on']}",
        f"  {'metric':<28}" + "".join(f"{method + ' MAE':>20}" for method in methods)
        + "".join(f"{'MAE / ' + method:>22}" for method in baselines) + f"{'model MAPE':>12}",
    ]
    losing = []
    for metric in result.metric_names:
        cells = "".join(f"{_number(m[('' if method == 'model' else method + '_') + 'mae_' + metric]):>20}" for method in methods)
        cells += "".join(f"{_number(m[f'mae_ratio_{method}_{metric}']):>22}" for method in baselines)
        lines.append(f"  {metric:<28}{cells}{_number(m[f'mape_{metric}']):>12}")
        if not m[f"beats_baselines_{metric}"]:
            losing.append(metric)
    if losing:
        lines.append(
            f"The model does NOT beat the naive baselines on {', '.join(losing)} (MAE ratio >= 1): a naive forecast is at "
            f"least as accurate there, and the gate refuses such a version. Train on more history (the registry default "
            f"is {result.run.spec.training_hours} h)."
        )
    else:
        lines.append(f"The model beats every naive baseline ({', '.join(baselines)}) on every metric: worst MAE ratio {m['mae_ratio']:.3f}.")
    return lines


def entity_lines(metrics: dict[str, Any]) -> list[str]:
    """An entity model's worst entities (none for a cluster-wide model)."""
    worst = metrics.get("worst_entities")
    if not worst:
        return []
    lines = [f"Per entity ({metrics['entities']} entities, each judged on its own held-out rows); the worst:"]
    for entry in worst:
        figures = ", ".join(f"{key.replace('_', ' ')} {_number(value)}" for key, value in entry.items() if key != "entity")
        lines.append(f"  {entry['entity']}: {figures}")
    if "fleet_false_alarms_per_day" in metrics:
        lines.append(f"Rates above are per entity-day; the whole fleet raises {_number(metrics['fleet_false_alarms_per_day'])} "
                     "false alarms/day, lowest event recall of an entity " + _number(metrics.get("min_entity_event_recall")))
    return lines


def print_evaluation(result: AnomalyResult | ForecastResult) -> None:
    lines = anomaly_lines(result) if isinstance(result, AnomalyResult) else forecast_lines(result)
    lines += entity_lines(result.metrics)
    print("\n".join(["=" * 72, *lines, *threshold_lines(result.metrics, result.run.spec.thresholds), "=" * 72]))
