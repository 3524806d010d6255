"""Checks on the archive and state paths before a command starts work.

A crawl that finds out mid-way that its archive folder is a file fails in every pipeline call
(hundreds of lines of Twisted tracebacks). Checked first, it is one line and nothing is written:
these checks only read, they never create the folders or the database.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from conf.schema import Config
from feedwatch.errors import UsageError


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_folder(key: str, folder: Path, shown: Path | None = None) -> None:
    """`folder` is a folder, or can be created: no file in the way, and writable.

    `shown` is the path the user gave (the database file when `folder` is its parent).
    """
    shown = shown or folder
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        what = "is a file" if existing == shown else f"cannot be created: {existing} is a file"
        raise UsageError(f"{key} {shown} {what}, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{key} {shown}: no permission to write in {existing}")


def check_state_db(path: Path, *, write: bool = True) -> None:
    """The state database is absent (and can be created) or is a readable SQLite database."""
    if path.is_dir():
        raise UsageError(f"state_db {path} is a folder, not a database file")
    if not path.exists():
        if write:
            check_folder("state_db", path.parent, path)
        return
    if write and not os.access(path, os.W_OK):
        raise UsageError(f"state_db {path}: no permission to write it")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise UsageError(
            f"state_db {path} is not a usable SQLite database ({exc}); move it aside to start"
            " afresh, or restore it from a backup"
        ) from None


def check_paths(config: Config, *, archive: bool = True) -> None:
    """Refuse, in one line, an archive or state path that the command could not use."""
    if archive:
        check_folder("archive_dir", config.archive_dir)
    check_state_db(config.state_db)
