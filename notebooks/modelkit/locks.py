"""Advisory file locks (flock) that say "a live process is using this", and vanish with it.

The kernel releases an flock when its process dies, however it dies, so a lock that can
be taken belongs to nobody: what it guards was left behind by a killed run and may be
cleaned up. Lock files may be deleted by whoever holds the lock; `exclusive_lock`
checks after locking that its file is still the one at the path, so a process that
opened a file just before it was deleted never believes it holds the lock.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class LockBusy(Exception):
    """Another live process holds the lock."""


@contextmanager
def exclusive_lock(path: Path, *, remove: bool = False) -> Iterator[None]:
    """Hold the lock on `path` (created if missing) for the block, or raise LockBusy at once.

    `remove`: delete the lock file before releasing it (nobody else can be holding it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockBusy(str(path)) from None
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # deleted (or replaced) by its previous holder between open and lock: try again
    try:
        yield
    finally:
        if remove:
            path.unlink(missing_ok=True)
        os.close(fd)


def is_held(path: Path) -> bool:
    """True while a live process holds the lock on `path` (False for a missing file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we took
    return False
