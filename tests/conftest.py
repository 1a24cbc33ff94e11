"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory):
    """A real Prometheus (TLS, test CA) with 31 days of OpenShift-named history and a live
    node exporter, behind a bearer-token proxy. `.url`, `.token`, `.ca_bundle`, `.env()`
    (PROMETHEUS_URL/TOKEN/CA_BUNDLE for a training run), `.history_end` (last backfilled
    minute, Unix seconds). See tests/fixtures/prometheus.py."""
    from fixtures.ci import unavailable
    from fixtures.prometheus import missing_binaries, start_server

    missing = missing_binaries()
    if missing:
        unavailable(f"{', '.join(missing)} not installed (Debian packages prometheus, prometheus-node-exporter; run `make system-packages`)")
    server = start_server(tmp_path_factory.mktemp("prometheus"))
    yield server
    server.stop()
