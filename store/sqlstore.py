"""The state store (store/storage.py) assembled from its table owners over one connection.

Each table keeps its one owner module (`state.py`, `feeds.py`, `queue.py`, `dedup_tables.py`,
`alert_tables.py`) with one set of SQL;
this class only puts them behind the interface. The backends differ in how they connect
(`store/sqlite.py`, `store/postgres.py`), not in their SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from store.alert_tables import AlertTables
from store.dedup_tables import DedupTables
from store.feeds import FeedStateStore
from store.queue import IngestQueue
from store.sqlconn import Connection
from store.state import ItemState, RunLog, write_transaction


class SQLStore:
    """A `StateStorage` over one open connection (SQLite's, or `store.pg.PgConnection`)."""

    connection: Connection

    def _setup(self, connection: Connection) -> None:
        self.connection = connection
        self._items = ItemState(connection)
        self._runs = RunLog(connection)
        self._feeds = FeedStateStore(connection)
        self._queue = IngestQueue(connection)
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
