"""Where a local `modelkit serve` listens, so promote and rollback can make it reload.

The server writes `<models root>/.modelkit-server.json` ({url, pid}) while it runs;
promote/rollback POST KServe's `/v2/repository/models/<name>/load` to that URL.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import requests

from .. import artifacts

SERVER_FILE = ".modelkit-server.json"
RELOAD_TIMEOUT = 30


@contextmanager
def announced(root: Path | None, url: str, models: list[str]) -> Iterator[None]:
    """Record the server in `root` (None: nowhere) while the block runs."""
    record = Path(root) / SERVER_FILE if root else None
    if record:
        artifacts.write_json(record, {"url": url, "pid": os.getpid(), "models": models})
    try:
        yield
    finally:
        if record and record.is_file() and json.loads(record.read_text()).get("pid") == os.getpid():
            record.unlink()


def running_server_url(root: Path) -> str | None:
    record = Path(root) / SERVER_FILE
    if not record.is_file():
        return None
    document = json.loads(record.read_text())
    try:
        os.kill(int(document["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None  # left behind by a server that died
    return document["url"]


def reload_local_server(root: Path, model: str) -> str | None:
    """Ask a local `modelkit serve` on this models root to reload `model`; returns a note for the user."""
    url = running_server_url(root)
    if url is None:
        return None
    try:
        response = requests.post(f"{url}/v2/repository/models/{model}/load", timeout=RELOAD_TIMEOUT)
    except requests.RequestException as exc:
        return f"the local server at {url} did not answer the reload: {exc}"
    if response.status_code != 200:
        return f"the local server at {url} could not reload {model}: HTTP {response.status_code} {response.text[:200]}"
    return f"the local server at {url} now serves the new version of {model}"
