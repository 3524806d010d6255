"""Open the state store that `state_db` names: a PostgreSQL URL, or a SQLite file path."""

from __future__ import annotations

from pathlib import Path

from conf.cluster import is_postgres_url
from store.sqlconn import Connection
from store.sqlstore import SQLStore


def open_storage(target: str | Path) -> SQLStore:
    """PostgreSQL for a `postgresql://` URL, otherwise the SQLite file at that path."""
    if is_postgres_url(target):
        from store.postgres import PostgresState  # psycopg only when it is used

        return PostgresState(str(target).strip())
    from store.sqlite import SQLiteState

    return SQLiteState(target)


def open_connection(target: str | Path) -> Connection:
    """A bare connection to the state, for the crawl's read-mostly helpers (`ItemState(conn)`).

    SQLite: `open_state` as before (no migration on this path). PostgreSQL: a store's
    connection, its tables created on first use.
    """
    if is_postgres_url(target):
        return open_storage(target).connection
    from store.state import open_state

    return open_state(target)
