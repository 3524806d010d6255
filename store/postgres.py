"""The PostgreSQL implementation of the state store: the same table owners and SQL as SQLite's,
over `store.pg.PgConnection` (docs/CLUSTER.md says why one set of SQL).

Several processes on several machines share it: write transactions take turns through an
advisory lock (as SQLite's BEGIN IMMEDIATE), and queue consumers skip rows another one holds.
"""

from __future__ import annotations

import psycopg

from conf.cluster import redact_password
from store.pg import SCHEMA_LOCK, PgConnection
from store.sqlstore import SQLStore
from store.state import ensure_schema


class StoreUnavailable(ConnectionError):
    """The PostgreSQL server of the state store cannot be reached (one line, password hidden)."""


class PostgresState(SQLStore):
    """A `StateStorage` in one PostgreSQL database (its tables in the URL's search_path)."""

    connection: PgConnection

    def __init__(self, url: str) -> None:
        try:
            connection = PgConnection.connect(url)
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "no answer"
            raise StoreUnavailable(
                f"cannot open the state store at {redact_password(url)}: {reason}"
            ) from None
        try:
            # Tables are created on first use; processes starting together take turns.
            with connection.transaction():
                connection.execute(
                    "SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))", (SCHEMA_LOCK,)
                )
                ensure_schema(connection)
                self._setup(connection)
        except BaseException:
            connection.close()
            raise
