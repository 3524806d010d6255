"""`feedwatch check [--repair]`: the archive and the state verified against each other.

Checks (store/consistency.py): SQLite's `PRAGMA integrity_check`, archive files no row points
at, rows whose file is gone, files that do not parse. `--repair` fixes what can be fixed
without losing anything: a file is registered (as its own story, no alert), a row follows its
file when the archive moved, a row whose file is gone is marked file-less (it stays "seen", so
the story is neither stored nor alerted again), a missing, empty or damaged state is rebuilt
from the archive (a damaged one is renamed aside first). No archive file is ever deleted or
changed.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from conf.cluster import redact_password
from conf.schema import Config
from dedup.engine import Decision, DedupEngine, Document
from feedwatch.outlets import outlet_for_url
from feedwatch.recovery import has_stories, rebuild_lost_state
from scheduler.locks import is_locked
from store.archive import Archive
from store.backends import open_connection, open_storage
from store.consistency import (
    ArchiveFile,
    Consistency,
    compare,
    count_temp_files,
    integrity,
    item_rows,
    read_ro,
    scan_archive,
)
from store.sqlconn import Connection
from store.state import ItemState, SeenItem, now_ms, write_transaction

logger = logging.getLogger(__name__)

SHOWN = 5  # paths listed per kind of problem; the rest are counted


@dataclass
class Inspection:
    """One read-only look at the archive and the state."""

    integrity: str  # "ok", "missing", or SQLite's complaint
    consistency: Consistency | None  # None when the state cannot be read
    temp_files: int
    files: list[ArchiveFile]

    @property
    def ok(self) -> bool:
        if self.consistency is None:
            return False
        if self.integrity == "missing":
            return not self.files
        return self.integrity == "ok" and self.consistency.problems == 0


def inspect(config: Config) -> Inspection:
    """Scan every archive file and every items row; changes nothing."""
    files = scan_archive(config.archive_dir)
    temp = count_temp_files(config.archive_dir)
    if config.postgres_url is not None:
        # No PRAGMA integrity_check: the server keeps its own (WAL, checksums if enabled).
        # The archive of this machine is compared with the items rows in PostgreSQL.
        try:
            pg = open_connection(config.postgres_url)
        except ConnectionError as exc:
            return Inspection(f"unreachable ({exc})", None, temp, files)
        try:
            rows = item_rows(pg)
        finally:
            pg.close()
        return Inspection("ok", compare(files, rows), temp, files)
    if not config.state_db.exists():
        return Inspection("missing", compare(files, []), temp, files)
    try:
        conn = read_ro(config.state_db)
    except sqlite3.Error as exc:
        return Inspection(str(exc), None, temp, files)
    try:
        text = integrity(conn)
        try:
            rows = item_rows(conn)
        except sqlite3.DatabaseError as exc:
            return Inspection(text if text != "ok" else str(exc), None, temp, files)
    finally:
        conn.close()
    return Inspection(text, compare(files, rows), temp, files)


def _listed(paths: list[str]) -> str:
    shown = ", ".join(paths[:SHOWN])
    return shown + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")


def format_inspection(config: Config, ins: Inspection) -> list[str]:
    """The short report: two summary lines, one line per kind of problem, the verdict."""
    c = ins.consistency
    lines = [f"state {config.state_db}: integrity {ins.integrity}"]
    if config.postgres_url is not None:
        lines = [f"state {redact_password(config.postgres_url)}: PostgreSQL, {ins.integrity}"]
    if ins.integrity == "missing":
        lines = [f"state {config.state_db}: missing"]
    elif c is not None:
        lines[0] += f"; {c.rows} items" + (
            f" ({c.rows_without_path} marked without a file)" if c.rows_without_path else ""
        )
    lines.append(
        f"archive {config.archive_dir}: {len(ins.files)} item files"
        + (f", {ins.temp_files} temp files left by a crash" if ins.temp_files else "")
    )
    if ins.integrity == "missing" and ins.files:
        lines.append("problem: no state database (--repair, or the next crawl, rebuilds it)")
    elif ins.integrity not in ("ok", "missing"):
        lines.append("problem: the state database is damaged (--repair rebuilds it)")
    if c is not None and ins.integrity != "missing":
        if c.unknown:
            paths = [str(f.path) for f in c.unknown]
            lines.append(f"problem: {len(paths)} archive files not in the state: {_listed(paths)}")
        if c.moved:
            paths = [str(f.path) for _, f in c.moved]
            lines.append(
                f"problem: {len(paths)} files recorded under another path: {_listed(paths)}"
            )
        if c.missing:
            lines.append(f"problem: {len(c.missing)} recorded files missing: {_listed(c.missing)}")
    if c is not None and c.copies:
        paths = [f"{f.path} (kept: {kept})" for f, kept in c.copies]
        lines.append(
            f"problem: {len(paths)} second files for a recorded URL (not repairable):"
            f" {_listed(paths)}"
        )
    if c is not None and c.unparsable:
        paths = [f"{p}: {err}" for p, err in c.unparsable]
        lines.append(f"problem: {len(paths)} files do not parse (not repairable): {_listed(paths)}")
    lines.append("consistent" if ins.ok else "problems remain")
    return lines


def _running_crawls(config: Config) -> list[str]:
    state_dir = Path(config.state_db).parent
    return [name for name in config.outlets if is_locked(state_dir, name)]


def _set_aside_damaged(state_db: Path) -> list[Path]:
    """Rename the damaged database and its WAL files; nothing is deleted."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    moved = []
    for suffix in ("", "-wal", "-shm"):
        path = state_db.with_name(state_db.name + suffix)
        if path.exists():
            target = path.with_name(f"{path.name}.damaged-{stamp}")
            path.rename(target)
            moved.append(target)
    return moved


def _rebuild(config: Config) -> list[str]:
    report = rebuild_lost_state(config, announce=False)  # the report says it
    if report is None:
        return []
    counts = ", ".join(f"{k} {n}" for k, n in sorted(report.counts.items())) or "nothing"
    return [f"repaired: rebuilt the state from the archive (imported: {counts})"]


def _register(
    conn: Connection,
    config: Config,
    engine: DedupEngine | None,
    f: ArchiveFile,
    has_row: bool,
) -> None:
    """Record an archive file as its own story: seen, indexed for dedup, never alerted."""
    assert f.item is not None
    url = f.canonical_url
    if has_row:  # its row was marked file-less by an earlier repair: the file came back
        ItemState(conn).set_path(url, str(f.path))
        return
    outlet = outlet_for_url(config, f.item.url) or (urlsplit(f.item.url).hostname or "unknown")
    seen_ms = now_ms()
    story_id = None
    if engine is not None:
        doc = Document(f.item.url, url, f.item.title, f.item.body, outlet, seen_ms, True)
        # "new" on purpose: the file is a story of its own whatever dedup would say today.
        story_id = engine.commit(doc, Decision("new", None, None, reasons=["feedwatch check"]))
    item = SeenItem(
        url, outlet, f.item.url, f.item.title, f.item.ts, seen_ms, story_id, str(f.path)
    )
    ItemState(conn).record(item, None)


def _repair_rows(config: Config, files: list[ArchiveFile]) -> list[str]:
    """Register unknown files, follow moved files, mark rows whose file is gone."""
    storage = open_storage(config.state_target)
    conn = storage.connection
    try:
        engine = DedupEngine(storage, config.dedup) if config.dedup.enabled else None
        with write_transaction(conn):
            # Compared again inside the write lock: a crawl storing a story right now has
            # either committed its row or not yet written its file.
            c = compare(files, item_rows(conn))
            for old, f in c.moved:
                ItemState(conn).move_path(old, str(f.path))
            for path in c.missing:
                ItemState(conn).forget_path(path)
            known = {url for url, _ in item_rows(conn)}
            for f in c.unknown:
                _register(conn, config, engine, f, f.canonical_url in known)
                known.add(f.canonical_url)
    finally:
        conn.close()
    lines = []
    if c.unknown:
        lines.append(f"repaired: registered {len(c.unknown)} archive files (no alerts)")
    if c.moved:
        lines.append(f"repaired: {len(c.moved)} rows now point at their moved files")
    if c.missing:
        lines.append(f"repaired: marked {len(c.missing)} recorded files as missing")
    return lines


def repair(config: Config, ins: Inspection) -> list[str]:
    """Fix what can be fixed without losing anything; returns one line per repair."""
    lines = []
    if ins.temp_files:
        removed = Archive(config.archive_dir).removed_temp_files  # dead writers' files only
        lines.append(f"repaired: removed {removed} temp files left by a crash")
    if ins.integrity not in ("ok", "missing"):
        running = _running_crawls(config)
        if running:
            return [*lines, f"not repaired: a crawl of {running[0]} is running; stop it first"]
        moved = _set_aside_damaged(config.state_db)
        lines.append("repaired: set the damaged state aside as " + ", ".join(p.name for p in moved))
        return lines + _rebuild(config)
    if config.postgres_url is None and (
        ins.integrity == "missing" or has_stories(config.state_db) is False
    ):
        return lines + _rebuild(config)
    if ins.consistency is not None and ins.consistency.problems:
        lines += _repair_rows(config, ins.files)
    return lines


def run_check(config: Config, *, repair_problems: bool) -> tuple[str, int]:
    """The report and the exit code: 0 when consistent, 1 when problems remain."""
    ins = inspect(config)
    lines: list[str] = []
    if repair_problems and (not ins.ok or ins.temp_files):
        try:
            lines = repair(config, ins)
        except (sqlite3.Error, OSError) as exc:  # e.g. a read-only state folder: one line
            lines = [f"not repaired: {exc}"]
        ins = inspect(config)
    lines += format_inspection(config, ins)
    return "\n".join(lines), 0 if ins.ok else 1
