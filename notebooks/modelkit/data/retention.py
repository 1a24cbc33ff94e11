"""How long a Prometheus keeps samples, as the server says: check-params compares it with the
training window (training/params.check_retention)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import requests

from .prometheus import PrometheusClient

# Prometheus' default --storage.tsdb.retention.time, used when neither time nor size is set
# (https://prometheus.io/docs/prometheus/latest/storage/#operational-aspects).
DEFAULT_RETENTION_HOURS = 15 * 24
_DURATION = re.compile(r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?", re.ASCII)
_DURATION_HOURS = (365 * 24, 7 * 24, 24, 1, 1 / 60, 1 / 3600, 1 / 3_600_000)


def duration_hours(text: str) -> float | None:
    """Hours of a Prometheus duration such as '15d', '2w1d' or '720h'; None when it is not one."""
    match = _DURATION.fullmatch(text.strip())
    if not match or not text.strip():
        return None
    return sum(int(n) * hours for n, hours in zip(match.groups(), _DURATION_HOURS) if n)


@dataclass(frozen=True)
class Retention:
    """How long a Prometheus keeps samples: `hours` None means no time limit; `size` a size limit ('' if none)."""

    hours: float | None
    size: str
    told_by: str  # the endpoint that said so


def server_retention(client: PrometheusClient) -> tuple[Retention | None, str]:
    """(the server's retention, "") or (None, why it is unknown), from /api/v1/status/runtimeinfo
    (`storageRetention`, e.g. "15d or 10GiB") or else /api/v1/status/flags. One quick attempt each:
    a Thanos Querier (OpenShift's default URL) serves neither, which is not an error."""
    problems = []
    for path in ("runtimeinfo", "flags"):
        try:
            response = client.session.get(f"{client.url}/api/v1/status/{path}", timeout=min(client.timeout_seconds, 10), verify=client.verify)
            data = response.json()["data"] if response.status_code == 200 else None
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            problems.append(f"/api/v1/status/{path}: {type(exc).__name__}")
            continue
        if not isinstance(data, dict):
            problems.append(f"/api/v1/status/{path}: HTTP {response.status_code}")
            continue
        found = _runtimeinfo_retention(data) if path == "runtimeinfo" else _flags_retention(data)
        if found:
            return found, ""
        problems.append(f"/api/v1/status/{path}: no retention in the answer")
    return None, "; ".join(problems)


def _runtimeinfo_retention(data: dict) -> Retention | None:
    parts = str(data.get("storageRetention") or "").split(" or ")
    hours = [h for h in map(duration_hours, parts) if h is not None]
    sizes = [p.strip() for p in parts if p.strip() and duration_hours(p) is None]
    if not hours and not sizes:
        return None
    return Retention(hours[0] if hours else None, sizes[0] if sizes else "", "/api/v1/status/runtimeinfo storageRetention")


def _flags_retention(data: dict) -> Retention | None:
    if "storage.tsdb.retention.time" not in data:
        return None
    time_limit = duration_hours(str(data["storage.tsdb.retention.time"])) or duration_hours(str(data.get("storage.tsdb.retention", "")))
    size = str(data.get("storage.tsdb.retention.size", "0B")).strip()
    size = "" if size in ("0", "0B") else size
    if not time_limit:  # 0s: the default, unless a size limit replaces it
        time_limit = None if size else DEFAULT_RETENTION_HOURS
    return Retention(time_limit, size, "/api/v1/status/flags storage.tsdb.retention.*")
