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


def test_the_real_registry_is_valid(tmp_path):
    files = build(project(tmp_path))
    assert any(p.name == "model-anomaly-detector.yaml" for p in files)
