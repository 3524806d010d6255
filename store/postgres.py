"""The PostgreSQL implementation of the state store: the same table owners and SQL as SQLite's,
over `store.pg.PgConnection` (docs/CLUSTER.md says why one set of SQL).

Several processes on several machines share it: write transactions take turns through an
advisory lock (as SQLite's BEGIN IMMEDIATE), and queue consumers skip rows another one holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import psycopg

from conf.cluster import redact_password
from store.pg import SCHEMA_LOCK, PgConnection
from store.sqlstore import SQLStore
from store.state import ensure_schema

T = TypeVar("T")


class StoreUnavailable(ConnectionError):
    """The PostgreSQL server of the state store cannot be reached (one line, password hidden)."""


# How long opening the store waits for an unreachable server. 0 for commands (one line at
# once); a cluster worker's crawl sets more (`wait_for_server`), so that a crawl starting
# while PostgreSQL restarts waits for it instead of failing its job.
_connect_wait_s = 0.0


def wait_for_server(seconds: float) -> None:
    """Opening a store in this process retries an unreachable server for up to `seconds`."""
    global _connect_wait_s
    _connect_wait_s = seconds


def _connect(url: str) -> PgConnection:
    deadline = time.monotonic() + _connect_wait_s
    while True:
        try:
            return PgConnection.connect(url)
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "no answer"
                raise StoreUnavailable(
                    f"cannot open the state store at {redact_password(url)}: {reason}"
                ) from None
            time.sleep(1.0)


class PostgresState(SQLStore):
    """A `StateStorage` in one PostgreSQL database (its tables in the URL's search_path)."""

    connection: PgConnection

    def __init__(self, url: str) -> None:
        connection = _connect(url)
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


def retry_unreachable(call: Callable[[], T]) -> T:
    """`call()`, repeated while the server is unreachable, for up to the connect wait.

    For statements that may be repeated: the store pipeline's queue put (a story queued twice
    is stored once: the second is "seen" by its canonical URL). The statement that met the
    lost connection failed; the connection opens again on the next one.
    """
    deadline = time.monotonic() + _connect_wait_s
    while True:
        try:
            return call()
        except psycopg.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)
