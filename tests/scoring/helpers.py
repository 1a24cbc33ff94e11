"""Running `modelkit watch` and reading its metrics text."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

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
