"""Item pipelines: normalize → dedup + store → alerts.

Each is a Scrapy component built with `from_crawler`; stats are namespaced (`store/written`,
`dedup/merged`). A repost is dropped with `DropItem` after it joined its story.
"""

from __future__ import annotations

import logging
from pathlib import Path

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from feedwatch.items import FeedEntry
from store.archive import Archive
from store.format import render_item
from store.normalize import to_stored_item
from store.state import ItemState, SeenItem, now_ms, open_state
from store.urls import canonical_url, is_http_url

logger = logging.getLogger(__name__)


class NormalizePipeline:
    """Fill canonical URL, first-seen time and the item-file timestamp; drop unusable entries."""

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NormalizePipeline:
        return cls(crawler)

    def process_item(self, item: FeedEntry, spider: Spider) -> FeedEntry:
        if not isinstance(item, FeedEntry):
            return item
        if not item.url or not is_http_url(item.url):
            self.stats.inc_value("normalize/dropped_bad_url")
            raise DropItem(f"{item.outlet}: entry without a usable URL: {item.url!r}")
        if not item.title.strip() and not item.body_html.strip():
            self.stats.inc_value("normalize/dropped_empty")
            raise DropItem(f"{item.outlet}: empty entry {item.url}")
        item.first_seen = now_ms()
        item.canonical_url = canonical_url(item.url)
        published = int(item.published.timestamp() * 1000) if item.published else None
        stored = to_stored_item(item.title, item.url, item.body_html, published, item.first_seen)
        item.ts = stored.ts
        item.notes["stored"] = stored
        return item


class StorePipeline:
    """Write each new story once, atomically, and remember it in the state database."""

    def __init__(self, crawler: Crawler, archive_dir: str, state_db: str) -> None:
        self.stats = crawler.stats
        self.archive = Archive(Path(archive_dir))
        self.conn = open_state(state_db)
        self.items = ItemState(self.conn)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        archive_dir = crawler.settings.get("FEEDWATCH_ARCHIVE_DIR")
        state_db = crawler.settings.get("FEEDWATCH_STATE_DB")
        if not archive_dir or not state_db:
            raise NotConfigured("FEEDWATCH_ARCHIVE_DIR and FEEDWATCH_STATE_DB must be set")
        return cls(crawler, archive_dir, state_db)

    def process_item(self, item: FeedEntry, spider: Spider) -> FeedEntry:
        if not isinstance(item, FeedEntry):
            return item
        # BEGIN IMMEDIATE serializes check-then-write across processes (daemon + manual fetch).
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            seen = self.items.lookup(item.canonical_url, item.guid)
            if seen is not None:
                self.conn.execute("COMMIT")
                self.stats.inc_value("store/seen")
                raise DropItem(f"already stored: {item.url}")
            path = self.archive.write_new(item.notes["stored"], item.canonical_url)
            item.path = str(path)
            self.items.record(
                SeenItem(
                    canonical_url=item.canonical_url,
                    outlet=item.outlet,
                    url=item.url,
                    title=item.title,
                    ts=item.ts,
                    first_seen_ms=item.first_seen,
                    story_id=item.story_id,
                    path=item.path,
                ),
                item.guid,
            )
            self.conn.execute("COMMIT")
        except DropItem:
            raise
        except Exception:
            self.conn.execute("ROLLBACK")
            raise
        self.stats.inc_value("store/written")
        logger.info("stored %s -> %s", item.url, path)
        return item

    def close_spider(self, spider: Spider) -> None:
        self.conn.close()
