"""WARC record/replay middlewares and the bundled snapshot (crawler/replay.py, feedwatch/data)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import logging
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import feedparser
import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import HtmlResponse, Response, TextResponse, XmlResponse
from scrapy.utils.test import get_crawler
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from conf.schema import load_config
from crawler.replay import (
    ReplayError,
    WarcRecordMiddleware,
    WarcReplayMiddleware,
    load_index,
    open_replay,
)
from store.urls import canonical_url

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "feedwatch" / "data" / "snapshot.warc.gz"
SNAPSHOT_MD = ROOT / "feedwatch" / "data" / "SNAPSHOT.md"
CRAWL = Path(__file__).with_name("replay_crawl.py")


def _config_feed_urls() -> list[str]:
    """The feed URLs of the demo config: the snapshot answers every one."""
    config = load_config(ROOT / "feedwatch" / "data" / "demo-config.yaml")  # spec feeds filled in
    return [feed.url for outlet in config.outlets.values() for feed in outlet.feeds]


def _warc_responses(path: Path) -> dict[str, tuple[StatusAndHeaders, bytes, bytes]]:
    """URL -> (HTTP headers, raw payload, decoded payload), read with warcio directly."""
    out = {}
    for decode in (False, True):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type != "response":
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI")
                body = record.content_stream().read() if decode else record.raw_stream.read()
                if decode:
                    headers, raw, _ = out[url]
                    out[url] = (headers, raw, body)
                else:
                    out[url] = (record.http_headers, body, b"")
    return out


def _replay_mw(path: Path, **settings: object) -> tuple[WarcReplayMiddleware, object]:
    crawler = get_crawler(settings_dict={"FEEDWATCH_REPLAY": str(path), **settings})
    return WarcReplayMiddleware.from_crawler(crawler), crawler


def _run_crawl(tmp_path: Path, name: str, urls: list[str], *flags: str) -> tuple[list[dict], str]:
    out = tmp_path / f"{name}.jsonl"
    proc = subprocess.run(
        [sys.executable, str(CRAWL), str(out), *urls, *flags],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    return lines, proc.stderr


# --- the bundled snapshot -------------------------------------------------------------------


def test_snapshot_answers_every_config_feed_with_the_recorded_bytes() -> None:
    recorded = _warc_responses(SNAPSHOT)
    mw, crawler = _replay_mw(SNAPSHOT)
    compression = HttpCompressionMiddleware.from_crawler(crawler)
    urls = _config_feed_urls()
    for url in urls:
        response = mw.process_request(Request(url))
        assert response is not None and response.status == 200, url
        assert response.body == recorded[url][1], url
        # Scrapy's own decompression then gives the spider the decoded body, typed by content.
        decoded = compression.process_response(response.request, response)
        assert decoded.body == recorded[url][2], url
        expected = TextResponse if url.endswith(".md") else XmlResponse
        assert type(decoded) is expected, url
        assert "replay" in response.flags
    assert crawler.stats.get_value("replay/hit") == len(urls)
    assert crawler.stats.get_value("replay/miss") is None


def test_snapshot_feeds_parse_and_carry_validators() -> None:
    for url, (headers, raw, body) in _warc_responses(SNAPSHOT).items():
        content_type = headers.get_header("Content-Type")
        assert "charset=" in content_type.lower(), url
        assert int(headers.get_header("Content-Length")) == len(raw), url
        if headers.get_header("Content-Encoding") == "gzip":
            assert raw[:2] == b"\x1f\x8b" and gzip.decompress(raw) == body, url
        if "xml" in content_type:
            assert headers.get_header("ETag") and headers.get_header("Last-Modified"), url
            parsed = feedparser.parse(body, response_headers={"content-type": content_type})
            assert not parsed.bozo, (url, parsed.get("bozo_exception"))


SUMMARY_FEEDS = (
    "https://www.rfi.fr/cn/rss",
    "https://www.rfi.fr/tw/rss",
    "https://rss.dw.com/rdf/rss-chi-all",
    "https://www.voachinese.com/api/zm_yql-vomx-tpeybti",
)
TWINS = (
    ("https://www.rfi.fr/cn/rss", "https://feedx.net/rss/rfi.xml"),
    ("https://rss.dw.com/rdf/rss-chi-all", "https://feedx.net/rss/dw.xml"),
    ("https://www.voachinese.com/api/zm_yql-vomx-tpeybti", "https://feedx.net/rss/mgzy1.xml"),
)


def _links(recorded: dict[str, tuple[StatusAndHeaders, bytes, bytes]], feed: str) -> list[str]:
    return [Request(e.link).url for e in feedparser.parse(recorded[feed][2]).entries]


def test_every_summary_entry_has_its_page_and_only_rfi_has_a_real_one() -> None:
    recorded = _warc_responses(SNAPSHOT)
    pages = {feed: _links(recorded, feed) for feed in SUMMARY_FEEDS}
    for feed, links in pages.items():
        assert len(links) >= 2, feed
        missing = [link for link in links if link not in recorded]
        assert missing == [], feed  # the demo expects no article request to miss
    built = [
        u for links in pages.values() for u in links if b"BUILT BY feedwatch" in recorded[u][2]
    ]
    real = [u for links in pages.values() for u in links if u not in built]
    assert len(real) == 1 and real[0] in pages["https://www.rfi.fr/cn/rss"]
    page = recorded[real[0]][2].decode("utf-8")
    assert "t-content__body" in page and f'<link rel="canonical" href="{real[0]}">' in page
    # The RFI Traditional edition is built from Simplified items and is Traditional text.
    tw = recorded[pages["https://www.rfi.fr/tw/rss"][0]][2].decode("utf-8")
    assert "OpenCC" in recorded["https://www.rfi.fr/tw/rss"][2].decode() and "國" in tw


def test_feedx_twins_repeat_the_direct_feeds_stories() -> None:
    recorded = _warc_responses(SNAPSHOT)
    for direct, twin in TWINS:
        ids = [{canonical_url(u) for u in _links(recorded, url)} for url in (direct, twin)]
        assert len(ids[0] & ids[1]) >= 5, (direct, twin)


def test_mirror_index_links_resolve_to_recorded_pages() -> None:
    recorded = _warc_responses(SNAPSHOT)
    index_url = next(u for u in recorded if u.endswith("/README.md"))
    links = re.findall(r"^#### \[[^\]]*\]\(([^)]+)\)", recorded[index_url][2].decode(), re.M)
    assert len(links) >= 3
    for link in links:
        page_url = urljoin(index_url, link)
        assert page_url in recorded, page_url
        assert "原文链接（需翻墙）：https://www.epochtimes.com/" in recorded[page_url][2].decode()


def test_snapshot_md_lists_exactly_the_recorded_urls() -> None:
    listed = re.findall(r"^\| (https?://\S+) \|", SNAPSHOT_MD.read_text("utf-8"), re.M)
    assert sorted(listed) == sorted(_warc_responses(SNAPSHOT))
    assert f"{SNAPSHOT.stat().st_size:,} bytes" in SNAPSHOT_MD.read_text("utf-8")


def test_replay_crawl_of_the_snapshot(tmp_path: Path) -> None:
    recorded = _warc_responses(SNAPSHOT)
    missing = "https://www.rfi.fr/cn/not-in-the-snapshot"
    urls = _config_feed_urls()
    lines, log = _run_crawl(tmp_path, "snap", [*urls, missing], "--replay", str(SNAPSHOT))
    stats = lines[-1]
    seen = {line["url"]: line for line in lines[:-1]}
    assert stats["exceptions"] == 0
    assert stats["stats"]["replay/hit"] == len(urls)
    assert stats["stats"]["replay/miss"] == 1
    for url in urls:
        # What the spider sees is the decoded body (gzip records went through HttpCompression).
        assert seen[url]["sha256"] == hashlib.sha256(recorded[url][2]).hexdigest(), url
        assert seen[url]["status"] == 200
    assert seen[missing]["status"] == 404 and "replay-miss" in seen[missing]["flags"]
    # One warning sums the misses up (each miss itself is a DEBUG line).
    assert (
        log.count(f"1 request(s) not in the replay snapshot were answered 404, first: {missing}")
        == 1
    )


# --- lookup, misses, limits -------------------------------------------------------------------


def test_loose_lookup_matches_tracking_free_and_canonical_forms() -> None:
    mw, _ = _replay_mw(SNAPSHOT)
    recorded = _warc_responses(SNAPSHOT)
    url = next(u for u in recorded if "a-55271975" in u)
    assert "?maca=" in url  # DW's RDF links carry a tracking parameter
    bare = url.split("?")[0]
    retitled = "https://www.dw.com/zh/%E6%A0%BC%E6%9E%97/a-55271975"
    for variant in (bare, retitled):
        response = mw.process_request(Request(variant))
        assert response.status == 200 and response.body == recorded[url][1], variant
        assert isinstance(response, HtmlResponse)
        assert response.url == variant


def test_miss_is_a_404_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    mw, crawler = _replay_mw(SNAPSHOT)
    url = "https://www.voachinese.com/a/not-recorded/1.html"
    with caplog.at_level(logging.DEBUG, logger="crawler.replay"):
        response = mw.process_request(Request(url))
    assert response.status == 404 and response.flags == ["replay", "replay-miss"]
    assert [r.getMessage() for r in caplog.records] == [f"not in replay snapshot: {url}"]
    assert crawler.stats.get_value("replay/miss") == 1


def test_local_schemes_pass_through() -> None:
    mw, _ = _replay_mw(SNAPSHOT)
    assert mw.process_request(Request("data:,hello")) is None


def test_download_maxsize_applies_to_replayed_bodies() -> None:
    mw, _ = _replay_mw(SNAPSHOT, DOWNLOAD_MAXSIZE=1000)
    with pytest.raises(IgnoreRequest, match="DOWNLOAD_MAXSIZE"):
        mw.process_request(Request("https://www.epochtimes.com/gb/nsc413.xml"))
    small = mw.process_request(Request("https://www.epochtimes.com/gb/nsc423.xml"))
    assert small.status == 200


def _write_warc(path: Path, captures: list[tuple[str, int, bytes]]) -> None:
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=path.name.endswith(".gz"))
        for url, status, body in captures:
            http = StatusAndHeaders(
                f"{status} X", [("Content-Type", "text/plain; charset=utf-8")], "HTTP/1.1"
            )
            writer.write_record(
                writer.create_warc_record(
                    url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http
                )
            )


def test_repeated_captures_are_served_in_order_last_repeats(tmp_path: Path) -> None:
    path = tmp_path / "twice.warc.gz"
    url = "http://127.0.0.1:9/feed"
    _write_warc(path, [(url, 200, b"first"), (url, 304, b""), ("http://127.0.0.1:9/x", 200, b"x")])
    mw, _ = _replay_mw(path)
    served = [(r.status, r.body) for r in (mw.process_request(Request(url)) for _ in range(3))]
    assert served == [(200, b"first"), (304, b""), (304, b"")]


def test_not_configured_without_setting() -> None:
    for cls in (WarcReplayMiddleware, WarcRecordMiddleware):
        with pytest.raises(NotConfigured):
            cls.from_crawler(get_crawler())


# --- bad files: one clear error at startup ---------------------------------------------------


def _bad_files(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    good = tmp_path / "good.warc.gz"
    _write_warc(good, [("http://127.0.0.1:9/a", 200, b"<p>alpha</p>" * 50)])
    data = good.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) // 2])
    yield cut, "not a readable WARC"
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(gzip.compress(b"this is not a WARC file\n"))
    yield junk, "not a readable WARC"
    flipped = tmp_path / "flipped.warc"
    flipped.write_bytes(gzip.decompress(data).replace(b"alpha", b"ALPHA", 1))
    yield flipped, "digest"
    short = tmp_path / "short.warc"
    raw = gzip.decompress(data)
    short.write_bytes(raw[: raw.index(b"alpha") + 3])
    yield short, "truncated"
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    yield empty, "no HTTP response records"
    yield tmp_path / "absent.warc.gz", "no such file"
    wrong = tmp_path / "snapshot.zip"
    wrong.write_bytes(data)
    yield wrong, "expected a .warc.gz"


def test_bad_replay_files_give_one_line_errors(tmp_path: Path) -> None:
    cases = list(_bad_files(tmp_path))
    for path, reason in cases:
        with pytest.raises(ReplayError) as info:
            open_replay(path)
        message = str(info.value)
        assert reason in message and str(path) in message, message
        assert "\n" not in message
        with pytest.raises(ReplayError):
            _replay_mw(path)
    assert len(load_index(tmp_path / "good.warc.gz")) == 1


# --- record, then replay with the server gone --------------------------------------------------

FEED = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>本地</title><item><title>一</title><link>http://x/1</link></item></channel></rss>'.encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/feed.xml":
            body = gzip.compress(FEED, mtime=0)
            headers = {
                "Content-Type": "application/rss+xml; charset=utf-8",
                "Content-Encoding": "gzip",
                "ETag": '"v1"',
                "Last-Modified": "Sat, 15 Feb 2025 08:17:04 GMT",
            }
            self._send(200, headers, body)
        elif self.path == "/old":
            self._send(301, {"Location": "/target.html"}, b"")
        elif self.path == "/target.html":
            self._send(200, {"Content-Type": "text/html; charset=utf-8"}, "<p>目标</p>".encode())
        elif self.path == "/chunked.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"<html><body>", "<p>分块</p></body></html>".encode()):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(404, {"Content-Type": "text/plain; charset=utf-8"}, b"gone")


@pytest.mark.slow
def test_record_then_replay_with_the_server_stopped(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    urls = [f"{base}/feed.xml", f"{base}/old", f"{base}/chunked.html", f"{base}/missing"]
    warc = tmp_path / "rec" / "crawl.warc.gz"
    try:
        live, _ = _run_crawl(tmp_path, "live", urls, "--record", str(warc))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    replayed, _ = _run_crawl(tmp_path, "replay", urls, "--replay", str(warc))

    def responses(lines: list[dict]) -> list[dict]:
        return sorted(
            ({k: v for k, v in line.items() if k != "flags"} for line in lines[:-1]),
            key=lambda line: line["url"],
        )

    assert responses(replayed) == responses(live)
    assert {line["url"] for line in live[:-1]} == {
        f"{base}/feed.xml",
        f"{base}/target.html",  # followed the recorded 301, on replay too
        f"{base}/chunked.html",
        f"{base}/missing",
    }
    feed = next(line for line in replayed if line.get("url") == f"{base}/feed.xml")
    assert feed["class"] == "XmlResponse" and feed["sha256"] == hashlib.sha256(FEED).hexdigest()
    assert live[-1]["stats"]["record/responses"] == 5
    assert replayed[-1]["stats"]["replay/hit"] == 5 and replayed[-1]["exceptions"] == 0

    # The WARC holds raw bodies (gzip as sent), de-chunked bodies without Transfer-Encoding,
    # and a request record tied to each response.
    by_type: dict[str, list] = {"request": [], "response": []}
    with warc.open("rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type in by_type:
                body = record.raw_stream.read()
                by_type[record.rec_type].append((record.rec_headers, record.http_headers, body))
    responses_by_url = {
        h.get_header("WARC-Target-URI"): (http, b) for h, http, b in by_type["response"]
    }
    feed_http, feed_raw = responses_by_url[f"{base}/feed.xml"]
    assert feed_http.get_header("Content-Encoding") == "gzip" and gzip.decompress(feed_raw) == FEED
    chunk_http, chunk_raw = responses_by_url[f"{base}/chunked.html"]
    assert chunk_http.get_header("Transfer-Encoding") is None
    assert chunk_raw == "<html><body><p>分块</p></body></html>".encode()
    assert responses_by_url[f"{base}/old"][0].get_statuscode() == "301"
    response_ids = {h.get_header("WARC-Record-ID") for h, _, _ in by_type["response"]}
    assert {h.get_header("WARC-Concurrent-To") for h, _, _ in by_type["request"]} == response_ids


def test_record_writer_is_shared_by_crawlers_of_one_process(tmp_path: Path) -> None:
    path = tmp_path / "shared.warc.gz"
    mws = [
        WarcRecordMiddleware.from_crawler(
            get_crawler(settings_dict={"FEEDWATCH_RECORD": str(path)})
        )
        for _ in range(2)
    ]
    for i, mw in enumerate(mws):
        request = Request(f"http://127.0.0.1:9/{i}")
        response = Response(request.url, status=200, body=b"body %d" % i, request=request)
        assert mw.process_response(request, response) is response
    for mw in mws:
        mw.spider_closed()
    index = load_index(path)
    assert index.urls() == ["http://127.0.0.1:9/0", "http://127.0.0.1:9/1"]
    assert index.lookup("http://127.0.0.1:9/1").body == b"body 1"
