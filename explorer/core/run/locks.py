"""One writer per run folder: embeds of the same folder (or cache entry) take turns; clearing skips runs in use.

The lock files live in the cache folder (`locks/`), never in the user's folders; they are
operating-system locks (filelock), so a killed process releases its lock at once.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..progress import Step, Work


def lock_path(run_path: str | os.PathLike) -> Path:
    from .cache import cache_root

    key = hashlib.sha256(os.fsencode(os.path.abspath(os.fspath(run_path)))).hexdigest()[:24]
    folder = cache_root() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{key}.lock"


def run_lock(run_path: str | os.PathLike):
    from filelock import FileLock

    return FileLock(str(lock_path(run_path)))


def acquire(run_path: str | os.PathLike) -> Work:
    """Take the run's lock, waiting (with a Step every half second, so a caller can cancel) while
    another process writes it. Returns the held lock: release() it when done."""
    from filelock import Timeout

    lock = run_lock(run_path)
    try:
        lock.acquire(timeout=0)
        return lock
    except Timeout:
        pass
    waited = 0.0
    while True:
        yield Step(0, None, f"waiting: another process is writing {run_path} ({waited:.0f} s)")
        try:
            lock.acquire(timeout=0.5)
            return lock
        except Timeout:
            waited += 0.5
