"""Running `modelkit watch`, reading its metrics text, and testing the chart's alert rules on its series."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

PROJECT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """metric sample name -> [(labels, value)]."""
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(found: dict, name: str, **labels: str) -> float | None:
    matches = [v for l, v in found.get(name, []) if all(l.get(k) == want for k, want in labels.items())]
    assert len(matches) <= 1, f"{name}{labels}: {len(matches)} series"
    return matches[0] if matches else None


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def watch_env(models, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "MODELKIT_", "DATA_END"))}
    env.update(MODELKIT_REGISTRY=str(models.registry), MODELS_ROOT=str(models.root), **extra)
    return env


def watch(models, *args: str, timeout: int = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modelkit.cli", "watch", *args], cwd=PROJECT, env=watch_env(models, **env),
                          capture_output=True, text=True, timeout=timeout)


def promtool_series(cycles: list[dict], families: tuple[str, ...], job: str) -> list[dict]:
    """promtool input series, one value a minute per cycle; '_' before a series appears, 'stale' once it has gone."""
    keys = sorted({(name, tuple(sorted(labels.items()))) for found in cycles for name in families for labels, _ in found.get(name, [])})
    out = []
    for name, labels in keys:
        values, seen = [], False
        for found in cycles:
            now = [v for l, v in found.get(name, []) if tuple(sorted(l.items())) == labels]
            seen = seen or bool(now)
            values.append(repr(now[0]) if now else ("stale" if seen else "_"))
        selector = ",".join(f'{k}="{v}"' for k, v in (("job", job), *labels))
        out.append({"series": f"{name}{{{selector}}}", "values": " ".join(values)})
    return out


def run_promtool_on_chart_rules(spec: dict, tmp_path):
    """`promtool test rules` of `spec` (its tests) against the chart's rendered alert rules."""
    tests = PROJECT / "tests"
    sys.path[:0] = [str(tests / "chart"), str(tests / "monitoring")]
    from promtool_helpers import promtool, rendered_rule, write_rule_file

    rules = write_rule_file(rendered_rule()["spec"]["groups"], tmp_path / "rules.yaml", keep=("summary",))
    spec = dict(spec, rule_files=[str(rules)])
    path = tmp_path / "drill.promtool.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return promtool("test", "rules", str(path))


def incident_alert_drill(scorer_at, incident_start: float, model: str, sick: str, nodes: int, tmp_path):
    """Issue 13's alert drill: the scorer made by `scorer_at(clock)` scores every minute from 3 min
    before `sick`'s incident to 6 min into it; its score and flag series, as Prometheus scrapes them
    (job label, entity labels kept: honorLabels), feed `promtool test rules` with the chart's rules,
    expecting ModelkitAnomalyDetected (for 3m) silent before the incident and firing for `sick`
    alone, with its `instance`, 6 min in. Returns promtool's result."""
    start = incident_start - 3 * 60
    now = [start]
    scorer = scorer_at(lambda: now[0])
    cycles = []
    for minute in range(10):
        now[0] = start + minute * 60
        scorer.cycle()
        cycles.append(samples(scorer.metrics.text()))
    series = promtool_series(cycles, ("modelkit_anomaly_score", "modelkit_anomaly_flag"), job="modelkit-scorer")
    assert len(series) == 2 * nodes, [s["series"] for s in series]
    labels = {"job": "modelkit-scorer", "model": model, "version": "v1", "entity": sick, "instance": sick,
              "severity": "warning", "type": "incident"}
    spec = {"rule_files": [], "evaluation_interval": "1m", "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": "2m", "alertname": "ModelkitAnomalyDetected", "exp_alerts": []},
        {"eval_time": "9m", "alertname": "ModelkitAnomalyDetected", "exp_alerts": [
            {"exp_labels": labels, "exp_annotations": {"summary": f"Model {model} (version v1) flags {sick} as anomalous"}}]},
    ]}]}
    return run_promtool_on_chart_rules(spec, tmp_path)
