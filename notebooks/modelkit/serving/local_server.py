"""Local `modelkit serve` processes: where one listens, and a temporary one.

The server writes `<models root>/.modelkit-server.json` ({url, pid}) while it runs;
promote/rollback POST KServe's `/v2/repository/models/<name>/load` to that URL.
`temporary_server` starts one on a free 127.0.0.1 port (smoke test, demo, tests).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import requests

from .. import artifacts
from ..errors import ConfigError

SERVER_FILE = ".modelkit-server.json"
RELOAD_TIMEOUT = 30
START_TIMEOUT = 120


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
    """Ask a local `modelkit serve` on this models root to reload `model`; returns a note for the user.

    ConfigError when the server did not reload: it still answers with the version it had."""
    url = running_server_url(root)
    if url is None:
        return None
    try:
        response = requests.post(f"{url}/v2/repository/models/{model}/load", timeout=RELOAD_TIMEOUT)
    except requests.RequestException as exc:
        raise ConfigError(f"the local server at {url} did not answer the reload of {model}: {exc}") from None
    if response.status_code != 200:
        raise ConfigError(f"the local server at {url} could not reload {model}: HTTP {response.status_code} "
                          f"{response.text[:200]}")
    return f"the local server at {url} now serves the new version of {model}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextmanager
def temporary_server(root: Path, models: list[str], *options: str, log_path: Path | None = None) -> Iterator[str]:
    """`modelkit serve` for `models` on a free 127.0.0.1 port until the block ends; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "modelkit.cli", "serve", "--models-root", str(root), "--port", str(port), *options]
    for model in models:
        command += ["--model", model]
    log = open(log_path or os.devnull, "w")
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(child, url, models[0], log_path)
        yield url
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        log.close()


def _wait_ready(child: subprocess.Popen, url: str, model: str, log_path: Path | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while child.poll() is None:
        try:
            if requests.get(f"{url}/v1/models/{model}", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise ConfigError(f"modelkit serve did not become ready within {START_TIMEOUT} s")
        time.sleep(0.3)
    where = f"; see {log_path}" if log_path else ""
    raise ConfigError(f"modelkit serve exited with code {child.returncode} before it was ready{where}")
