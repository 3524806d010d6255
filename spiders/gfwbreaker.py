"""gfw-breaker markdown mirror of the Epoch Times (github.com/gfw-breaker/epoch-news and forks).

Outlet spec: a "feed" is a mirror channel index, either the channel README
(`indexes/<channel>/README.md`: lines `#### [title](../../pages/<channel>/n<id>.md?<tag>)`,
newest first, e.g. `#### [专家：中国GDP增幅 不可能有5.2%…](../../pages/ncid1078159/n14100040.md?10211645)`)
or the channel csv (`indexes/<channel>.csv`: lines `n<id>,title`, oldest first). Each page
(`pages/<channel>/n<id>.md`, e.g. `pages/ncid1078159/n14079761.md`, seed `002_…`) is parsed with
`store.imports.parse_mirror_page` into an entry whose URL is the page's 原文链接 article URL.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

import scrapy
from scrapy.http import Response, TextResponse

from conf.schema import FeedConfig
from spiders.base import OutletSpider
from spiders.items import FeedEntry
from store.format import ItemFormatError
from store.imports import parse_mirror_page

logger = logging.getLogger(__name__)

# Only links to mirror pages; the README also lists ad links (e.g. `http://138.2.39.72:81/…`).
README_LINK = re.compile(
    r"^####\s*\[(?P<title>.*)\]\((?P<href>[^)\s]*pages/[^/)\s]+/n\d+\.md)(?:\?[^)]*)?\)"
)
CSV_ROW = re.compile(r"^(?P<id>n\d+),(?P<title>.*)$")
CSV_PATH = re.compile(r"^(?P<root>.*)/indexes/(?P<channel>[^/]+)\.csv$")
DEFAULT_MAX_PAGES = 30  # pages fetched per index and crawl; GFWBREAKER_MAX_PAGES overrides it


def index_links(text: str, index_url: str) -> list[tuple[str, str]]:
    """(page URL, title) pairs of a channel index (README or csv), newest first, no duplicates."""
    pairs: list[tuple[str, str]] = []
    parts = urlsplit(index_url)
    csv_path = CSV_PATH.match(parts.path)
    lines = text.lstrip("\ufeff").splitlines()
    if csv_path:
        root, channel = csv_path["root"], csv_path["channel"]
        for line in reversed(lines):  # the csv is oldest first
            row = CSV_ROW.match(line.strip())
            if row:
                path = f"{root}/pages/{channel}/{row['id']}.md"
                pairs.append((urlunsplit((parts.scheme, parts.netloc, path, "", "")), row["title"]))
    else:
        for line in lines:
            link = README_LINK.match(line.strip())
            if link:
                pairs.append((urljoin(index_url, link["href"]), link["title"].strip()))
    seen: set[str] = set()
    unique = []
    for url, title in pairs:
        if url not in seen:
            seen.add(url)
            unique.append((url, title))
    return unique


def entry_from_page(text: str, page_url: str, outlet_name: str, feed_url: str) -> FeedEntry:
    """A FeedEntry from a mirror page; raises ItemFormatError when it is not one."""
    published: datetime | None
    try:
        item = parse_mirror_page(text)
        published = datetime.fromtimestamp(item.ts / 1000, tz=UTC)
    except ItemFormatError as exc:
        if "no date" not in str(exc):
            raise
        # A page with no date anywhere: the entry gets none; first-seen time applies later.
        item = parse_mirror_page(text, first_seen_ms=int(time.time() * 1000))
        published = None
    return FeedEntry(
        outlet=outlet_name,
        title=item.title,
        url=item.url,
        body_html=item.body,
        published=published,
        guid=page_url,
        feed_url=feed_url,
        full_text=True,
    )


class GfwBreakerSpider(OutletSpider):
    """The gfw-breaker mirror: channel index -> pages -> entries with the original URL."""

    kind = "gfwbreaker"
    default_domains = ("github.com", "raw.githubusercontent.com")
    trafilatura_fallback = False

    def max_pages(self) -> int:
        """How many pages of one index are fetched per crawl."""
        settings = getattr(self, "settings", None)
        if settings is not None:
            return settings.getint("GFWBREAKER_MAX_PAGES", DEFAULT_MAX_PAGES)
        return DEFAULT_MAX_PAGES

    async def parse_feed(self, response: Response) -> AsyncIterator[scrapy.Request]:
        """Read a channel index and request its newest pages."""
        feed = response.meta.get("feed") or FeedConfig(url=response.url)
        self.count("feeds/fetched")
        if not isinstance(response, TextResponse):
            logger.warning("mirror index %s is not text; skipped", response.url)
            return
        links = index_links(response.text, response.url)
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
        """Parse one mirror page into an entry; a page that is not one is logged and skipped."""
        feed = response.meta.get("feed") or FeedConfig(url=response.url)
        self.count("articles/fetched")
        if not isinstance(response, TextResponse):
            logger.warning("mirror page %s is not text; skipped", response.url)
            return
        try:
            yield entry_from_page(response.text, response.url, self.outlet_name, feed.url)
        except (ItemFormatError, ValueError) as exc:
            logger.warning("mirror page %s skipped: %s", response.url, exc)

    def page_failed(self, failure: object) -> None:
        """Log a mirror page that could not be fetched."""
        self.feed_failed(failure)  # type: ignore[arg-type]
