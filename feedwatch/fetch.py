"""`feedwatch fetch URL`: one article page or one feed, through the same spiders and pipelines."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import nullcontext
from datetime import datetime
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse

from conf.schema import Config, FeedConfig, OutletConfig
from crawler import settings as default_settings
from crawler.pipelines import outcome_stats
from crawler.spiderloader import scrapy_settings_for
from feedwatch.crawl import build_settings
from feedwatch.discover import Discovery, discovery_requests, report
from feedwatch.outlets import outlet_for_url
from ingest.handoff import IngestHandoff
from spiders.items import FeedEntry
from spiders.registry import spider_class_for
from store.format import render_item

logger = logging.getLogger(__name__)

_FEED_MARKERS = (b"<rss", b"<feed", b"<rdf:rdf", b"<rdf")


def looks_like_feed(response: Response) -> bool:
    """Whether a response is a feed rather than an HTML page (by content type, then by its start)."""
    content_type = (response.headers.get(b"Content-Type") or b"").lower()
    if any(t in content_type for t in (b"rss", b"atom", b"rdf")):
        return True
    head = response.body[:2048].lstrip().lower()
    if head.startswith(b"<!doctype html") or b"<html" in head:
        return False
    return any(marker in head for marker in _FEED_MARKERS)


def page_entry(response: TextResponse, outlet: str) -> FeedEntry:
    """A FeedEntry for a bare article page, from its Open Graph / article meta tags."""

    def meta(*names: str) -> str:
        for name in names:
            value = response.css(
                f'meta[property="{name}"]::attr(content), meta[name="{name}"]::attr(content)'
            ).get()
            if value and value.strip():
                return value.strip()
        return ""

    title = meta("og:title", "twitter:title") or (response.css("title::text").get() or "").strip()
    published: datetime | None = None
    stamp = meta("article:published_time", "pubdate", "date")
    if stamp:
        try:
            published = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            if published.tzinfo is None:
                published = None
        except ValueError:
            published = None
    url = meta("og:url") or response.url
    return FeedEntry(
        outlet=outlet,
        title=title,
        url=url,
        body_html="",
        published=published,
        feed_url=response.url,
        full_text=False,
    )


def fetch_spider_class(
    outlet_name: str, outlet: OutletConfig, url: str, discover: bool = False
) -> type[scrapy.Spider]:
    """The outlet's spider, started from one URL that may be a feed or an article page.

    With `discover` (a URL of no known outlet), a web page is not stored as an article: its
    feeds are looked for instead (`spider.discovery`).
    """
    base = spider_class_for(outlet_name, outlet)

    class FetchSpider(base):  # type: ignore[valid-type, misc]
        name = f"fetch-{outlet_name}"
        discovery: Discovery | None = None

        def start_requests(self) -> Iterator[scrapy.Request]:
            yield scrapy.Request(
                url,
                callback=self.parse_fetched,
                errback=self.feed_failed,
                meta={"feed": FeedConfig(url=url, full_text="auto")},
            )

        async def parse_fetched(self, response: Response) -> AsyncIterator[Any]:
            # The crawl's own callbacks, not a copy: a fetch parses as the crawl does.
            if looks_like_feed(response):
                async for output in self.parse_feed(response):
                    yield output
                return
            if not isinstance(response, TextResponse):
                logger.error("%s is neither a feed nor an HTML page", response.url)
                return
            if discover:
                self.discovery = Discovery(response.url)
                for request in discovery_requests(response, self.discovery):
                    yield request
                return
            response.meta["entry"] = page_entry(response, outlet_name)
            async for output in self.parse_article(response):
                yield output

    return FetchSpider


class PrintItemPipeline:
    """For --dry-run: print each rendered item instead of storing it."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrintItemPipeline:
        return cls()

    def process_item(self, item: FeedEntry) -> FeedEntry:
        sys.stdout.write(render_item(item.stored).decode("utf-8"))  # type: ignore[arg-type]
        sys.stdout.flush()
        return item


def run_fetch(config: Config, args: argparse.Namespace) -> int:
    """Fetch one URL; store the item(s), or print them with --dry-run."""
    from feedwatch.crawlprocess import InterruptibleCrawlerProcess

    outlet_name = args.outlet or outlet_for_url(config, args.url)
    discover = outlet_name is None
    if outlet_name is None:
        outlet_name = "fetched"
        outlet = OutletConfig(spider="generic", feeds=[FeedConfig(url=args.url)], domains=[])
    else:
        outlet = config.outlets[outlet_name]
    overrides: dict[str, Any] = dict(scrapy_settings_for(config))
    # A one-off fetch always gets the content: no 304s, no Retry-After deferral, no validators.
    overrides["HTTPSTATE_ENABLED"] = False
    if args.dry_run:
        overrides["ITEM_PIPELINES"] = {
            "crawler.pipelines.NormalizePipeline": 100,
            "feedwatch.fetch.PrintItemPipeline": 300,
        }
        # Print even a stored story: skip the "already stored" check (it only reads state).
        overrides["DOWNLOADER_MIDDLEWARES"] = {
            **default_settings.DOWNLOADER_MIDDLEWARES,
            "crawler.middlewares.SeenArticleMiddleware": None,
        }
        overrides["FEEDWATCH_UNCHANGED_CHECK"] = False  # nor the unchanged-entry check
        # No consumer sanitizes what is printed: the normalize pipeline does it.
        overrides["FEEDWATCH_SANITIZE_IN_CRAWL"] = True
    level = str(logging.getLevelName(args.level))
    settings = build_settings(
        args.config, replay=args.replay, record=args.record, log_level=level, overrides=overrides
    )
    handoff = None
    if not args.dry_run:
        handoff = IngestHandoff(config, args.config, log_level=level)
        settings.setdict(handoff.settings, priority="cmdline")
    with handoff or nullcontext():
        process = InterruptibleCrawlerProcess(settings)
        crawler = process.create_crawler(
            fetch_spider_class(outlet_name, outlet, args.url, discover)
        )
        process.crawl(crawler)
        process.start()
        outcomes = handoff.finish() if handoff is not None else None
    discovery = getattr(crawler.spider, "discovery", None)
    if discovery is not None:
        text, code = report(discovery)
        print(text if code == 0 else f"feedwatch fetch: {text}", file=sys.stderr if code else None)
        return code
    stats = dict(crawler.stats.get_stats()) if crawler.stats else {}
    if outcomes is not None:
        stats.update(outcome_stats(outcomes, outlet_name))
    process.raise_if_interrupted(f"{int(stats.get('store/written', 0))} stored before the stop")
    if handoff is not None and handoff.to_daemon:
        print(f"{outlet_name}: queued {int(stats.get('store/queued', 0))} for the running daemon")
    elif not args.dry_run:
        print(f"{outlet_name}: {fetch_report(stats)}")
    did_something = int(stats.get("item_scraped_count", 0)) > 0 or any(
        stats.get(key) for key in _OUTCOME_STATS
    )
    if not did_something:
        print(f"feedwatch fetch: nothing usable at {args.url}", file=sys.stderr)
        return 1
    return 0


# Stats that mean the fetch did something with a story, even when no new file was written.
_OUTCOME_STATS = (
    "store/seen",
    "store/unchanged",
    "dedup/merged",
    "dedup/revision",
    "store/upgraded",
)


def fetch_report(stats: dict[str, Any]) -> str:
    """What a fetch did, in one line: each outcome the store counted."""

    def count(key: str) -> int:
        return int(stats.get(key, 0) or 0)

    parts = [
        f"{count('store/written')} stored",
        f"{count('store/seen') + count('store/unchanged')} already known",
        f"{count('dedup/merged')} merged into stories",
    ]
    optional = [
        ("store/partial", "stored from the feed summary only (the page is retried)"),
        ("dedup/revision", "revisions of a stored story"),
        ("store/upgraded", "stored files upgraded with a fuller body"),
        ("store/completed", "partial stories completed from their page"),
        ("articles/failed", "pages failed"),
        ("store/no_body", "without any body (title only; the page is retried)"),
    ]
    parts += [f"{count(key)} {label}" for key, label in optional if count(key)]
    return ", ".join(parts)
