"""Incremental feed fetching: conditional GET, unchanged-body skip, polling hints and backoff.

`ConditionalGetMiddleware` is a Scrapy downloader middleware for feed requests (those carrying
`request.meta["feed"]`). It keeps one row per feed URL in the `feed_state` table of the state
database (the state store's `feeds`, store/storage.py) and uses it to:

* send `If-None-Match` / `If-Modified-Since` from the stored validators; a 304 ends the request
  (`FeedNotModified`, stat `httpstate/not_modified`);
* skip a 200 whose body hashes to the stored sha256 (`FeedUnchanged`, `httpstate/unchanged`);
  the hash starts at the first entry, so a server that only restamps `<lastBuildDate>` does not
  make the crawl parse the feed again (`store.unchanged.feed_digest`);
* honour `Cache-Control: max-age`, RSS `<ttl>` and `Retry-After` (429/503) by setting
  `next_allowed_ms`, and drop a feed request before it is sent while that time lies ahead
  (`FeedDeferred`, `httpstate/deferred`) unless `HTTPSTATE_FORCE` is set;
* count consecutive failed crawls per feed and back off exponentially up to a cap.

New validators and body hashes are committed only when the spider closes with reason
"finished" and nothing went wrong with that feed's items: a crawl killed half-way must fetch
the feed in full next time, or the items it never stored would hide behind a 304.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import scrapy.exceptions
from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from twisted.internet.defer import TimeoutError as _DeferTimeout
from twisted.internet.error import TimeoutError as _TxTimeout

from crawler.feedstatewriter import BackgroundFeedStates
from spiders.workers import loop_running
from store.backends import open_storage
from store.feeds import FeedState
from store.feeds import FeedStateStore as FeedStateStore  # re-exported (tests, older callers)
from store.storage import FeedStateStorage, StateStorage
from store.unchanged import feed_digest

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

# Downloader middleware order: above RetryMiddleware (550) so a 429/503 is seen before it is
# retried (we set dont_retry when the server asked us to wait), below HttpCompression (590) and
# Redirect (600) so bodies arrive decompressed and redirects resolved.
MIDDLEWARE_PATH = "crawler.httpstate.ConditionalGetMiddleware"
MIDDLEWARE_ORDER = 570

_TTL = re.compile(rb"<ttl>\s*(\d{1,7})\s*</ttl>", re.IGNORECASE)
_MAX_AGE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)
# Scrapy >= 2.14 raises its own DownloadTimeoutError; older versions raise Twisted's.
_TIMEOUTS: tuple[type[BaseException], ...] = (TimeoutError, _TxTimeout, _DeferTimeout) + tuple(
    t for t in (getattr(scrapy.exceptions, "DownloadTimeoutError", None),) if t is not None
)
_TTL_SCAN_BYTES = 65536  # <ttl> sits in the channel header, before the items


class FeedNotModified(IgnoreRequest):
    """The server answered 304: nothing new in this feed."""


class FeedUnchanged(IgnoreRequest):
    """The server sent the feed again, byte for byte the same as last time."""


class FeedDeferred(IgnoreRequest):
    """The feed asked us (max-age, ttl, Retry-After) or our backoff says to wait."""


def parse_retry_after(value: str | None, now_ms: int) -> int | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0, int(when.timestamp() - now_ms / 1000))


def parse_max_age(cache_control: str | None) -> int | None:
    """max-age (or s-maxage) seconds from a Cache-Control header; 0 for no-cache/no-store."""
    if not cache_control:
        return None
    lowered = cache_control.lower()
    if "no-cache" in lowered or "no-store" in lowered:
        return 0
    ages = [int(m.group(2)) for m in _MAX_AGE.finditer(cache_control)]
    return max(ages) if ages else None


def parse_ttl(body: bytes) -> int | None:
    """RSS <ttl> (minutes) from the start of a feed body, as seconds; None when absent."""
    # sy:updatePeriod/updateFrequency are deliberately ignored: WordPress emits "hourly/1" on
    # every feed whatever its real rhythm (the Epoch Times feeds do), so it would only slow us.
    match = _TTL.search(body[:_TTL_SCAN_BYTES])
    return int(match.group(1)) * 60 if match else None


def _header(response: Response, name: str) -> str | None:
    raw = response.headers.get(name)
    return raw.decode("latin-1") if raw else None


class ConditionalGetMiddleware:
    """Conditional GET, unchanged-body skip, polling hints and backoff for feed requests."""

    def __init__(self, crawler: Crawler, store: FeedStateStorage) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self.store = store
        self.force = settings.getbool("HTTPSTATE_FORCE", False)
        self.honor_freshness = settings.getbool("HTTPSTATE_HONOR_FRESHNESS", True)
        self.freshness_cap_s = settings.getfloat("HTTPSTATE_FRESHNESS_CAP", 6 * 3600)
        self.retry_after_cap_s = settings.getfloat("HTTPSTATE_RETRY_AFTER_CAP", 24 * 3600)
        self.backoff_base_s = settings.getfloat("HTTPSTATE_BACKOFF_BASE", 300)
        self.backoff_cap_s = settings.getfloat("HTTPSTATE_BACKOFF_CAP", 6 * 3600)
        self.retry_feed_timeouts = settings.getbool("HTTPSTATE_RETRY_FEED_TIMEOUTS", False)
        # Off only in bench/bench_poll.py, to measure the whole-body hash beside it.
        self.skip_feed_header = settings.getbool("FEEDWATCH_UNCHANGED_CHECK", True)
        self.clock = time.time  # tests replace it to move time
        self._pending: dict[str, FeedState] = {}  # validators waiting for a clean finish
        self._incomplete: set[str] = set()  # feeds whose items did not all make it
        self._failed_this_crawl: set[str] = set()
        self.owned: StateStorage | None = None  # closed at spider close: we opened it
        self.writer: BackgroundFeedStates | None = None  # the same, for our writes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalGetMiddleware:
        """Build from HTTPSTATE_* settings; NotConfigured when disabled or no state DB is set."""
        settings = crawler.settings
        if not settings.getbool("HTTPSTATE_ENABLED", True):
            raise NotConfigured  # off on purpose (`fetch`): no message, so Scrapy logs no warning
        db_path = settings.get("FEEDWATCH_STATE_DB")
        if not db_path:
            raise NotConfigured("FEEDWATCH_STATE_DB is not set")
        storage = open_storage(db_path)
        # Written off the Scrapy thread: a write waits for the ingest consumer's batches.
        writer = BackgroundFeedStates(storage.feeds, db_path)
        mw = cls(crawler, writer)
        mw.owned = storage
        mw.writer = writer
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(mw.spider_error, signal=signals.spider_error)
        crawler.signals.connect(mw.item_error, signal=signals.item_error)
        return mw

    # -- helpers -------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    @staticmethod
    def feed_url_of(request: Request) -> str | None:
        """The configured feed URL when this request fetches the feed itself, else None."""
        feed = request.meta.get("feed")
        if feed is None:
            return None
        url = str(getattr(feed, "url", None) or feed)
        # Mirror spiders pass meta["feed"] on to the pages an index links to: those are not
        # the feed. A redirect of the feed request still is (its original URL is recorded).
        if request.url == url or url in request.meta.get("redirect_urls", ()):
            return url
        return None

    @staticmethod
    def _source_feed_url(request: Request) -> str | None:
        """The feed an article or mirror page request came from, when known."""
        entry_feed = getattr(request.meta.get("entry"), "feed_url", None)
        if entry_feed:
            return str(entry_feed)
        feed = request.meta.get("feed")
        return str(getattr(feed, "url", None) or feed) if feed is not None else None

    def _state(self, feed_url: str) -> FeedState:
        return self.store.get(feed_url) or FeedState(feed_url=feed_url)

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(key)

    def _freshness_until(self, now_ms: int, max_age_s: int | None, ttl_s: int | None) -> int | None:
        if not self.honor_freshness:
            return None
        hint = max(max_age_s or 0, ttl_s or 0)
        if hint <= 0:
            return None
        return now_ms + int(min(hint, self.freshness_cap_s) * 1000)

    def backoff_seconds(self, failures: int) -> float:
        """Wait after `failures` consecutive failed crawls: base * 2**(n-1), capped."""
        if failures <= 0:
            return 0.0
        return min(self.backoff_cap_s, self.backoff_base_s * 2 ** min(failures - 1, 30))

    def _record_success(self, state: FeedState, response: Response, now_ms: int) -> None:
        state.last_status = response.status
        state.last_fetch_ms = now_ms
        state.consecutive_failures = 0
        state.last_error = None
        state.max_age_s = parse_max_age(_header(response, "Cache-Control"))
        state.next_allowed_ms = self._freshness_until(now_ms, state.max_age_s, state.ttl_s)
        self._failed_this_crawl.discard(state.feed_url)

    def _record_failure(
        self, feed_url: str, error: str, status: int | None, retry_after_s: int | None
    ) -> None:
        now_ms = self._now_ms()
        state = self._state(feed_url)
        # Retries inside one crawl are one failed crawl, not several: backoff counts crawls.
        first = feed_url not in self._failed_this_crawl
        if first:
            state.consecutive_failures += 1
            self._failed_this_crawl.add(feed_url)
        state.last_status = status
        state.last_fetch_ms = now_ms
        state.last_error = error[:500]
        wait_s = self.backoff_seconds(state.consecutive_failures)
        if retry_after_s is not None:
            wait_s = max(wait_s, min(retry_after_s, self.retry_after_cap_s))
        state.next_allowed_ms = now_ms + int(wait_s * 1000)
        self.store.put(state)
        self._inc("httpstate/failed")
        # The spider logs the failure itself (one WARNING per feed): this is the backoff detail,
        # once per crawl.
        logger.log(
            logging.INFO if first else logging.DEBUG,
            "feed %s failed (%s, %d in a row); next attempt in %.0f s",
            feed_url,
            error,
            state.consecutive_failures,
            wait_s,
        )

    # -- downloader middleware hooks -----------------------------------------------------

    def process_request(self, request: Request) -> None:
        """Defer a feed that must wait; add conditional headers from stored validators."""
        feed_url = self.feed_url_of(request)
        if feed_url is None:
            return None
        first_attempt = not request.meta.get("httpstate_seen")
        request.meta["httpstate_seen"] = True
        state = self.store.get(feed_url)
        if state is None:
            return None
        now_ms = self._now_ms()
        # Retries and redirects of this crawl's own request are never deferred by the failure
        # that caused them.
        allowed_ms = state.next_allowed_ms or 0
        if first_attempt and not self.force and allowed_ms > now_ms:
            self._inc("httpstate/deferred")
            # The spider logs the skip with this reason (INFO): one line per deferred feed.
            raise FeedDeferred(
                f"not due for {(allowed_ms - now_ms) / 1000:.0f} s more"
                " (Retry-After, max-age or failure backoff; --force fetches now)"
            )
        if state.etag and b"If-None-Match" not in request.headers:
            request.headers[b"If-None-Match"] = state.etag
        if state.last_modified and b"If-Modified-Since" not in request.headers:
            request.headers[b"If-Modified-Since"] = state.last_modified
        return None

    def process_response(self, request: Request, response: Response) -> Response:
        """Classify a feed response: 304, unchanged, changed (pending) or failed."""
        feed_url = self.feed_url_of(request)
        if feed_url is None:
            return response
        now_ms = self._now_ms()
        status = response.status
        if status == 304:
            state = self._state(feed_url)
            self._record_success(state, response, now_ms)
            state.etag = _header(response, "ETag") or state.etag
            state.last_modified = _header(response, "Last-Modified") or state.last_modified
            self.store.put(state)
            request.meta["httpstate"] = "not_modified"
            self._inc("httpstate/not_modified")
            raise FeedNotModified("304 Not Modified")
        if status >= 400:
            retry_after = None
            if status in (429, 503):
                retry_after = parse_retry_after(_header(response, "Retry-After"), now_ms)
                if retry_after is not None:
                    # The server told us when to come back: an immediate retry would be rude.
                    request.meta["dont_retry"] = True
            self._record_failure(feed_url, f"HTTP {status}", status, retry_after)
            request.meta["httpstate"] = "failed"
            return response
        if status != 200:
            return response
        state = self._state(feed_url)
        digest = feed_digest(response.body, skip_header=self.skip_feed_header)
        state.ttl_s = parse_ttl(response.body)
        self._record_success(state, response, now_ms)
        etag = _header(response, "ETag")
        last_modified = _header(response, "Last-Modified")
        if state.body_sha256 == digest:
            state.etag, state.last_modified = etag, last_modified
            self.store.put(state)
            request.meta["httpstate"] = "unchanged"
            self._inc("httpstate/unchanged")
            raise FeedUnchanged("body unchanged since the last crawl")
        # Status, freshness and failure count are saved now; the new validators wait until the
        # spider has stored this feed's items (see spider_closed).
        self.store.put(state)
        self._pending[feed_url] = replace(
            state, etag=etag, last_modified=last_modified, body_sha256=digest
        )
        request.meta["httpstate"] = "changed"
        self._inc("httpstate/changed")
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        """Count a download error (timeout, refused...) as a failure of the feed."""
        if isinstance(exception, IgnoreRequest):
            return None
        feed_url = self.feed_url_of(request)
        if feed_url is not None:
            self._record_failure(feed_url, type(exception).__name__, None, None)
            if not self.retry_feed_timeouts and isinstance(exception, _TIMEOUTS):
                # A stalled feed server should cost one download timeout per crawl, not three:
                # the feed is polled again at the next run anyway.
                request.meta["dont_retry"] = True
        # A failed article page needs no bookkeeping here: the spider stores the feed summary
        # instead, and that story is then seen, so re-reading the feed would not help.
        return None

    # -- signals -------------------------------------------------------------------------

    def _mark_incomplete(self, feed_url: str | None) -> None:
        if feed_url is None:
            # Cannot tell which feed the article came from: keep every feed re-fetchable.
            self._incomplete.update(self._pending)
        else:
            self._incomplete.add(feed_url)

    def spider_error(self, failure: Any, response: Response, spider: Spider) -> None:
        """A callback raised: its feed's items may be missing, so keep the feed re-fetchable."""
        request = response.request
        if request is None:
            self._mark_incomplete(None)
        else:
            self._mark_incomplete(self.feed_url_of(request) or self._source_feed_url(request))

    def item_error(self, item: Any, response: Response, spider: Spider, failure: Any) -> None:
        """A pipeline failed to store an item: its feed must be read in full next time."""
        self._mark_incomplete(getattr(item, "feed_url", None))

    def spider_closed(self, spider: Spider, reason: str) -> Coroutine[Any, Any, None] | None:
        """Commit pending validators after a clean finish; drop them otherwise.

        In a running crawl, returns a coroutine that Scrapy awaits: the writes wait for the
        ingest consumer's write lock there, not on the Scrapy thread, which the other outlets'
        crawls of this process still use (one outlet's close blocked them ~0.6 s).
        """
        committed = 0
        if reason == "finished":
            for feed_url, pending in self._pending.items():
                if feed_url in self._incomplete:
                    continue
                current = self._state(feed_url)
                current.etag = pending.etag
                current.last_modified = pending.last_modified
                current.body_sha256 = pending.body_sha256
                self.store.put(current)
                committed += 1
        dropped = len(self._pending) - committed
        if dropped:
            logger.info(
                "kept %d feed(s) re-fetchable (crawl %s or items incomplete)", dropped, reason
            )
        self._pending.clear()
        self._incomplete.clear()
        self._failed_this_crawl.clear()
        if self.writer is not None and loop_running():
            return self._close_when_written()
        self._close()
        return None

    async def _close_when_written(self) -> None:
        assert self.writer is not None
        await self.writer.drained()
        self._close()

    def _close(self) -> None:
        try:
            if self.writer is not None:
                self.writer.close()  # every state of this crawl written before we return
        finally:
            if self.owned is not None:
                self.owned.close()
