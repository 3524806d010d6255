"""What the store's table owners need of a database connection, whichever database it is.

A `sqlite3.Connection` has it as it is; `store.pg.PgConnection` gives it over psycopg. The
few statements that cannot be written once for both ask `is_postgres` (this module imports no
driver, so SQLite-only commands do not pay for loading psycopg).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol


class Cursor(Protocol):
    """The part of a DB-API cursor the store reads."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of `sqlite3.Connection` the store uses (`?` placeholders, autocommit)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, seq: Iterable[Sequence[Any]], /) -> Cursor: ...
    def executescript(self, script: str, /) -> object: ...
    @property
    def in_transaction(self) -> bool: ...
    def close(self) -> None: ...


def is_postgres(conn: object) -> bool:
    """Whether a store connection is PostgreSQL's (for the few statements that differ)."""
    return getattr(conn, "dialect", "") == "postgresql"
