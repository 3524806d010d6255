"""Downloader middleware that never fetches an article page twice."""

from __future__ import annotations

import logging

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from spiders.exceptions import AlreadyStored
from store.backends import open_connection
from store.state import ItemState
from store.urls import canonical_url

logger = logging.getLogger(__name__)


class SeenArticleMiddleware:
    """Drop article requests (meta["article"]) whose story is already stored."""

    def __init__(self, crawler: Crawler, state_db: str) -> None:
        self.stats = crawler.stats
        self.items = ItemState(open_connection(state_db))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SeenArticleMiddleware:
        state_db = crawler.settings.get("FEEDWATCH_STATE_DB")
        if not state_db:
            raise NotConfigured("FEEDWATCH_STATE_DB is not set")
        return cls(crawler, state_db)

    def process_request(self, request: Request) -> None:
        if not request.meta.get("article") or request.meta.get("partial_retry"):
            return None  # a partial story's page is fetched again on purpose
        entry = request.meta.get("entry")
        url = entry.url if entry is not None else request.url
        if self.items.is_seen(canonical_url(url)):
            self.stats.inc_value("articles/skipped_seen")
            raise AlreadyStored(f"already stored: {url}")
        return None
