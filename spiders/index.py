"""IndexSpider: an outlet published as index pages that list article pages (a mirror).

The outlet's spec supplies the two parsers: `index_links` (index text -> page URLs, newest
first) and `page_entry` (page text -> one entry). A configured "feed" is an index.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import scrapy
from scrapy.http import Response, TextResponse

from conf.schema import FeedConfig
from spiders.base import OutletSpider
from spiders.items import FeedEntry
from store.format import ItemFormatError

logger = logging.getLogger(__name__)

DEFAULT_MAX_PAGES = 30  # pages fetched per index and crawl; GFWBREAKER_MAX_PAGES overrides it


class IndexSpider(OutletSpider):
    """Index -> its newest pages -> one entry per page (with the page's own article URL)."""

    def max_pages(self) -> int:
        """How many pages of one index are fetched per crawl."""
        settings = getattr(self, "settings", None)
        if settings is not None:
            return settings.getint("GFWBREAKER_MAX_PAGES", DEFAULT_MAX_PAGES)
        return DEFAULT_MAX_PAGES

    async def parse_feed(self, response: Response) -> AsyncIterator[scrapy.Request]:
        """Read an index and request its newest pages."""
        feed = response.meta.get("feed") or FeedConfig(url=response.url)
        self.count("feeds/fetched")
        if not isinstance(response, TextResponse):
            logger.warning("mirror index %s is not text; skipped", response.url)
            return
        assert self.spec.index_links is not None  # the registry picks this class only then
        links = self.spec.index_links(response.text, response.url)
        if not links:
            logger.warning("no mirror page links in index %s", response.url)
            return
        for url, _title in links[: self.max_pages()]:
            yield scrapy.Request(
                url,
                callback=self.parse_page,
                errback=self.page_failed,
                meta={"feed": feed},
            )

    def parse_page(self, response: Response) -> Iterator[FeedEntry]:
        """Parse one page into an entry; a page that is not one is logged and skipped."""
        feed = response.meta.get("feed") or FeedConfig(url=response.url)
        self.count("articles/fetched")
        if not isinstance(response, TextResponse):
            logger.warning("mirror page %s is not text; skipped", response.url)
            return
        assert self.spec.page_entry is not None
        try:
            yield self.spec.page_entry(response.text, response.url, self.outlet_name, feed.url)
        except (ItemFormatError, ValueError) as exc:
            logger.warning("mirror page %s skipped: %s", response.url, exc)

    def page_failed(self, failure: object) -> None:
        """Log a page that could not be fetched."""
        self.feed_failed(failure)  # type: ignore[arg-type]
