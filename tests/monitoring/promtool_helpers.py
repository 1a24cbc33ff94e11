"""promtool (Debian's prometheus package) on rules rendered by the real helm, and a small PromQL
name scanner for the tests that keep the chart's queries on the scorer's contract."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chart_helpers import by_kind, render

HERE = Path(__file__).resolve().parent


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool not found: install Debian's prometheus package (make system-packages)")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def rendered_rule(sets: list[str] = ()) -> dict[str, Any]:
    [rule] = by_kind(render(sets=list(sets)), "PrometheusRule")
    return rule


def write_rule_file(groups: list[dict[str, Any]], path: Path, keep: tuple[str, ...] | None = None) -> Path:
    """The groups as a Prometheus rule file; `keep`: only these annotations stay on each rule."""
    groups = [dict(g, rules=[_only(r, keep) for r in g["rules"]]) for g in groups]
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def _only(rule: dict[str, Any], keep: tuple[str, ...] | None) -> dict[str, Any]:
    if keep is None or "annotations" not in rule:
        return rule
    return dict(rule, annotations={k: v for k, v in rule["annotations"].items() if k in keep})


def unit_test_file(name: str) -> tuple[dict[str, Any], list[str]]:
    """A promtool test file of tests/monitoring and the helm --set values it was written for."""
    spec = yaml.safe_load((HERE / name).read_text())
    return spec, spec.pop("x-helm-set", [])


def run_unit_tests(name: str, tmp_path: Path, sets: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` of tests/monitoring/<name> on the chart's rules rendered with its values
    (or `sets`), summaries and scores kept, descriptions (runbook text) left out."""
    spec, own_sets = unit_test_file(name)
    rules = write_rule_file(rendered_rule(own_sets if sets is None else sets)["spec"]["groups"],
                            tmp_path / "rules.yaml", keep=("summary", "score"))
    spec["rule_files"] = [str(rules)]
    test_file = tmp_path / name
    test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    return promtool("test", "rules", str(test_file))


# --- names in PromQL -----------------------------------------------------------------------

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
             "unless", "atan2", "inf", "nan",
             # aggregation operators, which may be followed by `by (...)` before their parenthesis
             "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile",
             "count_values", "limitk", "limit_ratio"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not functions, keywords,
    label names (in {...}, by/on/ignoring/group_* lists) or parts of strings and durations."""
    text = re.sub(r'"(\\.|[^"\\])*"', '""', expr)          # string literals
    text = re.sub(r"\{[^{}]*\}", "", text)                  # label matchers
    text = re.sub(r"\[[^\[\]]*\]", "", text)                # range/subquery durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", r"\1", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word, rest = match.group(), text[match.end():].lstrip()
        if word in _KEYWORDS or rest.startswith("("):
            continue
        if re.fullmatch(r"[0-9.]+[a-z]+", text[max(0, match.start() - 1):match.end()]):
            continue
        names.add(word)
    return names
