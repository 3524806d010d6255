"""Feed states written off the Scrapy thread (for crawler/httpstate.py).

Each feed response records the feed's status, freshness and failure count at once. Written on
the Scrapy thread, that write waited for the state database's write lock while the ingest
consumer held it for a batch: about 10-20 ms per feed, during which no download progressed.
Here the writes go, in order, to one thread with its own connection; reads see this crawl's
own writes at once (they are the newest), everything else comes from the database.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

from spiders.workers import SerialThread
from store.backends import open_storage
from store.feeds import FeedState
from store.storage import FeedStateStorage


class BackgroundFeedStates:
    """A FeedStateStorage whose `put` returns at once; `close` waits for every write."""

    def __init__(self, reads: FeedStateStorage, state_db: str | Path) -> None:
        self._reads = reads
        self._written: dict[str, FeedState] = {}
        self._thread = SerialThread("feedwatch-feedstate")
        self._storage = self._thread.call(open_storage, state_db)
        self._writes: list[Future[None]] = []
        self._closed = False

    def get(self, feed_url: str) -> FeedState | None:
        """The feed's state: as this crawl last put it, else as stored."""
        written = self._written.get(feed_url)
        return replace(written) if written is not None else self._reads.get(feed_url)

    def put(self, state: FeedState) -> None:
        """Queue the write of a copy of `state` (the caller may go on changing its own)."""
        snapshot = replace(state)
        self._written[state.feed_url] = snapshot
        self._writes = [w for w in self._writes if not w.done() or w.exception()]
        self._writes.append(self._thread.submit(self._storage.feeds.put, snapshot))

    def all(self) -> list[FeedState]:
        """Every stored feed state (after this crawl's writes so far)."""
        self.flush()
        return self._reads.all()

    def flush(self) -> None:
        """Wait until every write made so far is in the database; raise the first that failed."""
        writes, self._writes = self._writes, []
        for write in writes:
            write.result()

    async def drained(self) -> None:
        """Wait, without blocking an event loop, until every write made so far is done."""
        await self._thread.run(_nothing)  # runs after them: one thread, in order
        self.flush()  # raise the first that failed

    def close(self) -> None:
        """Finish the writes, then close the writer's connection and thread (once)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        finally:
            self._thread.call(self._storage.close)
            self._thread.close()


def _nothing() -> None:
    return None
