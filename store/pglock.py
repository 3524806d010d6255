"""A PostgreSQL session advisory lock held on a connection of its own: one holder at a time
across machines, freed by the server as soon as the holder's session ends (killed, crashed,
its machine gone: TCP keepalives end the session within ~25 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from store.pg import CONNECT_OPTIONS

INGEST_LOCK = 0x66770005  # one active ingest consumer per state (scheduler/pgcluster.py: 1, 2)


class SessionLock:
    """`pg_try_advisory_lock(key, hashtext(current_schema()))`, tried until held or given up."""

    def __init__(self, url: str, key: int) -> None:
        self.url, self.key = url, key
        self.conn: psycopg.Connection | None = None

    def acquire(self, give_up: Callable[[], bool], poll: float = 0.2) -> bool:
        """True once held; False as soon as `give_up()` says so (checked between tries)."""
        while True:
            if self.conn is None or self.conn.broken:
                self.conn = psycopg.connect(
                    self.url,
                    autocommit=True,
                    **{**CONNECT_OPTIONS, "application_name": "feedwatch-ingest"},
                )
            row = self.conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (self.key,)
            ).fetchone()
            if row is not None and row[0]:
                return True
            if give_up():
                return False
            time.sleep(poll)

    def held(self) -> bool:
        """Whether the session that holds the lock is still there (a restart loses it)."""
        if self.conn is None or self.conn.broken:
            return False
        try:
            self.conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def release(self) -> None:
        """Close the session: the server frees the lock with it."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@contextmanager
def session_lock(url: str, key: int, give_up: Callable[[], bool]) -> Iterator[SessionLock | None]:
    """The lock for the block, or None once `give_up()` says so."""
    lock = SessionLock(url, key)
    try:
        yield lock if lock.acquire(give_up) else None
    finally:
        lock.release()
