"""The archive: one item file per story under `<root>/<YYYY>/<MM>/<DD>/`, written atomically.

File names come from the canonical URL, never from titles: `<sha1(canonical_url)[:16]>.txt`
in the folder of the item's UTC date. A write goes to a `.tmp-*` file in the same folder, is
flushed and fsynced, then `os.replace`d into place and the folder fsynced, so a crash never
leaves a partial `*.txt`; stale temp files are removed when an Archive is opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from store.format import StoredItem, render_item

__all__ = ["TMP_PREFIX", "Archive", "atomic_write_bytes"]

logger = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"
ITEM_SUFFIX = ".txt"


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable: fsync the folder entry (no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the rename is still atomic
    finally:
        os.close(fd)


def _write_temp(folder: Path, data: bytes) -> Path:
    """Write `data` to a fresh fsynced temp file in `folder` and return its path."""
    # The writer's pid in the name lets cleanup spare temp files of writers still running.
    fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix=".part", dir=folder)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def _writer_alive(tmp: Path) -> bool:
    """True if the temp file's writer (pid in its name) may still be writing it."""
    pid_text = tmp.name[len(TMP_PREFIX) :].split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    if int(pid_text) == os.getpid():
        return True  # another thread of this process may be mid-write
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but belongs to someone else
    return True


def atomic_write_bytes(path: Path, data: bytes, *, overwrite: bool, sync_dir: bool = True) -> None:
    """Write `data` to `path` atomically; without `overwrite`, raise FileExistsError if present.

    With `sync_dir=False` the caller fsyncs the folder itself (once for a batch of files)
    before it commits anything that names the file.
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(folder, data)
    try:
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() fails if the target exists, so two writers can never both win.
            try:
                os.link(tmp, path)
            finally:
                tmp.unlink()
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sync_dir:
        _fsync_dir(folder)


class Archive:
    """A folder tree of item files keyed by canonical URL and UTC date."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.removed_temp_files = self.cleanup_temp_files()
        # While a batch is open (`begin_batch`), the folders whose renames still need an fsync.
        self._unsynced: set[Path] | None = None

    def begin_batch(self) -> None:
        """Defer folder fsyncs until `sync_batch` (one per folder, not one per file)."""
        self._unsynced = set()

    def sync_batch(self) -> None:
        """Make the batch's renames durable; call before committing rows that name the files."""
        folders, self._unsynced = self._unsynced or set(), None
        for folder in sorted(folders):
            _fsync_dir(folder)

    def _write(self, path: Path, item: StoredItem, *, overwrite: bool) -> None:
        batch = self._unsynced
        atomic_write_bytes(path, render_item(item), overwrite=overwrite, sync_dir=batch is None)
        if batch is not None:
            batch.add(path.parent)

    def path_for(self, canonical_url: str, ts: int) -> Path:
        """Where the item for `canonical_url` with time `ts` (epoch ms) lives."""
        if not canonical_url:
            raise ValueError("canonical_url must not be empty")
        try:
            day = datetime.fromtimestamp(ts / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"ts {ts} is not a usable epoch-milliseconds time") from exc
        digest = hashlib.sha1(canonical_url.encode("utf-8")).hexdigest()[:16]
        return self.root / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / f"{digest}{ITEM_SUFFIX}"

    def write_new(self, item: StoredItem, canonical_url: str) -> Path:
        """Write a new item atomically; raises FileExistsError if its file already exists."""
        path = self.path_for(canonical_url, item.ts)
        if path.exists():  # saves an fsynced temp file per story when rebuilding the state
            raise FileExistsError(path)
        self._write(path, item, overwrite=False)
        logger.debug("archived %s as %s", canonical_url, path)
        return path

    def replace(self, path: str | Path, item: StoredItem) -> Path:
        """Atomically replace an existing item file (e.g. with a richer body); returns its path."""
        target = Path(path)
        if not target.is_file():
            raise FileNotFoundError(f"{target}: no item file to replace")
        self._write(target, item, overwrite=True)
        logger.debug("replaced %s", target)
        return target

    def iter_paths(self) -> Iterator[Path]:
        """Every item file in the archive, sorted (temp files excluded)."""
        found = (
            p
            for p in self.root.rglob(f"*{ITEM_SUFFIX}")
            if p.is_file() and not p.name.startswith(TMP_PREFIX)
        )
        yield from sorted(found)

    def cleanup_temp_files(self) -> int:
        """Remove `.tmp-*` files whose writer is gone (crashed); returns how many were removed."""
        removed = 0
        for tmp in self.root.rglob(f"{TMP_PREFIX}*"):
            if _writer_alive(tmp):
                continue  # a concurrent writer (daemon vs manual fetch) is mid-write
            try:
                tmp.unlink()
                removed += 1
            except OSError as exc:
                logger.warning("cannot remove stale temp file %s: %s", tmp, exc)
        if removed:
            logger.info("removed %d stale temp files under %s", removed, self.root)
        return removed
