"""A test missing a tool or ../shared skips on a laptop and fails under CI (fixtures/ci.py)."""

from __future__ import annotations

import pytest

from fixtures.ci import unavailable


def test_what_is_missing_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI: promtool not installed"):
        unavailable("promtool not installed")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="promtool not installed"):
        unavailable("promtool not installed")
