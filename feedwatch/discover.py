"""Find the feeds of an ordinary web page: its `<link rel="alternate">` feeds, then the
well-known paths (/feed, /rss.xml, /atom.xml, /index.xml...). Each candidate is fetched and
parsed before it is offered, so what we suggest is a feed that works today.

Scrapy does the fetching (as everywhere); this module builds the requests and judges responses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.http import Response, TextResponse

from conf.schema import FeedConfig
from spiders import feeds

WELL_KNOWN_PATHS = ("/feed", "/rss", "/rss.xml", "/feed.xml", "/atom.xml", "/index.xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
)
_VERSIONS = {
    "rss090": "RSS 0.90",
    "rss091n": "RSS 0.91",
    "rss091u": "RSS 0.91",
    "rss092": "RSS 0.92",
    "rss093": "RSS 0.93",
    "rss094": "RSS 0.94",
    "rss20": "RSS 2.0",
    "rss10": "RSS 1.0 (RDF)",
    "rss": "RSS",
    "atom01": "Atom 0.1",
    "atom02": "Atom 0.2",
    "atom03": "Atom 0.3",
    "atom10": "Atom 1.0",
    "atom": "Atom",
    "cdf": "CDF",
}


@dataclass
class FoundFeed:
    """A URL that answered with a feed feedparser reads."""

    url: str
    kind: str
    title: str
    entries: int


@dataclass
class Discovery:
    """What a discovery found, in the order of the candidates (linked feeds first)."""

    page_url: str
    is_feed: bool = False  # the URL itself is a feed
    candidates: list[str] = field(default_factory=list)
    found: dict[str, FoundFeed] = field(default_factory=dict)

    def feeds(self) -> list[FoundFeed]:
        return [self.found[url] for url in self.candidates if url in self.found]


def check_feed(response: Response) -> FoundFeed | None:
    """The feed in a response, or None when it is not a feed feedparser can read."""
    if response.status != 200:
        return None
    headers = feeds.response_headers(response.headers)
    parsed = feeds.parse_feed(response.body, headers)
    version = str(parsed.get("version") or "")
    entries = len(parsed.get("entries") or [])
    if not version or (parsed.get("bozo") and not entries):
        return None
    title = " ".join(str((parsed.get("feed") or {}).get("title") or "").split())
    return FoundFeed(response.url, _VERSIONS.get(version, version), title, entries)


def linked_feeds(response: TextResponse) -> list[str]:
    """Absolute URLs of the page's `<link rel="alternate" type="...rss/atom/rdf...">`."""
    urls = []
    for link in response.css("link[href]"):
        rel = (link.attrib.get("rel") or "").lower().split()
        kind = (link.attrib.get("type") or "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in FEED_TYPES:
            urls.append(urljoin(response.url, link.attrib["href"].strip()))
    return urls


def candidate_urls(response: TextResponse) -> list[str]:
    """Linked feeds, then the well-known paths of the site, each once."""
    root = f"{urlsplit(response.url).scheme}://{urlsplit(response.url).netloc}"
    out: list[str] = []
    for url in [*linked_feeds(response), *(root + path for path in WELL_KNOWN_PATHS)]:
        if url.startswith(("http://", "https://")) and url not in out and url != response.url:
            out.append(url)
    return out


def discovery_requests(response: Response, result: Discovery) -> Iterator[scrapy.Request]:
    """Requests for every candidate feed of an HTML page; their answers fill `result`."""
    if not isinstance(response, TextResponse):
        return
    result.candidates = candidate_urls(response)

    def found(answer: Response) -> None:
        feed = check_feed(answer)
        if feed is not None:
            # Keyed by the URL asked for: a redirect's target would not match the candidate.
            result.found[answer.meta.get("candidate", answer.url)] = feed

    def failed(_failure: object) -> None:
        return None  # a guessed path that does not exist is the common case: nothing to say

    for url in result.candidates:
        yield scrapy.Request(
            url,
            callback=found,
            errback=failed,
            dont_filter=True,
            # The guard lets a page's own host through; other hosts are checked as usual.
            meta={"feed": FeedConfig(url=response.url), "candidate": url},
        )


def outlet_name_for(url: str) -> str:
    """A config outlet name from a URL's host: www.example.org -> example_org."""
    host = (urlsplit(url).hostname or "site").lower().removeprefix("www.")
    name = re.sub(r"[^a-z0-9]+", "_", host).strip("_")
    return name if re.match(r"[a-z]", name) else f"site_{name}"


def describe(feed: FoundFeed) -> str:
    """One line for a found feed: URL, kind, title and how many entries it has now."""
    title = f', "{feed.title}"' if feed.title else ""
    return f"{feed.url}  ({feed.kind}{title}, {feed.entries} entries)"


def report(result: Discovery) -> tuple[str, int]:
    """What `fetch` prints for a web page, and its exit code (1: no feed found)."""
    found = result.feeds()
    if not found:
        looked = ", ".join(WELL_KNOWN_PATHS)
        return (
            f'no feed found at {result.page_url} (looked for <link rel="alternate"> and {looked})',
            1,
        )
    lines = [f"{result.page_url} is a web page, not a feed; its feeds:"]
    lines += [f"  {describe(feed)}" for feed in found]
    lines.append(
        f"add one with: feedwatch add {found[0].url} --name {outlet_name_for(result.page_url)}"
    )
    return "\n".join(lines), 0


class DiscoverSpider(scrapy.Spider):
    """Fetches one URL: a feed is checked as it is, a web page has its feeds looked for."""

    name = "discover"

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.result = Discovery(url)
        self.error: str | None = None

    async def start(self) -> Any:
        yield scrapy.Request(
            self.url,
            callback=self.parse_start,
            errback=self.start_failed,
            meta={"feed": FeedConfig(url=self.url)},
        )

    def parse_start(self, response: Response) -> Iterator[scrapy.Request]:
        feed = check_feed(response)
        if feed is not None:
            self.result.is_feed = True
            self.result.candidates = [self.url]
            self.result.found[self.url] = feed
            return
        yield from discovery_requests(response, self.result)

    def start_failed(self, failure: Any) -> None:
        self.error = " ".join(str(failure.value).split()) or type(failure.value).__name__
        response = getattr(failure.value, "response", None)
        if response is not None:
            self.error = f"HTTP {response.status}"
