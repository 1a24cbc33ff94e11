"""The monitoring tests render the chart with the chart tests' helpers (tests/chart/chart_helpers.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chart"))
