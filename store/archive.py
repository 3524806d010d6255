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
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from store.format import StoredItem, render_item

__all__ = ["TMP_PREFIX", "Archive", "atomic_write_bytes"]

logger = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"
SYNC_THREADS = 8  # concurrent fsyncs of a batch's files (the journal commits them together)
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


def _write_temp(folder: Path, data: bytes, *, sync: bool = True) -> Path:
    """Write `data` to a fresh temp file in `folder` (fsynced unless `sync` is False)."""
    # The writer's pid in the name lets cleanup spare temp files of writers still running.
    fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix=".part", dir=folder)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if sync:
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
    _place(_write_temp(folder, data), path, overwrite=overwrite)
    if sync_dir:
        _fsync_dir(folder)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _place(tmp: Path, path: Path, *, overwrite: bool) -> None:
    """Move a complete, durable temp file to `path` (FileExistsError: taken, temp removed)."""
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


class Archive:
    """A folder tree of item files keyed by canonical URL and UTC date."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.removed_temp_files = self.cleanup_temp_files()
        # While a batch is open (`begin_batch`): its files, written to temp files not yet in
        # place (temp, final path, overwrite), and the bytes each final path will hold.
        self._staged: list[tuple[Path, Path, bool]] | None = None
        self._contents: dict[Path, bytes] = {}

    def begin_batch(self) -> None:
        """Stage the writes until `sync_batch`: their fsyncs at once and one fsync per folder
        for the batch, not one of each per file.

        Each file still becomes visible only complete and durable (fsynced, then renamed), and
        before the transaction that names it commits. Until then this Archive answers
        `exists` and `read_bytes` for the staged files from memory.
        """
        self._staged = []
        self._contents = {}

    def sync_batch(self) -> None:
        """Make the batch's files durable and put them in place; call before committing rows
        that name them."""
        staged, self._staged, self._contents = self._staged or [], None, {}
        try:
            # At once, from a few threads: the file system commits its journal once for all
            # the fsyncs waiting (one by one, each new file cost a commit: 0.3-5 ms here).
            if staged:
                with ThreadPoolExecutor(min(SYNC_THREADS, len(staged))) as pool:
                    list(pool.map(_fsync_file, [tmp for tmp, _, _ in staged]))
            for index, (tmp, path, overwrite) in enumerate(staged):
                try:
                    _place(tmp, path, overwrite=overwrite)
                except FileExistsError:
                    # Another writer put it there meanwhile: complete, taken as written.
                    logger.info("%s was written meanwhile; kept", path)
                staged[index] = (path, path, overwrite)  # placed: nothing left to remove
        except BaseException:
            self._remove_temps(staged)
            raise
        for folder in sorted({path.parent for _, path, _ in staged}):
            _fsync_dir(folder)

    def abort_batch(self) -> None:
        """Drop the staged files of a batch that will not commit."""
        staged, self._staged, self._contents = self._staged or [], None, {}
        self._remove_temps(staged)

    @staticmethod
    def _remove_temps(staged: list[tuple[Path, Path, bool]]) -> None:
        for tmp, path, _ in staged:
            if tmp != path:
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def exists(self, path: Path) -> bool:
        """Whether an item file is at `path` (or staged for it in the open batch)."""
        return path in self._contents or path.is_file()

    def read_bytes(self, path: Path) -> bytes:
        """The item file at `path`, as the open batch left it."""
        staged = self._contents.get(path)
        return staged if staged is not None else path.read_bytes()

    def _write(self, path: Path, item: StoredItem, *, overwrite: bool) -> None:
        data = render_item(item)
        if self._staged is None:
            atomic_write_bytes(path, data, overwrite=overwrite)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._staged.append((_write_temp(path.parent, data, sync=False), path, overwrite))
        self._contents[path] = data

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
        if self.exists(path):  # saves an fsynced temp file per story when rebuilding the state
            raise FileExistsError(path)
        self._write(path, item, overwrite=False)
        logger.debug("archived %s as %s", canonical_url, path)
        return path

    def replace(self, path: str | Path, item: StoredItem) -> Path:
        """Atomically replace an existing item file (e.g. with a richer body); returns its path."""
        target = Path(path)
        if not self.exists(target):
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
