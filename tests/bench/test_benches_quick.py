"""Every benchmark runs in its --quick mode on each `make test`, so none rots unseen.

A bench prints its figures as ratios against a named baseline from the same run; the
test checks that it completes and names its baseline, never its timings (these machines
are shared: speed is judged by reading the bench's output, not by a unit test).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
BENCHES = sorted((PROJECT / "bench").glob("bench_*.py"))


def test_every_bench_is_collected():
    # The bench folder is globbed: a bench added later is run here without editing this file.
    assert len(BENCHES) >= 4, [b.name for b in BENCHES]


@pytest.mark.slow
@pytest.mark.parametrize("bench", BENCHES, ids=lambda path: path.stem)
def test_bench_runs_quick_and_names_its_baseline(bench: Path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PROMETHEUS_", "MODELKIT_"))}
    done = subprocess.run([sys.executable, str(bench), "--quick"], cwd=PROJECT, env={**env, "MPLBACKEND": "Agg"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{bench.name} --quick failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "baseline" in done.stdout.lower(), f"{bench.name} prints no named baseline:\n{done.stdout[-2000:]}"
