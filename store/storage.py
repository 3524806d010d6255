"""The state store's interface: what callers may ask of it, whatever database is behind it.

Typing protocols (as lemon24/reader's `_types.py`): callers (the ingest step and consumer, the
crawl's queue pipeline, the conditional-GET middleware, the crawl, fetch and import commands)
hold a `StateStorage` or one of its parts and never a database connection. SQLite, embedded,
is the default (`store/sqlite.py`); PostgreSQL (`store/postgres.py`) runs the same SQL
(`store.backends.open_storage` picks one).

Behind the interface now: seen items (`items`), crawl runs (`runs`), feed validators
(`feeds`), the ingest queue and its outcomes (`queue`). Not yet: the dedup index's and the
alert outbox's tables (`dedup_*`, `alerts_*`), which their packages still reach through
`connection`; they are the next to move.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from store.feeds import FeedState
from store.queue import QueuedRow, TokenOutcomes
from store.state import SeenItem


@runtime_checkable
class ItemStorage(Protocol):
    """Seen items: canonical URLs and GUIDs, where their story is stored, content digests."""

    def lookup(
        self,
        canonical_url: str,
        guid: str | None = None,
        *,
        outlet: str = "",
        guid_scope: str | None = None,
    ) -> SeenItem | None: ...
    def is_seen(self, canonical_url: str) -> bool: ...
    def record(self, item: SeenItem, guid: str | None, guid_scope: str | None = None) -> int: ...
    def digest_of(self, canonical_url: str) -> bytes | None: ...
    def set_digest(self, canonical_url: str, digest: bytes) -> None: ...
    def story_path(self, story_id: int) -> str | None: ...
    def count(self) -> int: ...


@runtime_checkable
class RunStorage(Protocol):
    """One record per crawl of an outlet."""

    def start(self, outlet: str) -> int: ...
    def finish(
        self,
        run_id: int,
        *,
        status: str,
        feeds: int,
        new_items: int | None,
        seen_items: int,
        errors: int,
    ) -> None: ...
    def set_new_items(self, run_id: int, new_items: int) -> None: ...


@runtime_checkable
class FeedStateStorage(Protocol):
    """HTTP validators and backoff per feed URL."""

    def get(self, feed_url: str) -> FeedState | None: ...
    def put(self, state: FeedState) -> None: ...
    def all(self) -> list[FeedState]: ...


@runtime_checkable
class QueueStorage(Protocol):
    """The durable ingest queue, its outcomes and the consumer's heartbeat."""

    def put(self, token: str, outlet: str, payload: str, kind: str = "story") -> int: ...
    def put_many(self, rows: list[tuple[str, str, str, str]]) -> None: ...
    def pending(self, token: str | None = None) -> int: ...
    def outcomes(self, token: str) -> TokenOutcomes: ...
    def forget(self, token: str) -> None: ...
    def take(self, limit: int) -> list[QueuedRow]: ...
    def settle(
        self, row: QueuedRow, kind: str, *, upgraded: bool = False, text_length: int = 0
    ) -> None: ...
    def tally(self, row: QueuedRow, kind: str) -> None: ...

    def remove(self, row: QueuedRow) -> None: ...
    def failed(self, row: QueuedRow) -> None: ...
    def prune_outcomes(self, older_than_ms: int = ...) -> None: ...
    def heartbeat(self, role: str) -> None: ...
    def sign_off(self) -> None: ...
    def consumer(self) -> tuple[int, str] | None: ...
    def daemon_running(self) -> bool: ...


@runtime_checkable
class StateStorage(Protocol):
    """One open state store: its parts, one write transaction at a time, and closing it."""

    @property
    def items(self) -> ItemStorage: ...
    @property
    def runs(self) -> RunStorage: ...
    @property
    def feeds(self) -> FeedStateStorage: ...
    @property
    def queue(self) -> QueueStorage: ...

    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction; nested calls join the open one (savepoints are the caller's)."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A part of the open transaction that rolls back alone when its block raises."""
        ...

    def close(self) -> None: ...


def iter_parts(storage: StateStorage) -> Iterator[object]:
    """The parts of a store (for checks that each meets its protocol)."""
    yield from (storage.items, storage.runs, storage.feeds, storage.queue)
