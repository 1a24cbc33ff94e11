"""The live scorer's view of each model, for the operator scripts: served version and age, last
scoring, online quality (forecast MAE against last value's; alarms against the budget) and drifted
inputs, read from the scorer's /metrics. A scorer that does not answer is reported, not an error:
the scripts' own checks decide their exit code.

  python -m modelkit.scoring.health_report --url http://127.0.0.1:9100/metrics [--model NAME]
  ... | python -m modelkit.scoring.health_report --stdin --source "service modelkit-scorer"
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import requests
from prometheus_client.parser import text_string_to_metric_families


def by_model(text: str) -> dict[str, dict[str, list[tuple[dict[str, str], float]]]]:
    """model -> metric sample name -> [(labels, value)]."""
    found: dict = defaultdict(lambda: defaultdict(list))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "model" in sample.labels:
                found[sample.labels["model"]][sample.name].append((sample.labels, sample.value))
    return found


def _one(series: dict, name: str, **labels: str) -> float | None:
    values = [v for l, v in series.get(name, []) if all(l.get(k) == want for k, want in labels.items())]
    return values[0] if values else None


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def model_lines(model: str, series: dict, now: float) -> list[str]:
    info = series.get("modelkit_model_info", [])
    if not info:
        return [f"  {model}: nothing served"]
    version = info[0][0]["version"]
    parts = [f"serving {version}"]
    age = _one(series, "modelkit_model_served_age_seconds", version=version)
    if age is not None:
        parts.append(f"trained {_duration(age)} ago")
    scored = _one(series, "modelkit_scoring_last_success_timestamp_seconds")
    parts.append(f"last scored {_duration(now - scored)} ago" if scored else "not scored yet")
    errors = {l["cause"]: v for l, v in series.get("modelkit_scoring_errors_total", []) if v}
    if errors:
        parts.append("errors " + ", ".join(f"{cause} {count:.0f}" for cause, count in sorted(errors.items())))
    lines = [f"  {model}: " + ", ".join(parts)]
    for labels, mae in sorted(series.get("modelkit_forecast_abs_error", []), key=lambda s: (s[0]["metric"], s[0]["window"])):
        baseline = _one(series, "modelkit_forecast_last_value_abs_error", metric=labels["metric"], window=labels["window"])
        verdict = "" if baseline is None else (" (better than last value)" if mae < baseline else " (WORSE than last value)")
        lines.append(f"    forecast MAE {labels['window']} {labels['metric']}: {mae:.4g} vs last value {baseline:.4g}{verdict}")
    rate = _one(series, "modelkit_anomaly_alarms_per_day", window="24h")
    if rate is not None:
        budget = _one(series, "modelkit_anomaly_alarm_budget_per_day")
        over = "" if budget is None else (" (OVER budget)" if rate > budget else f" (budget {budget:g})")
        lines.append(f"    alarms per day (24h): {rate:.3g}{over}")
    threshold = _one(series, "modelkit_feature_drift_threshold")
    drifted = sorted(l["feature"] for l, v in series.get("modelkit_feature_drift_psi", []) if threshold is not None and v > threshold)
    if threshold is not None:
        lines.append(f"    drift (PSI > {threshold:g}): {', '.join(drifted) if drifted else 'none'}")
    return lines


def report(text: str, source: str, only: str | None = None, now: float | None = None) -> str:
    models = by_model(text)
    names = [only] if only else sorted(models)
    lines = [f"live scorer ({source}):"]
    for name in names:
        lines += model_lines(name, models.get(name, {}), now or time.time())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the scorer's /metrics URL")
    parser.add_argument("--stdin", action="store_true", help="read the metrics text from standard input")
    parser.add_argument("--source", help="where the text came from (for the heading)")
    parser.add_argument("--model")
    args = parser.parse_args(argv)
    if args.stdin:
        text, source = sys.stdin.read(), args.source or "stdin"
        if not text.strip():
            print(f"live scorer ({source}): not reachable; served ages and online quality need `modelkit watch` running")
            return 0
    else:
        source = args.url
        try:
            answer = requests.get(args.url, timeout=10)
            answer.raise_for_status()
            text = answer.text
        except requests.RequestException as exc:
            print(f"live scorer ({source}): not reachable ({type(exc).__name__}); "
                  "served ages and online quality need `modelkit watch` running")
            return 0
    print(report(text, source, args.model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
