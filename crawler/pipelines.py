"""Item pipelines: normalize, then queue for ingest (dedup + store + alerts, ingest/consumer.py).

Scrapy components built with `from_crawler`; stats are namespaced (`store/queued`,
`store/unchanged`; the consumer's outcomes come back as `store/written`, `dedup/merged`...).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from concurrent.futures import Future

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from alerts.health import OutletRun
from conf.schema import load_config
from ingest.payload import story_to_payload
from ingest.settle import NO_BODY
from ingest.story import Story
from spiders.items import FeedEntry
from spiders.workers import SerialThread, shared_pool
from store.backends import open_connection, open_storage
from store.normalize import to_stored_item
from store.queue import TokenOutcomes
from store.sanitize import sanitized_document, strip_control_chars
from store.sqlconn import is_postgres
from store.state import now_ms
from store.storage import QueueStorage
from store.unchanged import UnchangedCheck, entry_digest
from store.urls import canonical_url, is_http_url, strip_tracking

logger = logging.getLogger(__name__)

_STAT_FOR_OUTCOME = {
    "new": "store/written",
    "seen": "store/seen",
    "merged": "dedup/merged",
    "revision": "dedup/revision",
}


class NormalizePipeline:
    """Fill canonical URL, first-seen time and the item file's fields; drop unusable entries."""

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        # Sanitizing parses the body (~0.8 ms): the ingest consumer does it on its own core,
        # unless the stories do not go to one (`fetch --dry-run` prints them). Here, with
        # workers, it runs beside extraction.
        self.sanitize_here = crawler.settings.getbool("FEEDWATCH_SANITIZE_IN_CRAWL", False)
        self.workers = shared_pool(crawler.settings.getint("FEEDWATCH_WORKERS", 0))
        # Known entries with unchanged content stop here (store/unchanged.py). The setting
        # exists so that bench/bench_poll.py can measure the path without the check beside it.
        state_db = crawler.settings.get("FEEDWATCH_STATE_DB")
        check = crawler.settings.getbool("FEEDWATCH_UNCHANGED_CHECK", True)
        self.unchanged = UnchangedCheck(open_connection(state_db)) if state_db and check else None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NormalizePipeline:
        return cls(crawler)

    async def process_item(self, item: FeedEntry) -> FeedEntry:
        if not isinstance(item, FeedEntry):
            return item
        if not item.url or not is_http_url(item.url):
            self.stats.inc_value("normalize/dropped_bad_url")
            raise DropItem(f"{item.outlet}: entry without a usable URL: {item.url!r}")
        if not item.title.strip() and not item.body_html.strip():
            self.stats.inc_value("normalize/dropped_empty")
            raise DropItem(f"{item.outlet}: empty entry {item.url}")
        item.url = strip_tracking(item.url)  # stored links carry no maca=/utm_* tails
        item.canonical_url = canonical_url(item.url)
        published = int(item.published.timestamp() * 1000) if item.published else None
        item.digest = entry_digest(item.title, item.body_html, published)
        # A partial story's retried page that failed again keeps its content, yet its try
        # must be counted: it goes on to the ingest step.
        if (
            self.unchanged is not None
            and item.partial is None
            and self.unchanged.is_unchanged(item.canonical_url, item.digest)
        ):
            self.stats.inc_value("store/unchanged")  # known and unchanged: nothing to do
            raise DropItem(f"unchanged: {item.url}")
        # Feeds and pages are untrusted: no control characters in titles and bodies, no
        # active content in bodies (a clean body is returned unchanged, so feedx items stay
        # byte-exact). Titles here; bodies here or in the consumer (ingest/settle.py), which
        # also marks a story without body partial, so its page is fetched again next time.
        item.title = strip_control_chars(item.title)
        if self.sanitize_here:
            # The spider's parsed body is reused while it is still the entry's body.
            known = (
                item.body if item.body is not None and item.body.html == item.body_html else None
            )
            item.body = await self.workers.run(sanitized_document, known or item.body_html)
            item.body_html = item.body.html
            if not item.body_html.strip():
                item.partial = item.partial or NO_BODY
        item.sanitized = self.sanitize_here
        item.first_seen = now_ms()
        stored = to_stored_item(item.title, item.url, item.body_html, published, item.first_seen)
        item.ts = stored.ts
        item.stored = stored
        return item

    def close_spider(self) -> None:
        if self.unchanged is not None:
            self.unchanged.close()


class StorePipeline:
    """Put each normalized entry on the durable ingest queue (store/queue.py).

    The ingest consumer (ingest/consumer.py: dedup, archive file, state, alerts) runs in
    another process, or the daemon: this crawl's CPU goes to fetching and parsing. Each queued
    row carries the producer's token (FEEDWATCH_INGEST_TOKEN), so the crawl can wait for its
    own stories and report what became of them; at close, one end-of-run row per outlet carries
    the run's health facts. Without a token (`scrapy crawl` by hand) the queue is consumed here
    at close, so that still stores everything. Inserts run on one `SerialThread` that owns the
    connection, off the Scrapy thread.
    """

    def __init__(self, crawler: Crawler, config_path: str) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.config = load_config(config_path)
        settings = crawler.settings
        self.token = settings.get("FEEDWATCH_INGEST_TOKEN") or ""
        self.consume_here = not self.token
        self.token = self.token or f"inline-{uuid.uuid4().hex}"
        self.run_ids: dict[str, int] = dict(settings.getdict("FEEDWATCH_RUN_IDS"))
        # Stories wait here for the store thread, which queues all that arrived in one
        # transaction: the crawl never waits while the consumer holds the write lock.
        self._buffer: list[tuple[str, str, str, str]] = []
        self._buffer_lock = threading.Lock()
        self._flushes: list[Future[None]] = []
        self.thread = SerialThread("feedwatch-store")
        self.storage = self.thread.call(open_storage, self.config.state_target)
        self.queue: QueueStorage = self.storage.queue

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        config_path = crawler.settings.get("FEEDWATCH_CONFIG")
        if not config_path:
            raise NotConfigured("FEEDWATCH_CONFIG is not set")
        return cls(crawler, config_path)

    async def process_item(self, item: FeedEntry) -> FeedEntry:
        if not isinstance(item, FeedEntry):
            return item
        if item.stored is None:
            raise DropItem(f"{item.outlet}: {item.url} did not pass the normalize pipeline")
        story = Story(
            outlet=item.outlet,
            canonical_url=item.canonical_url,
            stored=item.stored,
            first_seen_ms=item.first_seen,
            guid=item.guid,
            feed_url=item.feed_url or None,
            full_text=item.full_text,
            body_html=item.body_html,
            partial_reason=_partial_reason(item),
            body=item.body,
            digest=item.digest,
            sanitized=item.sanitized,
        )
        self._queue_row(item.outlet, "story", story_to_payload(story))
        self.stats.inc_value("store/queued")
        logger.debug("queued %s", item.url)
        return item

    async def close_spider(self) -> None:
        run = self._run_report()
        outlet = getattr(self.crawler.spider, "outlet_name", "") or "unknown"
        # A neutral run (every feed deferred, or a signal) says nothing of the outlet's health.
        marker = json.dumps(
            {
                "run_id": self.run_ids.get(outlet),
                "health": run is not None,
                "ok": run.ok if run is not None else True,
                "finished_ms": run.finished_ms if run is not None else now_ms(),
                "error": run.error if run is not None else "",
            }
        )
        try:
            self._queue_row(outlet, "run_end", marker)
            for flush in self._flushes:
                await asyncio.wrap_future(flush)  # raises if a flush failed: nothing hidden
            if self.consume_here and not await self.thread.run(self.queue.daemon_running):
                # Imported here: the ingest step (dedup, numpy, alerts) is not loaded by a
                # crawl that has a consumer beside it (its start-up time is the crawl's).
                from ingest.consumer import consume_all

                await self.thread.run(consume_all, self.config)
                await self.thread.run(self._record_outcomes)
        finally:
            await self.thread.run(self.storage.close)
            self.thread.close()

    def _queue_row(self, outlet: str, kind: str, payload: str) -> None:
        """Buffer a row; the first row of a new buffer schedules its flush on the store thread."""
        with self._buffer_lock:
            first = not self._buffer
            self._buffer.append((self.token, outlet, kind, payload))
        if first:
            self._flushes = [f for f in self._flushes if not f.done() or f.exception()]
            self._flushes.append(self.thread.submit(self._flush))

    def _flush(self) -> None:
        """On the store thread: queue everything buffered so far, in one transaction."""
        with self._buffer_lock:
            rows, self._buffer = self._buffer, []
        if not rows:
            return
        if is_postgres(self.storage.connection):
            from store.postgres import retry_unreachable

            retry_unreachable(lambda: self.queue.put_many(rows))  # a server restart: wait
        else:
            self.queue.put_many(rows)

    def _record_outcomes(self) -> None:
        """Consumed in this process: put the outcomes in the stats, as the crawl command does."""
        done = self.queue.outcomes(self.token)
        for outlet in done.counts:
            for key, value in outcome_stats(done, outlet).items():
                self.stats.set_value(key, value)
        self.queue.forget(self.token)

    def _run_report(self) -> OutletRun | None:
        """This run as the source-health check sees it (None: neutral; the consumer adds the
        new stories)."""
        stats = self.stats.get_stats()
        fetched = int(stats.get("feeds/fetched", 0))
        failed = int(stats.get("feeds/failed", 0))
        not_modified = int(stats.get("httpstate/not_modified", 0)) + int(
            stats.get("httpstate/unchanged", 0)
        )
        deferred = int(stats.get("httpstate/deferred", 0))
        # The engine stops running before it closes the spider only on a shutdown (a signal);
        # a crawl that finished closes its spider while the engine still runs.
        interrupted = not getattr(self.crawler.engine, "running", True)
        if interrupted or (deferred and not (fetched or not_modified or failed)):
            return None
        ok = fetched + not_modified > 0 or failed == 0
        return OutletRun(
            outlet=getattr(self.crawler.spider, "outlet_name", "") or "unknown",
            ok=ok,
            finished_ms=now_ms(),
            error="" if ok else f"all {failed} feeds failed",
        )


def outcome_stats(done: TokenOutcomes, outlet: str) -> dict[str, int]:
    """The consumer's outcomes for one outlet as the crawl's stats keys."""
    stats = {key: done.count(outlet, kind) for kind, key in _STAT_FOR_OUTCOME.items()}
    stats["store/upgraded"] = done.count(outlet, "upgraded")
    stats["store/failed"] = done.count(outlet, "failed")
    for tally in ("partial", "still_partial", "completed", "no_body"):
        stats[f"store/{tally}"] = done.count(outlet, tally)
    return stats


def _partial_reason(item: FeedEntry) -> str | None:
    """Why the entry carries only its feed summary (set by the spider), or None."""
    reason = item.partial
    return str(reason) if reason else None
