"""Start `modelkit serve` as a real process on a free 127.0.0.1 port, always stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import requests

from modelkit.lifecycle.server import free_port

START_TIMEOUT = 90


@contextmanager
def running_server(root: Path, registry: Path, model: str, *extra: str) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, MODELKIT_REGISTRY=str(registry))
    log = open(Path(root).parent / f"serve-{port}.log", "w")
    child = subprocess.Popen([sys.executable, "-m", "modelkit.cli", "serve", "--models-root", str(root),
                              "--port", str(port), *extra], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"modelkit serve exited with {child.returncode}: {Path(log.name).read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/v1/models/{model}", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"modelkit serve did not become ready in {START_TIMEOUT} s")
            time.sleep(0.3)
        yield url
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        log.close()
