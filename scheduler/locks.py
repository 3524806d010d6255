"""Per-outlet lock files, so a scheduled crawl and a manual crawl of one outlet never overlap.

The lock is an advisory `fcntl.flock` on `<state dir>/locks/<outlet>.lock`. The kernel drops it
when the holding process dies (even on SIGKILL), so a crashed crawl never leaves a stale lock.
The crawl process itself holds the lock (manual `feedwatch crawl` and the daemon's subprocess
alike); the daemon only probes it with `is_locked` to skip a run while a manual crawl is busy.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_OUTLET = re.compile(r"[a-z][a-z0-9_]*")


class OutletLocked(RuntimeError):
    """Another process is crawling this outlet right now."""


def lock_path(state_dir: Path, outlet: str) -> Path:
    """The lock file of an outlet; the name is checked so it can never escape the folder."""
    if not _OUTLET.fullmatch(outlet):
        raise ValueError(f"outlet name {outlet!r} must be lowercase letters, digits and _")
    return Path(state_dir) / "locks" / f"{outlet}.lock"


@contextmanager
def outlet_lock(state_dir: Path, outlet: str, wait: bool) -> Iterator[Path]:
    """Hold the outlet's lock for the block; wait for it, or raise OutletLocked when busy."""
    path = lock_path(state_dir, outlet)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            raise OutletLocked(f"outlet {outlet!r} is being crawled by another process") from None
        # The pid is for humans (`cat locks/rfi.lock`); the flock alone is the lock.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def is_locked(state_dir: Path, outlet: str) -> bool:
    """True when another process holds the outlet's lock right now (a non-blocking probe)."""
    path = lock_path(state_dir, outlet)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
