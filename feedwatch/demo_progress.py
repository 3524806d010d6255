"""One line per feed and per outlet as a crawl goes, for `feedwatch demo` (a Scrapy extension).

A crawl of several outlets runs in one Scrapy process and prints its summary only at the end;
this extension prints as it happens instead: a line when a feed's response arrives, and a line
when an outlet's spider closes, with what it stored. Enabled through the EXTENSIONS setting
(see `feedwatch.demo`); it never touches the crawl itself.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response

from feedwatch.crawl import summarize_stats


class ProgressLines:
    """Prints `<outlet>  feed <url>  <size>` per feed and a summary line per finished outlet."""

    def __init__(self, crawler: Crawler, console: Console | None = None) -> None:
        self.crawler = crawler
        self.console = console or Console(highlight=False, soft_wrap=True)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProgressLines:
        ext = cls(crawler)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def response_received(self, response: Response, request: Request, spider: Spider) -> None:
        """A feed (not an article or mirror page) has arrived."""
        feed = request.meta.get("feed")
        asked = (request.meta.get("redirect_urls") or [request.url])[0]
        if feed is None or getattr(feed, "url", None) != asked:
            return
        if response.status >= 400:
            what = f"HTTP {response.status}"
        elif len(response.body) < 1024:
            what = f"{len(response.body)} bytes"
        else:
            what = f"{len(response.body) / 1024:.0f} KB"
        self.console.print(f"  {escape(spider.name):<18} feed {escape(request.url)}  {what}")

    def spider_closed(self, spider: Spider, reason: str) -> None:
        """The outlet is done: what it stored."""
        stats: dict[str, Any] = self.crawler.stats.get_stats() if self.crawler.stats else {}
        s = summarize_stats(spider.name, stats)
        failed = f", [red]{s.feed_errors} feeds failed[/red]" if s.feed_errors else ""
        errors = f", [red]{s.errors} errors[/red]" if s.errors else ""
        self.console.print(
            f"[bold]{escape(spider.name)}[/bold] done: feeds {s.feeds}, pages {s.articles};"
            f" stories {s.new} stored, {s.merged} reposts merged, {s.revisions} edits,"
            f" {s.seen} seen{failed}{errors}"
        )
