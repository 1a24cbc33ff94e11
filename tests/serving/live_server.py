"""A real `modelkit serve` process for tests, on a free 127.0.0.1 port, always stopped."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from modelkit.serving.local_server import temporary_server


@contextmanager
def running_server(root: Path, registry: Path, models: list[str], *options: str) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELKIT_REGISTRY", str(registry))
        with temporary_server(root, models, *options, log_path=Path(root).parent / "serve.log") as url:
            yield url
