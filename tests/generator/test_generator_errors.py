"""Bad registry entries: one clear error each, naming the model and the field."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from generator.build import build
from modelkit.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VALUES = PROJECT_ROOT / "charts" / "hub" / "values.yaml"


def project(tmp_path: Path, mutate=None) -> Path:
    """A throwaway project with the real registry (mutated) and stand-in notebooks."""
    root = tmp_path / "project"
    chart = root / "charts" / "hub"
    chart.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "charts" / "hub" / "Chart.yaml", chart / "Chart.yaml")
    values = yaml.safe_load(VALUES.read_text())
    for entry in values["models"]:
        notebook = root / entry["notebook"]
        notebook.parent.mkdir(parents=True, exist_ok=True)
        notebook.write_text("{}")
    if mutate:
        mutate(values["models"])
    (chart / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    return root


def second(models):
    return models[1]


CASES = {
    "name not DNS-1123": (lambda m: second(m).update(name="Predictive_Analytics"), "models[1] ('Predictive_Analytics') field `name`"),
    "name too long for the CronJob": (lambda m: second(m).update(name="a" * 37), "field `name`"),
    "bad cron expression": (lambda m: second(m).update(schedule="0 25 * * 0"), "models[1] ('predictive-analytics') field `schedule`"),
    "cron with 4 fields": (lambda m: second(m).update(schedule="0 3 * *  "), "models[1] ('predictive-analytics') field `schedule`"),
    "cron step 0": (lambda m: second(m).update(schedule="*/0 * * * *"), "field `schedule`: cron expression '*/0 * * * *': bad minute field '*/0'"),
    "cron range backwards": (lambda m: second(m).update(schedule="5-1 * * * *"), "field `schedule`: cron expression '5-1 * * * *': bad minute field '5-1'"),
    "cron minute 61": (lambda m: second(m).update(schedule="61 * * * *"), "bad minute field '61' (allowed 0-59"),
    "cron day 31 of February": (lambda m: second(m).update(schedule="0 0 31 2 *"), "bad day-of-month field '31'"),
    "cron weekday 7": (lambda m: second(m).update(schedule="0 2 * * 7"), "bad day-of-week field '7' (allowed 0-6"),
    "cron weekday name": (lambda m: second(m).update(schedule="0 2 * * SUN"), "day-of-week field 'SUN' may hold only numbers"),
    "threshold as a string": (lambda m: m[0]["thresholds"].update(minEventRecall="0.6"),
                              "models[0] ('anomaly-detector') field `thresholds.minEventRecall`: '0.6' is not of type 'number'"),
    "require threshold as a number": (lambda m: second(m)["thresholds"].update(requireBeatsBaselines=1),
                                      "field `thresholds.requireBeatsBaselines`: 1 is not of type 'boolean'"),
    "threshold of no known form": (lambda m: m[0]["thresholds"].update(eventRecall=0.6),
                                   "field `thresholds.eventRecall`: unknown field (allowed: names matching ^(min|max)[A-Z]"),
    "unknown data source": (lambda m: second(m).update(dataSource="influx"), "models[1] ('predictive-analytics') field `dataSource`"),
    "hours zero": (lambda m: second(m).update(trainingHours=0), "models[1] ('predictive-analytics') field `trainingHours`"),
    "hours negative": (lambda m: second(m).update(trainingHours=-5), "models[1] ('predictive-analytics') field `trainingHours`"),
    "duplicate name": (lambda m: second(m).update(name="anomaly-detector"), "models[1] ('anomaly-detector') field `name`: duplicate"),
    "missing notebook": (lambda m: second(m).update(notebook="notebooks/nope.ipynb"), "models[1] ('predictive-analytics') field `notebook`"),
    "unknown field": (lambda m: second(m).update(trainingHourz=5), "models[1] ('predictive-analytics') field `trainingHourz`: unknown field"),
    "unknown serving field": (lambda m: second(m)["serving"].update(replicas=2), "field `serving.replicas`: unknown field"),
    "gpu that nothing uses": (lambda m: second(m).update(gpu=True), "models[1] ('predictive-analytics') field `gpu`: true is refused"),
    "override keys collide": (lambda m: (m[0].update(name="x1"), second(m).update(name="x-1")), "models[1] ('x-1') field `name`"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_entry_gets_one_clear_error(case, tmp_path):
    mutate, expected = CASES[case]
    root = project(tmp_path, mutate)
    with pytest.raises(ConfigError) as raised:
        build(root)
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


def test_cli_prints_the_error_and_exits_non_zero(tmp_path):
    root = project(tmp_path, lambda m: second(m).update(dataSource="bogus"))
    result = subprocess.run([sys.executable, "-m", "generator", "--project-root", str(root)],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("generator: error: charts/hub/values.yaml: models[1] ('predictive-analytics') field `dataSource`")
    assert "Traceback" not in result.stderr
    assert not (root / "charts" / "hub" / "templates").exists()  # nothing written


RAW_REGISTRIES = {
    "duplicate key in an entry": (
        "models:\n  - name: anomaly-detector\n    dataSource: synthetic\n    dataSource: prometheus\n",
        "duplicate key 'dataSource' (first on line 3); a key may appear once per mapping (line 4",
    ),
    "duplicate threshold": (
        "models:\n  - name: x\n    thresholds: {minEvents: 2, maxMape: 1, minEvents: 0}\n",
        "duplicate key 'minEvents' (first on line 3)",
    ),
    "alias": (
        "common: &common {dataSource: synthetic}\nmodels:\n  - <<: *common\n    name: x\n",
        "YAML aliases (*name) are not allowed in the models registry",
    ),
    "alias bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nmodels: [*g]\n",
        "YAML aliases (*name) are not allowed in the models registry",
    ),
}


@pytest.mark.parametrize("case", RAW_REGISTRIES)
def test_registry_yaml_with_duplicate_keys_or_aliases_is_refused_with_the_line(case, tmp_path):
    text, expected = RAW_REGISTRIES[case]
    root = project(tmp_path)
    (root / "charts" / "hub" / "values.yaml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        build(root)
    assert str(raised.value).startswith("charts/hub/values.yaml: not valid YAML/JSON: ") and expected in str(raised.value)


def test_the_real_registry_is_valid(tmp_path):
    files = build(project(tmp_path))
    assert any(p.name == "model-anomaly-detector.yaml" for p in files)
