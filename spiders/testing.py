"""Run a spider callback on a recorded fixture, offline: used by the parser tests and their generator.

A fixture case (tests/fixtures/outlets/manifest.json) names a spider kind, a callback
(`parse_feed`, `parse_article`, `parse_page`), a recorded file and the URL it was served from.
`run_case` builds the Scrapy response from the bytes, calls the callback and summarizes what it
yielded in JSON-able dicts (the shape of the `*.expected.json` files).
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import HtmlResponse, Response, TextResponse, XmlResponse

from conf.schema import FeedConfig, OutletConfig
from spiders.base import OutletSpider
from spiders.items import FeedEntry
from spiders.registry import spider_class_for
from store.document import html_to_text

BODY_TEXT_CHARS = 200


def read_fixture(path: Path) -> bytes:
    """The bytes of a fixture file, gunzipped when it ends in .gz."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def make_spider(kind: str, feed: FeedConfig, domains: list[str] | None = None) -> OutletSpider:
    """A spider instance of `kind` for a one-feed test outlet named after the kind."""
    outlet = OutletConfig(spider=kind, domains=domains or [], feeds=[feed])
    return spider_class_for(kind, outlet)()


def make_response(
    url: str, body: bytes, content_type: str, meta: dict[str, Any], status: int = 200
) -> Response:
    """A Scrapy response of the right class for the content type, with `meta` on its request."""
    request = scrapy.Request(url, meta=meta)
    headers = {"Content-Type": content_type} if content_type else {}
    lowered = content_type.lower()
    if "html" in lowered:
        cls: type[Response] = HtmlResponse
    elif "xml" in lowered or "rss" in lowered or "atom" in lowered or "rdf" in lowered:
        cls = XmlResponse
    else:
        cls = TextResponse
    return cls(url=url, body=body, headers=headers, request=request, status=status)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summarize(output: object) -> dict[str, Any]:
    """One yielded object (FeedEntry or Request) as a small JSON-able dict."""
    if isinstance(output, FeedEntry):
        return {
            "type": "entry",
            "title": output.title,
            "url": output.url,
            "published": _iso(output.published),
            "full_text": output.full_text,
            "body_text": " ".join(html_to_text(output.body_html).split())[:BODY_TEXT_CHARS],
        }
    if isinstance(output, scrapy.Request):
        entry = output.meta.get("entry")
        return {
            "type": "request",
            "url": output.url,
            "article": bool(output.meta.get("article")),
            "entry_title": entry.title if entry is not None else None,
            "entry_published": _iso(entry.published) if entry is not None else None,
        }
    return {"type": type(output).__name__}


def collect(outputs: AsyncIterable[Any] | Iterable[Any] | None) -> list[Any]:
    """Everything a spider callback yields, outside a crawl: callbacks may be async generators."""
    if outputs is None:
        return []
    if isinstance(outputs, AsyncIterable):

        async def drain(aiter: AsyncIterable[Any]) -> list[Any]:
            return [output async for output in aiter]

        return asyncio.run(drain(outputs))
    return list(outputs)


def run_case_outputs(case: dict[str, Any], root: Path) -> list[object]:
    """Run the case's callback on its fixture and return what it yielded."""
    feed = FeedConfig(**case["feed"])
    spider = make_spider(case["kind"], feed, case.get("domains"))
    meta: dict[str, Any] = {"feed": feed}
    if case["callback"] == "parse_article":
        entry = FeedEntry(outlet=case["kind"], feed_url=feed.url, full_text=False, **case["entry"])
        if entry.published is not None and isinstance(entry.published, str):
            entry.published = datetime.fromisoformat(entry.published)
        meta = {"entry": entry, "article": True}
    body = read_fixture(root / case["file"])
    response = make_response(case["url"], body, case.get("content_type", ""), meta)
    return collect(getattr(spider, case["callback"])(response))


def run_case(case: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    """Run a fixture case and summarize its outputs (the expected-JSON shape)."""
    return [summarize(output) for output in run_case_outputs(case, root)]
