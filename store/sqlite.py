"""The embedded SQLite implementation of the state store (store/storage.py).

One connection per process (per thread that uses it), WAL mode, a long busy timeout: the
daemon and one-off commands write the same file. Older layouts are brought up to date on open
(`sqlite_migrate.py`). `store.backends.open_storage` picks this or PostgreSQL by the form of
`state_db`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from store.sqlite_migrate import migrate
from store.sqlstore import SQLStore
from store.state import ensure_schema, open_state


class SQLiteState(SQLStore):
    """A `StateStorage` on one SQLite state database."""

    connection: sqlite3.Connection

    def __init__(self, path: str | Path) -> None:
        self._setup(open_state(path))

    @classmethod
    def on(cls, connection: sqlite3.Connection) -> SQLiteState:
        """The store on a connection the caller opened (with `open_state`) and closes."""
        state = cls.__new__(cls)
        state._setup(connection)
        return state

    def _setup(self, connection: sqlite3.Connection) -> None:  # type: ignore[override]
        ensure_schema(connection)  # the items table (a connection the caller opened may lack it)
        migrate(connection)
        super()._setup(connection)


def open_storage(path: str | Path) -> SQLiteState:
    """The state store at `path` (SQLite, the embedded default)."""
    return SQLiteState(path)
