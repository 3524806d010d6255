"""The ceiling of the stack: a bare Scrapy spider that fetches URLs and does nothing with them.

    python bench/bare_crawl.py URLS.json

URLS.json maps a crawler name to its URL list; each list gets its own crawler in one
CrawlerProcess (as `feedwatch crawl` runs one crawler per outlet). Scrapy settings match the
feedwatch crawl's network settings (reactor, concurrency, no AutoThrottle, no cookies/robots).
Prints one JSON line: responses and bytes received.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess

# The network-relevant settings of crawler/settings.py and config.yaml, nothing else.
SETTINGS: dict[str, Any] = {
    "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "ROBOTSTXT_OBEY": False,
    "COOKIES_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS": 8,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
    "LOG_LEVEL": "WARNING",
    "LOGSTATS_INTERVAL": 0,
    "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
}


class BareSpider(scrapy.Spider):
    """Fetch every URL once; keep only counts."""

    name = "bare"

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls
        self.responses = 0
        self.received = 0

    async def start(self):  # noqa: ANN201 - Scrapy's async generator entry point
        """One request per URL."""
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse, dont_filter=True)

    def parse(self, response: scrapy.http.Response) -> None:
        """Count and drop."""
        self.responses += 1
        self.received += len(response.body)


def main(argv: list[str]) -> int:
    """Crawl the URL lists of the JSON file given as the only argument."""
    groups = json.loads(Path(argv[0]).read_text())
    overrides = json.loads(argv[1]) if len(argv) > 1 else {}
    process = CrawlerProcess({**SETTINGS, **overrides})
    crawlers = []
    for name, urls in groups.items():
        crawler = process.create_crawler(BareSpider)
        crawlers.append(crawler)
        process.crawl(crawler, urls=urls, name=f"bare-{name}")
    process.start()
    spiders = [c.spider for c in crawlers]
    print(
        json.dumps(
            {
                "responses": sum(s.responses for s in spiders),
                "bytes": sum(s.received for s in spiders),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
