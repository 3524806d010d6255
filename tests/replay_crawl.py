"""Run a tiny Scrapy crawl with the record/replay middlewares; used by tests/test_replay*.py.

Run as a script in a subprocess (a Twisted reactor cannot restart inside pytest):
`python tests/replay_crawl.py OUT.jsonl URL... [--replay FILE] [--record FILE]`. Each response
the spider sees becomes one JSON line (final URL, status, response class, body digest, flags),
and a last line holds the crawl's stats.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str]) -> int:
    """Crawl the given URLs once and write what the spider saw to OUT."""
    sys.path.insert(0, str(ROOT))
    import scrapy
    from scrapy.crawler import CrawlerProcess

    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--replay")
    parser.add_argument("--record")
    args = parser.parse_args(argv)
    lines: list[dict[str, Any]] = []

    class ProbeSpider(scrapy.Spider):
        name = "probe"
        custom_settings = {"HTTPERROR_ALLOW_ALL": True}

        async def start(self):  # type: ignore[override]
            for url in args.urls:
                yield scrapy.Request(url, dont_filter=True)

        def parse(self, response: Any) -> None:
            lines.append(
                {
                    "url": response.url,
                    "status": response.status,
                    "class": type(response).__name__,
                    "sha256": hashlib.sha256(response.body).hexdigest(),
                    "size": len(response.body),
                    "content_type": response.headers.get("Content-Type", b"").decode("latin-1"),
                    "etag": response.headers.get("ETag", b"").decode("latin-1"),
                    "flags": sorted(response.flags),
                }
            )

        def closed(self, reason: str) -> None:
            stats = self.crawler.stats.get_stats()
            keep = ("replay/", "record/", "downloader/response_status_count/", "httpcompression/")
            lines.append(
                {
                    "stats": {k: v for k, v in stats.items() if k.startswith(keep)},
                    "exceptions": stats.get("downloader/exception_count", 0),
                }
            )

    settings: dict[str, Any] = {
        "DOWNLOADER_MIDDLEWARES": {
            "crawler.replay.WarcReplayMiddleware": 950,
            "crawler.replay.WarcRecordMiddleware": 960,
        },
        "FEEDWATCH_REPLAY": args.replay or "",
        "FEEDWATCH_RECORD": args.record or "",
        "RETRY_ENABLED": False,
        "DOWNLOAD_TIMEOUT": 10,
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "INFO",
    }
    process = CrawlerProcess(settings)
    process.crawl(ProbeSpider)
    process.start()
    with args.out.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
