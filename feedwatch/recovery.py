"""Rebuild a lost state database from the archive before a crawl, fetch or daemon start.

A missing or empty state next to an archive that holds stories means the state was lost
(deleted, restored without it, moved to a new disk). Crawling on would treat every story still
in the feeds as new and alert it again. So the state is rebuilt first, exactly as
`feedwatch import ARCHIVE --no-alerts` into a fresh state would: every archive file is ingested
(seen items, dedup index), no alert is queued.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from conf.schema import Config
from store.archive import ITEM_SUFFIX, TMP_PREFIX
from store.state import now_ms, open_state

if TYPE_CHECKING:  # the importer loads the ingest step: only when a state is rebuilt
    from feedwatch.importer import ImportReport

logger = logging.getLogger(__name__)


def import_paths(config: Config, paths: list[Path], *, alerts: bool) -> ImportReport:
    """`feedwatch.importer.import_paths`, imported when a state is rebuilt: every crawl imports
    this module, and the importer loads the ingest step (dedup, numpy, alerts)."""
    from feedwatch.importer import import_paths as run

    return run(config, paths, alerts=alerts)


# Beside the outlets' locks; the hyphen keeps it apart from any outlet name (letters, _).
LOCK_NAME = "state-rebuild.lock"
# One row per rebuild, its end written last: an interrupted rebuild (Ctrl-C, kill, power) is
# resumed by the next command instead of leaving a half-registered archive to re-alert.
REBUILDS = "state_rebuilds"


def state_items(state_db: Path) -> int | None:
    """How many stories the state records (items, dedup records, queued): 0 when it is missing.

    A rebuild that was interrupted counts as 0 too, so the next command finishes it.
    None when the file cannot be read as a database: a corrupt state is reported by the
    command that opens it (and by `feedwatch check`), never overwritten here. Counting reads
    every row: before each crawl, `has_stories` asks the same question in constant time.
    """
    return _ask(
        state_db,
        lambda conn, table: int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]),
    )


def has_stories(state_db: Path) -> bool | None:
    """Whether the state records any story (`state_items` > 0), reading one row at most.

    Runs before every crawl, fetch and daemon start: a COUNT(*) there read the whole items and
    dedup tables (0.13 s of CPU, 0.28 s cold, at 10^6 stories: bench/bench_scale.py) for a yes
    or no.
    """
    found = _ask(
        state_db,
        lambda conn, table: int(
            conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
        ),
    )
    return None if found is None else found > 0


def _ask(state_db: Path, rows_of: Callable[[sqlite3.Connection, str], int]) -> int | None:
    """The sum of `rows_of` over the items and dedup tables (see `state_items`)."""
    if not state_db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.Error:
        return None
    try:
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if (
            REBUILDS in tables
            and conn.execute(f"SELECT 1 FROM {REBUILDS} WHERE finished_ms IS NULL").fetchone()
        ):
            return 0
        # Dedup records count too: items emptied under a full dedup index is damage for
        # `feedwatch check` to look at, not a lost state to import into. Queued stories too: a
        # consumer places a batch's files before it commits their rows, and a command started
        # in between must not take the first batch of a new state for a lost state.
        return sum(
            rows_of(conn, table)
            for table in ("items", "dedup_items", "ingest_queue")
            if table in tables
        )
    except sqlite3.Error as exc:
        logger.debug("cannot count the items of %s: %s", state_db, exc)
        return None
    finally:
        conn.close()


def archive_has_items(archive_dir: Path) -> bool:
    """Whether the archive holds at least one item file (stops at the first one)."""
    if not archive_dir.is_dir():
        return False
    return any(not p.name.startswith(TMP_PREFIX) for p in archive_dir.rglob(f"*{ITEM_SUFFIX}"))


@contextlib.contextmanager
def rebuild_lock(state_dir: Path) -> Iterator[None]:
    """One process rebuilds; the others wait, then find the state rebuilt.

    Without it, a second crawl starting during a rebuild would see a half-filled state, skip
    the rebuild and alert the stories not yet re-registered.
    """
    path = state_dir / "locks" / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel even if this process dies
        yield
    finally:
        os.close(fd)


def set_aside_orphans(state_db: Path) -> list[Path]:
    """Rename a `-wal`/`-shm` left without their database, so SQLite never replays them.

    Replaying a write-ahead log into a new, empty file would build a damaged database. They
    are renamed, not deleted: nothing stored is thrown away.
    """
    moved = []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for suffix in ("-wal", "-shm"):
        orphan = state_db.with_name(state_db.name + suffix)
        if orphan.exists() and not state_db.exists():
            target = orphan.with_name(f"{orphan.name}.orphan-{stamp}")
            orphan.rename(target)
            moved.append(target)
    return moved


def _mark(state_db: Path, *, finished: bool) -> None:
    """Record the start of a rebuild, or the end of every rebuild begun (a resumed one too)."""
    conn = open_state(state_db)
    try:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {REBUILDS}"
            " (id INTEGER PRIMARY KEY, started_ms INTEGER NOT NULL, finished_ms INTEGER)"
        )
        if finished:
            conn.execute(
                f"UPDATE {REBUILDS} SET finished_ms = ? WHERE finished_ms IS NULL", (now_ms(),)
            )
        else:
            conn.execute(f"INSERT INTO {REBUILDS} (started_ms) VALUES (?)", (now_ms(),))
    finally:
        conn.close()


def rebuild_lost_state(config: Config, *, announce: bool = True) -> ImportReport | None:
    """Rebuild the state from the archive when it is missing or empty; None when not needed.

    Logs one WARNING line saying so (INFO when `announce` is off: the caller reports it).
    Not on PostgreSQL: its state is the server's, never a file of this machine that can go
    missing, and a worker's machine need not hold the archive.
    """
    if config.postgres_url is not None:
        return None
    state_db, archive_dir = Path(config.state_db), Path(config.archive_dir)
    # The cheap test first, without the lock: this runs before every crawl.
    if has_stories(state_db) is not False or not archive_has_items(archive_dir):
        return None
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(rebuild_lock(state_db.parent))
            orphans = set_aside_orphans(state_db)
        except OSError as exc:
            logger.debug("cannot prepare a rebuild under %s: %s", state_db.parent, exc)
            return None  # an unwritable state folder: the command reports it in its own words
        if has_stories(state_db) is not False:
            return None  # another process rebuilt it while we waited
        started = time.monotonic()
        _mark(state_db, finished=False)
        report = import_paths(config, [archive_dir], alerts=False)
        _mark(state_db, finished=True)
    counts = ", ".join(f"{kind} {n}" for kind, n in sorted(report.counts.items())) or "nothing"
    logger.log(
        logging.WARNING if announce else logging.INFO,
        "state database %s was missing or empty next to a non-empty archive: rebuilt it from"
        " %s (imported: %s; %d unreadable%s) in %.1f s, with no alerts",
        state_db,
        archive_dir,
        counts,
        len(report.failed),
        "".join(f"; set aside {p.name}" for p in orphans),
        time.monotonic() - started,
    )
    return report
