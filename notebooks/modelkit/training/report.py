"""The "Model Evaluation" section the notebooks print (the guide greps logs for it)."""

from __future__ import annotations

from typing import Any

from .anomaly_workflow import AnomalyResult
from .forecast_evaluation import METHODS
from .forecast_workflow import ForecastResult
from .thresholds import check_thresholds

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
    return [
        f"{HEADING}: {result.run.spec.name} (run {result.run.run_id})",
        f"Held-out test slice {test.index[0]} .. {test.index[-1]}: {len(test)} rows, {m['evaluated_days']:.2f} days, "
        "never used for training or threshold calibration",
        f"  events:     {m['events_detected']} of {m['events']} detected (event recall {_number(m['event_recall'])})"
        + "".join(f", {key.removeprefix('event_recall_')} {value:.2f}" for key, value in m.items() if key.startswith("event_recall_")),
        f"  alarms:     {m['alarms']} ({m['false_alarms']} false) = {m['alarms_per_day']:.2f}/day, {m['false_alarms_per_day']:.2f} false/day",
        f"  point-wise: precision {_number(m['point_precision'])}  recall {_number(m['point_recall'])}  "
        f"F1 {_number(m['point_f1'])}  PR-AUC {_number(m['pr_auc'])}",
        f"  threshold:  score_samples < {result.calibration.threshold:.4f}, calibrated on the validation slice for at most "
        f"{result.calibration.false_alarm_budget_per_day:g} false alarms/day"
        + ("" if result.calibration.within_budget else " (no threshold met that budget; the fewest false alarms was taken)"),
    ]


def forecast_lines(result: ForecastResult) -> list[str]:
    m, test = result.metrics, result.split.test
    lines = [
        f"{HEADING}: {result.run.spec.name} (run {result.run.run_id})",
        f"Forecast: change of each metric over the next {result.horizon_minutes} min. Held-out test slice "
        f"{test.index[0]} .. {test.index[-1]}: {len(test)} rows, after the training rows and a {result.horizon_minutes} min gap",
        f"  {'metric':<28}" + "".join(f"{method + ' MAE':>20}{method + ' MAPE':>21}" for method in METHODS),
    ]
    losing = []
    for metric in result.metric_names:
        cells = ""
        for method in METHODS:
            prefix = "" if method == "model" else f"{method}_"
            cells += f"{_number(m[f'{prefix}mae_{metric}']):>20}{_number(m[f'{prefix}mape_{metric}']):>21}"
        lines.append(f"  {metric:<28}{cells}")
        if not m[f"beats_baselines_{metric}"]:
            losing.append(metric)
    if losing:
        lines.append(
            f"The model does NOT beat the naive baselines on {', '.join(losing)}: a last-value or same-time-yesterday "
            "forecast is at least as accurate there. Do not rely on it; train on more history (the registry default is "
            f"{result.run.spec.training_hours} h)."
        )
    else:
        lines.append("The model beats both naive baselines (last value, same time yesterday) on every metric.")
    return lines


def print_evaluation(result: AnomalyResult | ForecastResult) -> None:
    lines = anomaly_lines(result) if isinstance(result, AnomalyResult) else forecast_lines(result)
    print("\n".join(["=" * 72, *lines, *threshold_lines(result.metrics, result.run.spec.thresholds), "=" * 72]))
