"""ConditionalGetMiddleware on hand-built requests and responses (no network, no reactor)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.exceptions import DownloadTimeoutError, NotConfigured
from scrapy.http import Response, XmlResponse
from scrapy.utils.test import get_crawler
from twisted.internet.error import TimeoutError as TxTimeoutError

from conf.schema import FeedConfig
from crawler.httpstate import (
    ConditionalGetMiddleware,
    FeedDeferred,
    FeedNotModified,
    FeedStateStore,
    FeedUnchanged,
    parse_max_age,
    parse_retry_after,
    parse_ttl,
)
from spiders.items import FeedEntry

FEED = "https://example.org/rss"
FIXTURES = Path(__file__).parent / "fixtures" / "scheduler"
BODY = (FIXTURES / "greatfire_dw.xml_2015-03-16.xml").read_bytes()
T0 = 1_700_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "feedwatch.sqlite3"


# Middlewares a test made: their feed states are written on a thread (crawler/feedstatewriter.py),
# so what a test reads from the database, or a next middleware reads, waits for those writes.
_MADE: list[ConditionalGetMiddleware] = []


def _flush_writes() -> None:
    for mw in _MADE:
        if mw.writer is not None:
            mw.writer.flush()


@pytest.fixture(autouse=True)
def _close_writers():
    yield
    while _MADE:
        mw = _MADE.pop()
        if mw.writer is not None:
            mw.writer.close()


def make_mw(db: Path, clock: Clock, **settings: object) -> ConditionalGetMiddleware:
    _flush_writes()  # a crawl after another sees everything the first one wrote
    crawler = get_crawler(settings_dict={"FEEDWATCH_STATE_DB": str(db), **settings})
    crawler.stats.open_spider()
    mw = ConditionalGetMiddleware.from_crawler(crawler)
    mw.clock = clock
    _MADE.append(mw)
    return mw


def feed_request(url: str = FEED) -> Request:
    return Request(url, meta={"feed": FeedConfig(url=url)})


def response(request: Request, status: int = 200, body: bytes = BODY, **headers: str) -> Response:
    cls = XmlResponse if status == 200 else Response
    return cls(request.url, status=status, body=body, headers=headers, request=request)


def stored(db: Path, url: str = FEED):
    _flush_writes()
    conn = sqlite3.connect(db)
    try:
        return FeedStateStore(conn).get(url)
    finally:
        conn.close()


def fetch_ok(mw: ConditionalGetMiddleware, body: bytes = BODY, **headers: str) -> Request:
    """One feed request answered 200, then a clean spider finish."""
    request = feed_request()
    assert mw.process_request(request) is None
    mw.process_response(request, response(request, 200, body, **headers))
    return request


def test_validators_are_sent_and_304_is_not_modified(db: Path) -> None:
    clock = Clock()
    mw = make_mw(db, clock)
    fetch_ok(mw, ETag='"v1"', **{"Last-Modified": "Mon, 16 Mar 2015 08:38:27 GMT"})
    mw.spider_closed(None, "finished")
    state = stored(db)
    assert state.etag == '"v1"'
    assert state.body_sha256 is not None and state.last_status == 200

    mw2 = make_mw(db, clock)
    request = feed_request()
    mw2.process_request(request)
    assert request.headers[b"If-None-Match"] == b'"v1"'
    assert request.headers[b"If-Modified-Since"] == b"Mon, 16 Mar 2015 08:38:27 GMT"
    with pytest.raises(FeedNotModified):
        mw2.process_response(request, response(request, 304, b""))
    assert mw2.stats.get_value("httpstate/not_modified") == 1
    assert request.meta["httpstate"] == "not_modified"
    assert stored(db).last_status == 304


def test_validators_wait_for_a_clean_finish(db: Path) -> None:
    clock = Clock()
    mw = make_mw(db, clock)
    fetch_ok(mw, ETag='"v1"')
    mw.spider_closed(None, "shutdown")  # killed half-way: items may be missing
    state = stored(db)
    assert state.last_status == 200
    assert state.etag is None and state.body_sha256 is None
    request = feed_request()
    make_mw(db, clock).process_request(request)
    assert b"If-None-Match" not in request.headers


def test_failed_item_keeps_its_feed_refetchable(db: Path) -> None:
    clock = Clock()
    mw = make_mw(db, clock)
    fetch_ok(mw, ETag='"v1"')
    entry = FeedEntry(
        outlet="dw", title="t", url="https://example.org/a/1", body_html="", feed_url=FEED
    )
    mw.item_error(entry, None, None, None)  # e.g. the archive write failed
    mw.spider_closed(None, "finished")
    assert stored(db).etag is None


def test_pages_carrying_the_feed_meta_are_not_the_feed(db: Path) -> None:
    mw = make_mw(db, Clock())
    page = Request("https://example.org/pages/n1.md", meta={"feed": FeedConfig(url=FEED)})
    mw.process_request(page)
    mw.process_response(page, Response(page.url, status=500, request=page))
    assert stored(db) is None
    redirected = Request(
        "https://example.org/rss2", meta={"feed": FeedConfig(url=FEED), "redirect_urls": [FEED]}
    )
    with pytest.raises(FeedNotModified):
        mw.process_response(redirected, Response(redirected.url, status=304, request=redirected))
    assert stored(db).last_status == 304


def test_unchanged_body_is_skipped(db: Path) -> None:
    clock = Clock()
    mw = make_mw(db, clock)
    fetch_ok(mw)  # no validators at all: only the hash can tell
    mw.spider_closed(None, "finished")
    mw2 = make_mw(db, clock)
    with pytest.raises(FeedUnchanged):
        fetch_ok(mw2)
    assert mw2.stats.get_value("httpstate/unchanged") == 1
    # A restamped channel (RDF: <dc:date> before the first <item>) is still the same feed.
    mw3 = make_mw(db, clock)
    with pytest.raises(FeedUnchanged):
        fetch_ok(mw3, BODY.replace(b"2015-03-16T08:38:27Z", b"2015-03-16T09:00:00Z", 1))
    mw4 = make_mw(db, clock)
    request = fetch_ok(mw4, BODY.replace(b" </item>\n</rdf:RDF>", b"<!-- x --></item></rdf:RDF>"))
    assert request.meta["httpstate"] == "changed"


def test_whole_body_hash_when_the_unchanged_check_is_off(db: Path) -> None:
    clock = Clock()
    mw = make_mw(db, clock, FEEDWATCH_UNCHANGED_CHECK=False)
    fetch_ok(mw)
    mw.spider_closed(None, "finished")
    mw2 = make_mw(db, clock, FEEDWATCH_UNCHANGED_CHECK=False)
    request = fetch_ok(mw2, BODY.replace(b"2015-03-16T08:38:27Z", b"2015-03-16T09:00:00Z", 1))
    assert request.meta["httpstate"] == "changed"


def test_retry_after_defers_the_feed_until_due(db: Path) -> None:
    clock = Clock()
    mw = make_mw(db, clock)
    request = feed_request()
    mw.process_request(request)
    result = mw.process_response(request, response(request, 429, b"", **{"Retry-After": "7200"}))
    assert result.status == 429  # the spider still sees the failure
    assert request.meta["dont_retry"] is True  # no immediate retry against a 429
    assert stored(db).next_allowed_ms == int((T0 + 7200) * 1000)

    clock.now += 3600
    with pytest.raises(FeedDeferred):
        make_mw(db, clock).process_request(feed_request())
    forced = make_mw(db, clock, HTTPSTATE_FORCE=True)
    assert forced.process_request(feed_request()) is None
    clock.now += 3601
    assert make_mw(db, clock).process_request(feed_request()) is None


def test_retry_of_the_same_crawl_is_not_deferred(db: Path) -> None:
    clock = Clock()
    mw = make_mw(db, clock)
    request = feed_request()
    mw.process_request(request)
    mw.process_response(request, response(request, 500, b""))
    retry = request.copy()  # what RetryMiddleware sends next
    assert mw.process_request(retry) is None
    mw.process_response(retry, response(retry, 500, b""))
    assert stored(db).consecutive_failures == 1  # one failed crawl, not two


def test_a_stalled_feed_costs_one_timeout_not_three(db: Path) -> None:
    request = feed_request()
    mw = make_mw(db, Clock())
    mw.process_request(request)
    mw.process_exception(request, DownloadTimeoutError("took longer than 30 seconds"))
    assert request.meta["dont_retry"] is True
    request = feed_request()
    mw = make_mw(db, Clock(), HTTPSTATE_FORCE=True)
    mw.process_request(request)
    mw.process_exception(request, TxTimeoutError("older Scrapy raises Twisted's"))
    assert request.meta["dont_retry"] is True
    request = feed_request()
    mw = make_mw(db, Clock(), HTTPSTATE_RETRY_FEED_TIMEOUTS=True, HTTPSTATE_FORCE=True)
    mw.process_request(request)
    mw.process_exception(request, TxTimeoutError("took longer than 30 seconds"))
    assert "dont_retry" not in request.meta


def test_backoff_grows_exponentially_up_to_the_cap_and_recovers(db: Path) -> None:
    clock = Clock()
    waits = []
    for _ in range(8):
        mw = make_mw(db, clock, HTTPSTATE_BACKOFF_BASE=60, HTTPSTATE_BACKOFF_CAP=1800)
        request = feed_request()
        mw.process_request(request)  # each crawl comes exactly when allowed
        mw.process_exception(request, TimeoutError("stalled"))
        mw.spider_closed(None, "finished")
        state = stored(db)
        waits.append((state.next_allowed_ms - int(clock.now * 1000)) // 1000)
        clock.now = state.next_allowed_ms / 1000
    assert waits == [60, 120, 240, 480, 960, 1800, 1800, 1800]
    assert stored(db).consecutive_failures == 8
    assert stored(db).last_error == "TimeoutError"

    mw = make_mw(db, clock)
    fetch_ok(mw)
    state = stored(db)
    assert state.consecutive_failures == 0 and state.last_error is None
    assert state.next_allowed_ms is None  # no freshness hint in this feed: poll on schedule


def test_max_age_and_ttl_set_the_next_allowed_time(db: Path) -> None:
    clock = Clock()
    mw = make_mw(db, clock)
    fetch_ok(mw, **{"Cache-Control": "public, max-age=600"})
    assert stored(db).next_allowed_ms == int((T0 + 600) * 1000)

    with_ttl = BODY.replace(b"<channel", b"<ttl>45</ttl><channel", 1)
    # later fetches in this test are forced: the max-age above would defer them
    fetch_ok(make_mw(db, clock, HTTPSTATE_FORCE=True), with_ttl, **{"Cache-Control": "max-age=60"})
    assert stored(db).ttl_s == 2700
    assert stored(db).next_allowed_ms == int((T0 + 2700) * 1000)

    huge = BODY.replace(b"<channel", b"<ttl>100000</ttl><channel", 1)
    fetch_ok(make_mw(db, clock, HTTPSTATE_FORCE=True, HTTPSTATE_FRESHNESS_CAP=3600), huge)
    assert stored(db).next_allowed_ms == int((T0 + 3600) * 1000)

    fetch_ok(make_mw(db, clock, HTTPSTATE_FORCE=True, HTTPSTATE_HONOR_FRESHNESS=False), with_ttl)
    assert stored(db).next_allowed_ms is None


def test_other_requests_pass_untouched(db: Path) -> None:
    mw = make_mw(db, Clock())
    request = Request("https://example.org/page")
    assert mw.process_request(request) is None
    page = Response(request.url, status=304, request=request)
    assert mw.process_response(request, page) is page
    assert mw.store.all() == []


def test_not_configured_without_db_or_when_disabled(db: Path) -> None:
    with pytest.raises(NotConfigured):
        ConditionalGetMiddleware.from_crawler(get_crawler())
    with pytest.raises(NotConfigured):
        ConditionalGetMiddleware.from_crawler(
            get_crawler(settings_dict={"FEEDWATCH_STATE_DB": str(db), "HTTPSTATE_ENABLED": False})
        )


def test_header_parsers() -> None:
    now_ms = int(T0 * 1000)
    assert parse_retry_after("120", now_ms) == 120
    assert parse_retry_after("Tue, 14 Nov 2023 22:33:20 GMT", now_ms) == 20 * 60
    assert parse_retry_after("soon", now_ms) is None
    assert parse_retry_after(None, now_ms) is None
    assert parse_max_age("public, max-age=300, s-maxage=900") == 900
    assert parse_max_age("no-cache") == 0
    assert parse_max_age("private") is None
    assert parse_ttl(b"<rss><channel><ttl> 15 </ttl>") == 900
    assert parse_ttl(BODY) is None


def test_feed_state_writes_never_wait_for_the_write_lock(db: Path) -> None:
    """The consumer holds the state's write lock for a batch: a feed response must not wait."""
    import time

    from crawler.feedstatewriter import BackgroundFeedStates
    from store.feeds import FeedState
    from store.sqlite import open_storage

    storage = open_storage(db)
    writer = BackgroundFeedStates(storage.feeds, db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # as the ingest consumer does for each batch
    try:
        started = time.perf_counter()
        writer.put(FeedState(feed_url=FEED, etag='"v2"', last_status=200))
        assert time.perf_counter() - started < 0.5
        assert writer.get(FEED).etag == '"v2"'  # this crawl reads its own write at once
        assert stored(db) is None  # not in the database yet: the lock is held
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    writer.close()  # waits for the write
    assert stored(db).etag == '"v2"'
    storage.close()


def test_closing_in_a_running_crawl_waits_for_the_writes_off_the_scrapy_thread(db: Path) -> None:
    """One outlet's close must not stop the event loop the other outlets' crawls still use."""
    import asyncio

    clock = Clock()
    mw = make_mw(db, clock)
    fetch_ok(mw, ETag='"v3"')
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the consumer's batch holds the write lock

    async def crawl() -> list[str]:
        ticks: list[str] = []

        async def other_outlet() -> None:
            for _ in range(5):
                ticks.append("tick")
                await asyncio.sleep(0.01)
            holder.execute("ROLLBACK")  # the batch ends

        closing = mw.spider_closed(None, "finished")
        assert closing is not None  # awaited by Scrapy, not waited for here
        await asyncio.gather(closing, other_outlet())
        return ticks

    assert asyncio.run(crawl()) == ["tick"] * 5
    holder.close()
    assert stored(db).etag == '"v3"'
