"""OutletSpider: fetch an outlet's feeds, turn entries into FeedEntry items, fetch bodies when needed.

Everything outlet-specific comes from the class's `spec` (`spiders.spec.OutletSpec`: domains,
selectors, feed repairs); the registry builds one subclass per configured outlet
(`spiders.registry.spider_class_for`), setting `spec`, `name`, `outlet_name` and `outlet`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from conf.schema import FeedConfig, OutletConfig
from spiders import feeds
from spiders.exceptions import AlreadyStored, RefusedRequest
from spiders.extract import Extraction, PageExtractor, extract_page
from spiders.items import FeedEntry
from spiders.outlets import intermediary_for
from spiders.spec import OutletSpec
from spiders.workers import WorkerPool, shared_pool
from store.document import Body

logger = logging.getLogger(__name__)

# Entries taken from one feed per crawl (setting FEEDWATCH_MAX_ITEMS_PER_FEED; 0: no limit).
DEFAULT_MAX_ITEMS_PER_FEED = 200
# Longest URL requested (Scrapy's URLLENGTH_LIMIT; crawler.settings raises Scrapy's 2083).
DEFAULT_URL_LENGTH_LIMIT = 8000


class OutletSpider(scrapy.Spider):
    """Base spider of every outlet: feeds in, FeedEntry items out."""

    name = "outlet"
    # What the code knows of the outlet (its module's SPEC); set by the registry.
    spec: ClassVar[OutletSpec] = OutletSpec(kind="base")
    outlet_name: str = ""
    outlet: OutletConfig | None = None

    def count(self, key: str) -> None:
        """Increment a crawl stat (the crawl summary reads feeds/* and articles/*)."""
        crawler = getattr(self, "crawler", None)
        if crawler is not None and crawler.stats is not None:
            crawler.stats.inc_value(key)

    # -- requests -------------------------------------------------------------------------------

    def feed_configs(self) -> list[FeedConfig]:
        """The feeds to fetch: the configured outlet's feeds."""
        if self.outlet is None:
            raise ValueError(
                f"spider {self.name!r} has no outlet config; build it with spider_class_for"
            )
        return list(self.outlet.feeds)

    def start_requests(self) -> Iterator[scrapy.Request]:
        """One request per configured feed, the FeedConfig in meta["feed"], then the pages of
        partial stories (stored from their summary) that are due another try."""
        yield from self._feed_requests()
        yield from self.partial_retry_requests()

    def partial_retry_requests(self) -> Iterator[scrapy.Request]:
        """Article requests for this outlet's partial stories (see store.partial)."""
        settings = getattr(self, "settings", None)
        state_db = settings.get("FEEDWATCH_STATE_DB") if settings is not None else None
        if not state_db or not self.outlet_name:
            return
        from spiders.partialretry import partial_retry_entries

        for entry in partial_retry_entries(state_db, self.outlet_name):
            self.count("articles/retried")
            yield scrapy.Request(
                entry.url,
                callback=self.parse_article,
                errback=self.article_failed,
                meta={"entry": entry, "article": True, "partial_retry": True},
                dont_filter=True,
            )

    def _feed_requests(self) -> Iterator[scrapy.Request]:
        for feed in self.feed_configs():
            request = scrapy.Request(
                feed.url,
                callback=self.parse_feed,
                errback=self.feed_failed,
                meta={"feed": feed},
                # A redirect loop back to the feed must reach REDIRECT_MAX_TIMES and fail loudly,
                # not be dropped in silence by the duplicate filter.
                dont_filter=True,
            )
            if self.url_too_long(request.url):
                # Scrapy's UrlLengthMiddleware would drop it with an INFO line only.
                self.count("feeds/failed")
                logger.warning(
                    "feed %s failed: its URL has %d characters, over URLLENGTH_LIMIT %d",
                    _shorten(request.url),
                    len(request.url),
                    self.url_length_limit(),
                )
                continue
            yield request

    async def start(self) -> AsyncIterator[Any]:
        """Scrapy >= 2.13 entry point: the same requests as start_requests."""
        self.worker_pool().start()  # the first feed response will need them
        for request in self.start_requests():
            yield request

    def url_length_limit(self) -> int:
        """The longest URL Scrapy will request (URLLENGTH_LIMIT; 0: no limit)."""
        settings = getattr(self, "settings", None)
        if settings is None:
            return DEFAULT_URL_LENGTH_LIMIT
        return settings.getint("URLLENGTH_LIMIT", DEFAULT_URL_LENGTH_LIMIT)

    def url_too_long(self, url: str) -> bool:
        """True when Scrapy's UrlLengthMiddleware would drop a request for this (escaped) URL."""
        limit = self.url_length_limit()
        return 0 < limit < len(url)

    def article_domains(self) -> tuple[str, ...]:
        """Hosts whose article pages may be fetched: config domains plus the outlet's own."""
        configured = tuple(self.outlet.domains) if self.outlet is not None else ()
        return configured + self.spec.domains

    # -- feeds ----------------------------------------------------------------------------------

    def max_items_per_feed(self) -> int:
        """How many entries of one feed are taken per crawl (0: all)."""
        settings = getattr(self, "settings", None)
        if settings is None:
            return DEFAULT_MAX_ITEMS_PER_FEED
        return settings.getint("FEEDWATCH_MAX_ITEMS_PER_FEED", DEFAULT_MAX_ITEMS_PER_FEED)

    def _entries_parsed(self) -> int:
        """Entries feedparser reads of one feed: twice the cap (0: all), so the cap is never
        short of entries (one cut inside CDATA, or skipped), and a huge feed costs little."""
        return 2 * self.max_items_per_feed()

    async def parse_feed(self, response: Response) -> AsyncIterator[FeedEntry | scrapy.Request]:
        """Parse a feed response; one bad entry is logged and skipped, never the whole feed.

        The one feed callback of the crawl, `fetch` and the parser tests; feedparser runs in
        an extraction worker when there are any (inline otherwise, the default).
        """
        headers = feeds.response_headers(response.headers)
        parsed = await self.worker_pool().run(
            feeds.parse_feed_portable, response.body, headers, self._entries_parsed()
        )
        for output in self._feed_outputs(response, headers, parsed):
            yield output

    def _feed_outputs(
        self, response: Response, headers: dict[str, str], parsed: Any
    ) -> Iterator[FeedEntry | scrapy.Request]:
        feed = response.meta.get("feed") or FeedConfig(url=response.url)
        self.count("feeds/fetched")
        conflict = feeds.charset_conflict(response.body, headers)
        if conflict:
            logger.warning(
                "feed %s: %s; decoded as %s", response.url, conflict, parsed.get("encoding")
            )
        reason = feeds.bozo_reason(parsed)
        entries = self.feed_entries(response, parsed)
        if not entries:
            if reason:  # one line: the feedparser reason with it, not a second line
                logger.warning(
                    "no entries in feed %s (%s): %s", response.url, self.outlet_name, reason
                )
            elif not parsed.get("version"):  # an empty body, or not a feed at all
                logger.warning("no entries in feed %s (%s)", response.url, self.outlet_name)
            else:  # a well-formed channel with nothing in it right now: quiet is normal
                logger.info("no entries in feed %s (%s): empty", response.url, self.outlet_name)
            return
        if reason:
            logger.warning("bozo feed %s (%s): %s", response.url, self.outlet_name, reason)
        if reason and feeds.complete_entries(response.body, len(entries)) < len(entries):
            # The document ended inside an entry (a cut download): its body is incomplete.
            complete = feeds.complete_entries(response.body, len(entries))
            logger.warning(
                "feed %s ends inside entry %d; skipped that entry", response.url, complete + 1
            )
            entries = entries[:complete]
            if not entries:
                return
        limit = self.max_items_per_feed()
        if 0 < limit < len(entries):
            # A runaway or hostile feed must not flood the archive in one run.
            logger.warning(
                "feed %s has %d entries; taking the first %d (FEEDWATCH_MAX_ITEMS_PER_FEED)",
                response.url,
                max(len(entries), int(parsed.get("entries_in_feed") or 0)),
                limit,
            )
            self.count("feeds/truncated")
            entries = entries[:limit]
        for index, raw in enumerate(entries):
            try:
                entry = self.entry_from_feed(raw, response.url, feed)
            except Exception as exc:  # one broken entry must not stop the feed
                logger.warning(
                    "skipped entry %d of %s: %s: %s", index, response.url, type(exc).__name__, exc
                )
                continue
            if entry is not None:
                yield self.follow_entry(entry, feed)

    def feed_entries(self, response: Response, parsed: Any) -> list[Any]:
        """The feedparser entries of a feed, repaired by the spec where feedparser reads the
        outlet's feeds incompletely."""
        entries = list(parsed.get("entries") or [])
        if self.spec.fix_entries is not None:
            entries = self.spec.fix_entries(response.body, entries)
        return entries

    def entry_body(self, raw: Any) -> str:
        """The entry's HTML body as the feed carries it (hook for odd feeds)."""
        return feeds.entry_body(raw)

    def entry_from_feed(self, raw: Any, base_url: str, feed: FeedConfig) -> FeedEntry | None:
        """Build a FeedEntry from a feedparser entry; None (and a log line) when it has no link."""
        url = feeds.entry_link(raw, base_url)
        title = " ".join(str(raw.get("title") or "").split())
        if url is None:
            logger.warning("entry %r in %s has no usable link; skipped", title[:60], base_url)
            return None
        # Parsed at most once from here on: summary detection, sanitizing, dedup and alerts
        # all read this one document (the pipelines keep it while body_html is unchanged).
        body = Body(self.entry_body(raw))
        return FeedEntry(
            outlet=self.outlet_name,
            title=str(raw.get("title") or "").strip() or url,
            url=url,
            body_html=body.html,
            published=feeds.entry_published(raw),
            guid=raw.get("id") or None,
            feed_url=feed.url,
            full_text=not self.needs_article(body, feed),
            body=body,
        )

    def needs_article(self, body: str | Body, feed: FeedConfig) -> bool:
        """True when the body is only a summary: per feed config, or by length when "auto"."""
        if feed.full_text == "auto":
            # Some intermediaries always carry the whole article (feedx: see spiders.feedx).
            intermediary = intermediary_for(feed)
            full = intermediary is not None and intermediary.full_text
            return not full and feeds.looks_like_summary(body)
        return not feed.full_text

    def follow_entry(self, entry: FeedEntry, feed: FeedConfig) -> FeedEntry | scrapy.Request:
        """The entry itself, or a request for its article page when only a summary is known."""
        if entry.full_text:
            return entry
        if not feeds.host_allowed(entry.url, self.article_domains()):
            logger.info(
                "not fetching %s: host outside %s; keeping the summary",
                entry.url,
                list(self.article_domains()),
            )
            return entry
        request = scrapy.Request(
            entry.url,
            callback=self.parse_article,
            errback=self.article_failed,
            meta={"entry": entry, "article": True},
            dont_filter=True,  # as for feeds: a silently dropped loop would lose the entry
        )
        if self.url_too_long(request.url):
            # Scrapy's UrlLengthMiddleware would drop the request, and the entry with it, at
            # INFO level: store the summary instead, and say so.
            self.count("articles/url_too_long")
            logger.warning(
                "article %s not fetched: its URL has %d characters, over URLLENGTH_LIMIT %d;"
                " keeping the feed summary",
                _shorten(request.url),
                len(request.url),
                self.url_length_limit(),
            )
            entry.full_text = False
            return entry
        return request

    def feed_failed(self, failure: Failure) -> None:
        """Log a feed that could not be fetched in one line; the crawl goes on."""
        request = _request_of(failure)
        # A plain IgnoreRequest is Scrapy giving up (too many redirects, a body that went over
        # DOWNLOAD_MAXSIZE while decompressing): a failure. Subclasses are skips on purpose.
        on_purpose = type(failure.value) is not IgnoreRequest
        if (
            failure.check(IgnoreRequest)
            and not failure.check(HttpError, RefusedRequest)
            and on_purpose
        ):
            # Skipped on purpose (not modified, or deferred by Retry-After/backoff).
            logger.info("feed %s skipped: %s", request.url, failure.value)
            return
        self.count("feeds/failed")
        # Name the URL that was asked for; a redirect target alone would not say which feed it is.
        redirects = request.meta.get("redirect_urls") or []
        url = redirects[0] if redirects else request.url
        where = f" (redirected to {request.url})" if redirects else ""
        logger.warning("feed %s failed%s: %s", url, where, _failure_reason(failure))

    # -- articles -------------------------------------------------------------------------------

    def _extract_args(
        self, response: TextResponse, entry: FeedEntry
    ) -> tuple[PageExtractor | None, bool, str, str, FeedEntry]:
        spec = self.spec
        return spec.page_extractor, spec.trafilatura_fallback, response.text, response.url, entry

    def _body_of(self, response: TextResponse, extraction: Extraction) -> str | None:
        if extraction.selectors_missed:
            logger.info("selectors found no body in %s; trying trafilatura", response.url)
        return extraction.body

    def worker_pool(self) -> WorkerPool:
        """The crawl process's worker processes (FEEDWATCH_WORKERS; 0: everything inline)."""
        settings = getattr(self, "settings", None)
        return shared_pool(settings.getint("FEEDWATCH_WORKERS", 0) if settings is not None else 0)

    async def parse_article(self, response: Response) -> AsyncIterator[FeedEntry]:
        """Put the extracted body into the entry; keep the summary when extraction fails.

        The outlet's selectors, then trafilatura when they find nothing; in an extraction
        worker when there are any. The one article callback of the crawl, `fetch` and tests.
        """
        entry: FeedEntry = response.meta["entry"]
        body: str | None = None
        if isinstance(response, TextResponse):
            try:
                extraction = await self.worker_pool().run(
                    extract_page, *self._extract_args(response, entry)
                )
                body = self._body_of(response, extraction)
            except Exception as exc:  # a layout we did not foresee: keep the summary
                self._extraction_failed(response, exc)
        yield self._with_body(response, entry, body)

    def _extraction_failed(self, response: Response, exc: Exception) -> None:
        logger.warning("extraction failed on %s: %s: %s", response.url, type(exc).__name__, exc)

    def _with_body(self, response: Response, entry: FeedEntry, body: str | None) -> FeedEntry:
        self.count("articles/fetched")
        if body:
            entry.body_html = body
            entry.body = None  # the summary's document no longer describes the body
            entry.full_text = True
            entry.partial = None
        else:
            logger.warning("no body extracted from %s; keeping the feed summary", response.url)
            entry.full_text = False
            entry.partial = "no body extracted from the page"
        return entry

    def article_failed(self, failure: Failure) -> Iterator[FeedEntry]:
        """Article fetch failed (4xx/5xx/timeout): log one line and yield the summary entry."""
        request = _request_of(failure)
        entry = request.meta.get("entry")
        # Only AlreadyStored (SeenArticleMiddleware) is a drop on purpose; Scrapy giving up
        # (max redirections, DOWNLOAD_MAXSIZE) or the guard refusing keeps the summary.
        if failure.check(AlreadyStored):
            # Dropped on purpose (the story is already stored): nothing to yield.
            logger.debug("article %s not fetched: %s", request.url, failure.value)
            return
        reason = _failure_reason(failure)
        self.count("articles/failed")
        # A page left out of a replay snapshot is expected there: the replay middleware sums
        # its misses up in one warning, so each one is an INFO line here.
        level = logging.INFO if _replay_miss(failure) else logging.WARNING
        logger.log(level, "article %s failed (%s); keeping the feed summary", request.url, reason)
        if entry is not None:
            entry.full_text = False
            entry.partial = f"page failed: {reason}"
            yield entry


def _shorten(url: str, keep: int = 150) -> str:
    """A URL cut for a log line (a hostile link can be megabytes long)."""
    return url if len(url) <= keep else f"{url[:keep]}..."


def _request_of(failure: Failure) -> scrapy.Request:
    """The request Scrapy attaches to the failures it passes to errbacks."""
    request: scrapy.Request = failure.request  # type: ignore[attr-defined]
    return request


def _replay_miss(failure: Failure) -> bool:
    """Whether the failure is a 404 that replay served for a URL not in its snapshot."""
    response = getattr(failure.value, "response", None)
    return response is not None and "replay-miss" in (response.flags or [])


def _failure_reason(failure: Failure) -> str:
    """A short reason for a failed request: the HTTP status or the exception."""
    if failure.check(HttpError):
        where = ", not in the replay snapshot" if _replay_miss(failure) else ""
        return f"HTTP {failure.value.response.status}{where}"
    message = " ".join(str(failure.value).split())
    return f"{failure.type.__name__}: {message}" if message else failure.type.__name__
