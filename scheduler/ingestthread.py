"""The daemon's ingest consumer: one thread of `feedwatch run`, with the dedup index warm.

Crawl subprocesses see its heartbeat and hand their stories to it (ingest/handoff.py). It waits
for the consumer lock if a one-off consumer holds it, retries after an error, and at shutdown
settles what the last crawls queued before it stops (bounded by a grace time).
"""

from __future__ import annotations

import logging
import threading
import time

from conf.schema import Config
from ingest.consumer import Consumer, single_consumer

logger = logging.getLogger(__name__)

RETRY_S = 5.0
LOCK_CHECK_S = 2.0  # how often a PostgreSQL consumer checks that it still holds its lock


class LockLost(RuntimeError):
    """Another consumer may hold the lock now: stop consuming and stand for it again."""


class IngestThread(threading.Thread):
    """Consumes the ingest queue for as long as the daemon runs."""

    def __init__(self, config: Config, role: str = "daemon") -> None:
        super().__init__(name="ingest-consumer", daemon=True)
        self.config = config
        # "daemon", or "ingest" for `feedwatch run --role ingest|all` on PostgreSQL
        self.role = role
        self.consuming = False  # holds the lock (a cluster's standby waits for it)
        self.draining = threading.Event()  # settle what is queued, then stop
        self.stopping = threading.Event()  # stop after the current batch

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._consume()
                return
            except Exception as exc:  # the state is busy or damaged: retry, stay up
                logger.error("ingest consumer: %s; retrying in %.0f s", exc, RETRY_S)
                self.stopping.wait(RETRY_S)

    def _consume(self) -> None:
        def give_up() -> bool:
            # A cluster's standby has nothing to settle: it stops at once, not after the grace.
            return self.stopping.is_set() or (self.role == "ingest" and self.draining.is_set())

        with single_consumer(self.config, give_up=give_up) as held:
            if held is None:
                return
            consumer = Consumer(self.config, role=self.role)
            self.consuming = True
            checked = time.monotonic()

            def done() -> bool:
                nonlocal checked
                if time.monotonic() - checked >= LOCK_CHECK_S:
                    checked = time.monotonic()
                    if not held():
                        raise LockLost("the consumer lock was lost (the server restarted?)")
                return self.draining.is_set() and consumer.queue.pending() == 0

            try:
                consumer.consume(done=done, stop=self.stopping)
            finally:
                self.consuming = False
                consumer.close()

    def stop(self, grace: float = 30.0) -> None:
        """Settle what is queued (up to `grace` seconds), then stop; rows left stay queued."""
        self.draining.set()
        self.join(grace)
        self.stopping.set()
        self.join()
