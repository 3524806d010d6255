"""Item pipelines: normalize, then ingest (dedup + store + alerts).

Scrapy components built with `from_crawler`; stats are namespaced (`store/written`,
`dedup/merged`). Anything that is not a new story is dropped with `DropItem` once recorded.
"""

from __future__ import annotations

import logging

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from alerts.health import OutletRun
from alerts.service import DeliveryReport
from conf.schema import Config, load_config
from ingest.ingestor import Ingestor, Story
from spiders.items import FeedEntry
from spiders.workers import SerialThread, shared_pool
from store.normalize import to_stored_item
from store.sanitize import sanitized_document, strip_control_chars
from store.state import now_ms, open_state
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
        # Sanitizing parses the body (~2 ms): with workers, it runs beside extraction.
        self.workers = shared_pool(crawler.settings.getint("FEEDWATCH_WORKERS", 0))
        # Known entries with unchanged content stop here (store/unchanged.py). The setting
        # exists so that bench/bench_poll.py can measure the path without the check beside it.
        state_db = crawler.settings.get("FEEDWATCH_STATE_DB")
        check = crawler.settings.getbool("FEEDWATCH_UNCHANGED_CHECK", True)
        self.unchanged = UnchangedCheck(open_state(state_db)) if state_db and check else None

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
        # byte-exact). The spider's parsed body is reused while it is still the entry's body.
        item.title = strip_control_chars(item.title)
        known = item.body if item.body is not None and item.body.html == item.body_html else None
        item.body = await self.workers.run(sanitized_document, known or item.body_html)
        item.body_html = item.body.html
        if not item.body_html.strip():
            # Stored all the same (its title and link are news too), but marked partial, so its
            # page is fetched again by the next crawls; StorePipeline says it and counts it.
            item.partial = item.partial or "the feed carries no body"
        item.first_seen = now_ms()
        stored = to_stored_item(item.title, item.url, item.body_html, published, item.first_seen)
        item.ts = stored.ts
        item.stored = stored
        return item

    def close_spider(self) -> None:
        if self.unchanged is not None:
            self.unchanged.close()


class StorePipeline:
    """Hand each entry to the Ingestor; keep only new stories in the crawl's output.

    The Ingestor and its state connection live on one `SerialThread`: entries are stored one at
    a time in arrival order, while the crawl goes on fetching and parsing.
    """

    def __init__(self, crawler: Crawler, config_path: str) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.body_lengths: list[int] = []  # of this run's new stories, for source-health alerts
        config = load_config(config_path)
        self.thread = SerialThread("feedwatch-store")
        self.ingestor = self.thread.call(_open_ingestor, config)

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
        )
        outcome = await self.thread.run(self.ingestor.ingest, story)
        self.stats.inc_value(_STAT_FOR_OUTCOME[outcome.kind])
        if outcome.upgraded:
            self.stats.inc_value("store/upgraded")
        if outcome.kind == "new" and not story.stored.body.strip():
            self.stats.inc_value("store/no_body")
            logger.warning(
                "%s: %s has neither body nor summary (%s); stored with its title only, its page"
                " is retried by the next crawls",
                item.outlet,
                item.url,
                story.partial_reason,
            )
        if outcome.completed:
            self.stats.inc_value("store/completed")
        elif outcome.partial:
            self.stats.inc_value(
                "store/partial" if outcome.kind == "new" else "store/still_partial"
            )
        if outcome.kind != "new":
            raise DropItem(f"{outcome.kind}: {item.url} {'; '.join(outcome.reasons)}".rstrip())
        item.path = str(outcome.path)
        item.story_id = outcome.story_id
        if self.ingestor.alerts is not None:
            self.body_lengths.append(story.document().text_length)
        logger.info("stored %s -> %s", item.url, item.path)
        return item

    async def close_spider(self) -> None:
        try:
            report = await self.thread.run(self._finish, self._run_report())
        finally:
            self.thread.close()
        if report is not None:
            self.stats.set_value("alerts/sent", report.sent)
            self.stats.set_value("alerts/failed", report.failed)
            self.stats.set_value("alerts/waiting", report.waiting)

    def _finish(self, run: OutletRun | None) -> DeliveryReport | None:
        """On the store thread: health check, alert delivery, connection closed.

        `run` is None for a run that says nothing about the outlet's health (every feed
        deferred, or stopped by a signal): it neither resets nor adds to its failures.
        """
        try:
            if self.ingestor.alerts is not None:
                self.ingestor.alerts.check_health([run] if run is not None else [])
            return self.ingestor.deliver_alerts()
        finally:
            self.ingestor.conn.close()

    def _run_report(self) -> OutletRun | None:
        """This run as the source-health check sees it (None: neutral, see `_finish`)."""
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
            new_items=int(stats.get("store/written", 0)),
            body_lengths=tuple(self.body_lengths),
            error="" if ok else f"all {failed} feeds failed",
        )


def _partial_reason(item: FeedEntry) -> str | None:
    """Why the entry carries only its feed summary (set by the spider), or None."""
    reason = item.partial
    return str(reason) if reason else None


def _open_ingestor(config: Config) -> Ingestor:
    """An Ingestor on a state connection opened by (and so usable on) the calling thread."""
    return Ingestor(config, open_state(config.state_db))
