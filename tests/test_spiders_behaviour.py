"""Spider behaviour on real fixtures and on bad input: shapes, fallbacks, logging, no crashes."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import scrapy
from scrapy.http import HtmlResponse
from scrapy.http.headers import Headers
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from conf.schema import FeedConfig, OutletConfig
from spiders import feeds
from spiders.exceptions import AlreadyStored
from spiders.fallback import extract_with_trafilatura
from spiders.items import FeedEntry
from spiders.outlets.epochtimes import raw_contents
from spiders.outlets.gfwbreaker import index_links
from spiders.outlets.rfi import extract_rfi_body
from spiders.registry import SPIDER_KINDS, spider_class_for
from spiders.testing import collect, make_response, make_spider, read_fixture

FIXTURES = Path(__file__).parent / "fixtures" / "outlets"
RSS = "application/rss+xml; charset=utf-8"
FEED = FeedConfig(url="https://example.org/feed.xml", full_text=True)


def _parse(kind: str, body: bytes, content_type: str = RSS, feed: FeedConfig = FEED) -> list:
    spider = make_spider(kind, feed, ["example.org"])
    return collect(spider.parse_feed(make_response(feed.url, body, content_type, {"feed": feed})))


def _rfi_page() -> str:
    return read_fixture(FIXTURES / "rfi/rfi_article_20251130_taiwan-defense.html.gz").decode()


# -- article bodies ----------------------------------------------------------------------------


def test_rfi_body_has_the_seeds_shape() -> None:
    body = extract_rfi_body(_rfi_page())
    assert body is not None
    assert body.startswith(
        '<div>30/11/2025 - 10:13</div><img src="https://s.rfi.fr/media/display/'
        '064ecb9c-caf9-11f0-9b38-005056bfb2b6/w:1280/p:16x9/000-867R2EZ.jpg"><p><strong>法新社消息称'
    )
    assert "</strong></p><div><h2><strong>“T-Dome”是什么？</strong></h2><p>" in body
    assert body.endswith("汤普森补充道。</p></div>")
    for junk in ("<script", "<svg", "<button", "广告", "订阅", "电邮新闻", "class=", "data-"):
        assert junk not in body
    assert "\n" not in body


def test_rfi_page_without_body_gives_none() -> None:
    assert extract_rfi_body("<html><body><p>404</p></body></html>") is None
    assert extract_rfi_body("") is None


def test_trafilatura_fallback_never_uses_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    body = extract_with_trafilatura(_rfi_page(), "https://www.rfi.fr/cn/x")
    assert body is not None
    assert '<img src="https://s.rfi.fr/' in body and body.startswith("<p>法新社消息称")
    assert "<h2>“T-Dome”是什么？</h2>" in body and "<script" not in body


# -- feeds ---------------------------------------------------------------------------------------


def test_epochtimes_body_comes_from_content_not_description() -> None:
    feed = FeedConfig(url="https://www.epochtimes.com/gb/nsc413.xml", full_text=True)
    body = read_fixture(FIXTURES / "epochtimes/nsc413_2019-04-04.xml.gz")
    entries = _parse("epochtimes", body, feed=feed)
    assert len(entries) == 60
    first = entries[0]
    assert first.body_html.startswith("<p>【大纪元2019年04月04日讯】从虎口逃出后")
    assert '<p class="p4">' in first.body_html and len(first.body_html) > 5000
    parsed = feeds.parse_feed(body, {})
    assert all(
        len(e.body_html) > len(p.summary) for e, p in zip(entries, parsed.entries, strict=True)
    )


def test_epochtimes_lxml_fallback_when_feedparser_drops_content() -> None:
    body = read_fixture(FIXTURES / "epochtimes/nsc413_2019-04-04.xml.gz")
    contents = raw_contents(body)
    assert len(contents) == 60
    spider = make_spider("epochtimes", FEED)
    parsed = feeds.parse_feed(body, {})
    expected = [e.content[0].value for e in parsed.entries]
    for entry in parsed.entries:
        del entry["content"]
    response = make_response(FEED.url, body, RSS, {"feed": FEED})
    entries = spider.feed_entries(response, parsed)
    assert [e["content"][0]["value"] for e in entries] == expected


def test_summary_feed_requests_article_pages_in_domain_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rss = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title>in</title><link>https://news.example.org/a/1.html</link><description>short</description></item>
<item><title>out</title><link>https://elsewhere.net/a/2.html</link><description>short</description></item>
</channel></rss>"""
    feed = FeedConfig(url="https://example.org/feed.xml", full_text=False)
    with caplog.at_level(logging.INFO):
        outputs = _parse("generic", rss, feed=feed)
    request, entry = outputs
    assert isinstance(request, scrapy.Request)
    assert request.meta["article"] is True and request.meta["entry"].title == "in"
    assert isinstance(entry, FeedEntry) and entry.full_text is False and entry.body_html == "short"
    assert "host outside" in caplog.text


def test_auto_full_text_uses_the_summary_length_rule() -> None:
    assert feeds.looks_like_summary("<p>" + "字" * (feeds.SUMMARY_MAX_CHARS - 1) + "</p>")
    assert not feeds.looks_like_summary("<p>" + "字" * feeds.SUMMARY_MAX_CHARS + "</p>")


def test_start_requests_one_per_feed() -> None:
    outlet = OutletConfig(
        spider="rfi",
        domains=["rfi.fr"],
        feeds=[
            FeedConfig(url="https://a.example/1.xml"),
            FeedConfig(url="https://b.example/2.xml"),
        ],
    )
    spider = spider_class_for("rfi", outlet)()
    requests = list(spider.start_requests())
    assert [r.url for r in requests] == ["https://a.example/1.xml", "https://b.example/2.xml"]
    assert [r.meta["feed"] for r in requests] == outlet.feeds


def test_registry_builds_a_fresh_class_per_outlet() -> None:
    outlet = OutletConfig(spider="generic", feeds=[FEED])
    one, two = spider_class_for("one", outlet), spider_class_for("two", outlet)
    assert one is not two and one.name == "one" and one.outlet is outlet
    assert issubclass(one, SPIDER_KINDS["generic"])
    with pytest.raises(ValueError, match="unknown spider 'nope'"):
        spider_class_for("x", OutletConfig(spider="nope", feeds=[FEED]))


def test_gfwbreaker_index_skips_non_page_links() -> None:
    text = (FIXTURES / "gfwbreaker/indexes_ncid1078159_README.md").read_text(encoding="utf-8")
    url = "https://raw.githubusercontent.com/gfw-breaker/epoch-news/master/indexes/ncid1078159/README.md"
    links = index_links(text, url)
    assert len(links) == 30  # 32 "####" lines, two are ad links
    assert all("/pages/ncid1078159/n" in u and "?" not in u for u, _ in links)


# -- bad input never crashes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", RSS, "no entries"),
        (b"<rss><channel><item><title>x</title><link>https://example.org/1", RSS, "bozo feed"),
        (b"<!DOCTYPE html><html><body><p>Not a feed</p></body></html>", "text/html", "no entries"),
        (b"\x00\x01\x02binary", "application/octet-stream", "no entries"),
    ],
    ids=["empty", "malformed-xml", "html-page", "binary"],
)
def test_bad_feed_logs_and_yields_nothing_or_partial(
    body: bytes, content_type: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        outputs = _parse("generic", body, content_type)
    assert message in caplog.text
    assert all(isinstance(o, FeedEntry) for o in outputs)


def test_entries_without_link_or_date(caplog: pytest.LogCaptureFixture) -> None:
    rss = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title>无链接</title><description>正文</description></item>
<item><title>无日期</title><link>/a/relative.html</link><description>正文</description></item>
</channel></rss>""".encode()
    with caplog.at_level(logging.WARNING):
        outputs = _parse("generic", rss)
    assert len(outputs) == 1
    assert outputs[0].url == "https://example.org/a/relative.html" and outputs[0].published is None
    assert "no usable link" in caplog.text


def test_wrong_charset_header_does_not_crash(caplog: pytest.LogCaptureFixture) -> None:
    rss = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title>标题</title><link>https://example.org/1</link><description>正文</description></item>
</channel></rss>""".encode()
    with caplog.at_level(logging.WARNING):
        outputs = _parse("generic", rss, "application/xml; charset=iso-8859-1")
    assert len(outputs) == 1 and outputs[0].title == "标题"
    assert "charset iso-8859-1" in caplog.text and "declares utf-8" in caplog.text


def test_one_broken_entry_is_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    body = read_fixture(FIXTURES / "epochtimes/nsc413_2019-04-04.xml.gz")
    spider = make_spider("epochtimes", FEED)
    original = spider.entry_body
    calls = {"n": 0}

    def flaky(raw: object) -> str:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return original(raw)

    monkeypatch.setattr(spider, "entry_body", flaky)
    with caplog.at_level(logging.WARNING):
        outputs = collect(spider.parse_feed(make_response(FEED.url, body, RSS, {"feed": FEED})))
    assert len(outputs) == 59
    assert "skipped entry 2 of" in caplog.text and "RuntimeError: boom" in caplog.text


# -- article failures ---------------------------------------------------------------------------


def _article_request(spider_kind: str = "rfi") -> tuple[object, scrapy.Request]:
    feed = FeedConfig(url="https://www.rfi.fr/cn/rss", full_text=False)
    spider = make_spider(spider_kind, feed, ["rfi.fr"])
    entry = FeedEntry(
        outlet="rfi", title="t", url="https://www.rfi.fr/cn/a", body_html="摘要", full_text=False
    )
    request = scrapy.Request(entry.url, meta={"entry": entry, "article": True})
    return spider, request


def test_article_http_error_keeps_the_summary(caplog: pytest.LogCaptureFixture) -> None:
    spider, request = _article_request()
    response = HtmlResponse(request.url, status=404, body=b"gone", request=request)
    failure = Failure(HttpError(response, "Ignoring non-200 response"))
    failure.request = request
    with caplog.at_level(logging.WARNING):
        outputs = list(spider.article_failed(failure))
    assert len(outputs) == 1 and outputs[0].body_html == "摘要" and outputs[0].full_text is False
    assert "HTTP 404" in caplog.text


def test_article_dropped_by_middleware_yields_nothing() -> None:
    spider, request = _article_request()
    failure = Failure(AlreadyStored("already stored"))
    failure.request = request
    assert list(spider.article_failed(failure)) == []


def test_article_without_body_keeps_the_summary(caplog: pytest.LogCaptureFixture) -> None:
    spider, request = _article_request()
    response = HtmlResponse(request.url, body=b"<html><body></body></html>", request=request)
    with caplog.at_level(logging.WARNING):
        outputs = collect(spider.parse_article(response))
    assert outputs[0].body_html == "摘要" and outputs[0].full_text is False
    assert "no body extracted" in caplog.text


def test_article_page_fills_the_body() -> None:
    spider, request = _article_request()
    response = HtmlResponse(
        request.url, body=_rfi_page().encode(), request=request, encoding="utf-8"
    )
    (entry,) = collect(spider.parse_article(response))
    assert entry.full_text is True and entry.body_html.startswith("<div>30/11/2025 - 10:13</div>")


def test_feedparser_gets_no_content_encoding() -> None:
    raw = Headers({b"Content-Type": [b"text/xml"], b"Content-Encoding": [b"gzip"]})
    headers = feeds.response_headers(raw)
    assert headers == {"content-type": "text/xml"}
    rss = b"<rss version='2.0'><channel><item><title>a</title><link>https://e.org/1</link></item></channel></rss>"
    assert feeds.parse_feed(rss, headers).entries[0].title == "a"


def test_a_malformed_feed_parse_crosses_a_process_boundary_with_its_reason() -> None:
    import pickle

    cut = b"<rss version='2.0'><channel><item><title>a</title><link>https://e.org/1</link></item><item><title>b"
    headers = {"content-type": "application/rss+xml"}
    direct = feeds.parse_feed(cut, headers)
    portable = pickle.loads(pickle.dumps(feeds.parse_feed_portable(cut, headers)))
    reason = feeds.bozo_reason(direct)
    assert reason is not None and feeds.bozo_reason(portable) == reason
    assert [e.get("title") for e in portable.entries] == [e.get("title") for e in direct.entries]


@pytest.mark.parametrize("ref", ["&#xD800;", "&#55296;", "&#x110000;", "&#0;", "&#99999999999;"])
def test_a_character_reference_to_no_character_does_not_break_the_feed(ref: str) -> None:
    rss = (
        "<rss version='2.0'><channel><item><title>a" + ref + "b</title>"
        "<description>x"
        + ref
        + "y</description><link>https://e.org/1</link></item></channel></rss>"
    ).encode()
    parsed = feeds.parse_feed(rss, {"content-type": "application/rss+xml"})
    (entry,) = parsed.entries
    assert entry.link == "https://e.org/1"
    assert entry.title.startswith("a") and entry.title.endswith("b")
    entry.title.encode("utf-8")  # no lone surrogate left in the text


@pytest.mark.parametrize("kind", sorted(SPIDER_KINDS))
def test_the_crawl_uses_the_callbacks_the_tests_call(kind: str) -> None:
    """One callback path: the requests of a crawl name parse_feed / parse_article themselves."""
    feed = FeedConfig(url="https://example.org/feed.xml", full_text=False)
    spider = make_spider(kind, feed, ["example.org"])
    (request,) = list(spider.start_requests())
    assert request.callback == spider.parse_feed
    entry = FeedEntry(
        outlet=kind, title="t", url="https://example.org/a", body_html="摘要", full_text=False
    )
    follow = spider.follow_entry(entry, feed)
    assert isinstance(follow, scrapy.Request) and follow.callback == spider.parse_article
