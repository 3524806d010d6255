"""The embedded SQLite implementation of the state store (store/storage.py).

One connection per process (per thread that uses it), WAL mode, a long busy timeout: the
daemon and one-off commands write the same file. Each table keeps its one owner module
(`state.py`, `feeds.py`, `queue.py`, `dedup_tables.py`, `alert_tables.py`); this class only
assembles them behind the interface, and brings older layouts up to date on open
(`sqlite_migrate.py`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from store.alert_tables import AlertTables
from store.dedup_tables import DedupTables
from store.feeds import FeedStateStore
from store.queue import IngestQueue
from store.sqlite_migrate import migrate
from store.state import ItemState, RunLog, ensure_schema, open_state, write_transaction


class SQLiteState:
    """A `StateStorage` on one SQLite state database."""

    def __init__(self, path: str | Path) -> None:
        self._setup(open_state(path))

    @classmethod
    def on(cls, connection: sqlite3.Connection) -> SQLiteState:
        """The store on a connection the caller opened (with `open_state`) and closes."""
        state = cls.__new__(cls)
        state._setup(connection)
        return state

    def _setup(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self._items = ItemState(self.connection)
        self._runs = RunLog(self.connection)
        self._feeds = FeedStateStore(self.connection)
        self._queue = IngestQueue(self.connection)
        ensure_schema(connection)  # the items table (a connection the caller opened may lack it)
        migrate(connection)
        self._dedup = DedupTables(connection)
        self._alerts = AlertTables(connection)
        with write_transaction(connection):
            self._dedup.ensure_schema()
            self._alerts.ensure_schema()

    @property
    def items(self) -> ItemState:
        return self._items

    @property
    def runs(self) -> RunLog:
        return self._runs

    @property
    def feeds(self) -> FeedStateStore:
        return self._feeds

    @property
    def queue(self) -> IngestQueue:
        return self._queue

    @property
    def dedup(self) -> DedupTables:
        return self._dedup

    @property
    def alerts(self) -> AlertTables:
        return self._alerts

    def transaction(self) -> AbstractContextManager[None]:
        return write_transaction(self.connection)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self.connection.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK TO part")
            self.connection.execute("RELEASE part")
            raise
        self.connection.execute("RELEASE part")

    def close(self) -> None:
        self.connection.close()


def open_storage(path: str | Path) -> SQLiteState:
    """The state store at `path` (SQLite, the embedded default)."""
    return SQLiteState(path)
