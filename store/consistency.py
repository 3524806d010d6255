"""Archive and state checked against each other, read-only (`feedwatch check`, daemon start).

The archive is the record: every item file should have an `items` row pointing at it, every
row's file should exist, every file should parse, and SQLite should pass its own integrity
check. Nothing here writes; feedwatch/check.py repairs.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from store.archive import ITEM_SUFFIX, TMP_PREFIX
from store.format import ItemFormatError, StoredItem, parse_item
from store.sqlconn import Connection
from store.urls import canonical_url

__all__ = [
    "ArchiveFile",
    "Consistency",
    "QuickCheck",
    "compare",
    "integrity",
    "iter_archive_files",
    "quick_check",
    "read_ro",
    "scan_archive",
]


def iter_archive_files(root: Path) -> Iterator[Path]:
    """Every item file under `root`, sorted; temp files of writers are not item files."""
    if not root.is_dir():
        return
    found = (p for p in root.rglob(f"*{ITEM_SUFFIX}") if not p.name.startswith(TMP_PREFIX))
    yield from sorted(p for p in found if p.is_file())


def count_temp_files(root: Path) -> int:
    """Temp files a crashed writer left (the next crawl removes them)."""
    return sum(1 for _ in root.rglob(f"{TMP_PREFIX}*")) if root.is_dir() else 0


@dataclass(frozen=True)
class ArchiveFile:
    """One item file: its parsed item, or why it does not parse."""

    path: Path
    item: StoredItem | None
    error: str = ""

    @property
    def canonical_url(self) -> str:
        return canonical_url(self.item.url) if self.item else ""


def scan_archive(root: Path) -> list[ArchiveFile]:
    """Parse every item file strictly (the archive is only ever written in the item format)."""
    files = []
    for path in iter_archive_files(root):
        try:
            files.append(ArchiveFile(path, parse_item(path.read_bytes())))
        except ItemFormatError as exc:
            files.append(ArchiveFile(path, None, str(exc)))
        except OSError as exc:
            files.append(ArchiveFile(path, None, f"cannot read: {exc.strerror or exc}"))
    return files


def read_ro(state_db: Path) -> sqlite3.Connection:
    """A read-only connection: checking must not create or change the state."""
    return sqlite3.connect(f"file:{state_db}?mode=ro", uri=True, timeout=30.0)


def integrity(conn: sqlite3.Connection, *, quick: bool = False) -> str:
    """'ok', or SQLite's first complaints on one line (quick: O(N), skips index contents)."""
    pragma = "quick_check" if quick else "integrity_check"
    try:
        rows = conn.execute(f"PRAGMA {pragma}(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    text = "; ".join(str(r[0]) for r in rows)
    return text if text else "ok"


def _has_items_table(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items'"
    ).fetchone()
    return row is not None


def item_rows(conn: Connection) -> list[tuple[str, str | None]]:
    """(canonical_url, path) of every items row (PostgreSQL: its tables exist once opened)."""
    if isinstance(conn, sqlite3.Connection) and not _has_items_table(conn):
        return []
    return [(str(u), p) for u, p in conn.execute("SELECT canonical_url, path FROM items")]


@dataclass
class Consistency:
    """What differs between the archive and the state (paths as strings, as the state keeps them)."""

    files: int = 0
    rows: int = 0
    rows_without_path: int = 0  # stories recorded with no file (e.g. marked by a repair)
    unparsable: list[tuple[Path, str]] = field(default_factory=list)
    unknown: list[ArchiveFile] = field(default_factory=list)  # no row has its URL or path
    moved: list[tuple[str, ArchiveFile]] = field(default_factory=list)  # (row path, found file)
    copies: list[tuple[ArchiveFile, str]] = field(default_factory=list)  # URL kept elsewhere
    missing: list[str] = field(default_factory=list)  # row paths (distinct) with no file

    @property
    def problems(self) -> int:
        return (
            len(self.unparsable)
            + len(self.unknown)
            + len(self.moved)
            + len(self.copies)
            + len(self.missing)
        )


def compare(files: list[ArchiveFile], rows: list[tuple[str, str | None]]) -> Consistency:
    """Match archive files and items rows by path, then by canonical URL."""
    result = Consistency(files=len(files), rows=len(rows))
    path_of_url = {url: path for url, path in rows}
    row_paths = {path for _, path in rows if path}
    result.rows_without_path = sum(1 for _, path in rows if not path)
    seen_paths = set()
    for f in files:
        key = str(f.path)
        seen_paths.add(key)
        if f.item is None:
            result.unparsable.append((f.path, f.error))
            continue
        if key in row_paths:
            continue
        recorded = path_of_url.get(f.canonical_url)
        if f.canonical_url not in path_of_url:
            result.unknown.append(f)
        elif recorded and not os.path.exists(recorded):
            result.moved.append((recorded, f))
        elif recorded:
            result.copies.append((f, recorded))
        else:
            result.unknown.append(f)  # its row was marked file-less: the file came back
    moved_from = {old for old, _ in result.moved}
    for path in sorted(row_paths - seen_paths - moved_from):
        if not os.path.exists(path):
            result.missing.append(path)
    return result


@dataclass(frozen=True)
class QuickCheck:
    """The cheap part, for every daemon start: SQLite's quick_check and three counts."""

    integrity: str
    rows: int
    stored_paths: int
    files: int

    @property
    def ok(self) -> bool:
        return self.integrity == "ok" and self.stored_paths == self.files

    def line(self) -> str:
        verdict = "consistent" if self.ok else "run `feedwatch check` for details"
        return (
            f"state check: quick_check {self.integrity}; {self.rows} items,"
            f" {self.stored_paths} item files recorded, {self.files} in the archive: {verdict}"
        )


def quick_check(state_db: Path, archive_dir: Path) -> QuickCheck:
    """quick_check, item rows, distinct recorded files and archive files (no file is parsed)."""
    files = sum(1 for _ in iter_archive_files(archive_dir))
    if not state_db.exists():
        return QuickCheck("no state database" if files else "ok", 0, 0, files)
    try:
        conn = read_ro(state_db)
    except sqlite3.Error as exc:
        return QuickCheck(str(exc), 0, 0, files)
    try:
        text = integrity(conn, quick=True)
        if text != "ok" or not _has_items_table(conn):
            return QuickCheck(text, 0, 0, files)
        rows, paths = conn.execute("SELECT COUNT(*), COUNT(DISTINCT path) FROM items").fetchone()
        return QuickCheck(text, int(rows), int(paths), files)
    except sqlite3.Error as exc:
        return QuickCheck(str(exc), 0, 0, files)
    finally:
        conn.close()
