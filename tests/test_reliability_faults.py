"""Fault injection: one real `feedwatch crawl` against a misbehaving local server, many feeds.

Each feed has its own fault (see FAULTS below) and its own slice of real Epoch Times items, so
the outcome of every feed is asserted separately from one crawl: one clear log line naming the
feed URL and the fault, the valid items stored (parsed and re-rendered byte for byte), the other
feeds unaffected, and the items stored by an earlier crawl neither lost nor changed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers.faultserver import (
    RSS_UTF8,
    Answer,
    FaultServer,
    gzip_bomb,
    item_link,
    item_title,
    nsc413,
    read_fixture,
    rss,
    to_traditional,
)

from store.format import StoredItem, parse_item, render_item
from store.urls import canonical_url

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]  # one subprocess crawl of 20 faults

MAX_BODY = 2_000_000  # http.max_body_bytes of the test config
TIMEOUT_S = 2  # http.timeout of the test config: stalls longer than this must fail


@dataclass
class Fault:
    """One feed of the fault crawl: what it serves, which items it carries, what must happen."""

    path: str
    answer: Answer
    items: list[str]  # the real RSS items it carries (for the URL sets it may store)
    log: str | None  # regex one log line must match after the feed URL (None: no fault)
    stored: str  # "all", "none", "some", "one" or "first-200"


def _faults(base: str) -> list[Fault]:
    _, items = nsc413()

    def chunk(i: int) -> list[str]:
        return items[i : i + 2]

    def body(i: int) -> bytes:
        return rss(chunk(i)).encode("utf-8")

    def undated(item: str) -> str:
        return re.sub(r"<pubDate>.*?</pubDate>", "", item)

    def future(item: str) -> str:
        return re.sub(
            r"<pubDate>.*?</pubDate>", "<pubDate>Fri, 01 Jan 2099 00:00:00 +0000</pubDate>", item
        )

    def with_guid(item: str, guid: str) -> str:
        return item.replace("</title>", f'</title><guid isPermaLink="false">{guid}</guid>', 1)

    control = [
        chunk(44)[0].replace("<title>", "<title>\x07bell\x1b[31m ", 1),
        chunk(44)[1].replace(".htm</link>", "\x01x.htm</link>", 1),
    ]
    control_text = rss(control)
    truncated = rss(chunk(4)).encode("utf-8")
    cut_at = truncated.index(b"</item>") + len(b"</item>") + 400  # the 2nd item is cut mid-body
    malformed = rss([chunk(6)[0].replace("</title>", " & <b>unclosed</title>", 1), chunk(6)[1]])
    oversized = body(26) + b"<!--" + b"x" * (MAX_BODY + 10) + b"-->"
    return [
        Fault(
            "/stall-headers.xml",
            Answer(body(8), stall_before=600),
            chunk(8),
            r"failed: DownloadTimeoutError: .*took longer than",
            "none",
        ),
        Fault(
            "/stall-body.xml",
            Answer(body(10), stall_after=300),
            chunk(10),
            r"failed: DownloadTimeoutError: .*took longer than",
            "none",
        ),
        Fault(
            "/reset.xml",
            Answer(body(12), reset=True),
            chunk(12),
            r"failed: \w+: .*Connection to the other side was lost",
            "none",
        ),
        *[
            Fault(
                f"/status-{code}.xml",
                Answer(body(14 + 2 * n), status=code),
                chunk(14 + 2 * n),
                rf"failed: HTTP {code}$",
                "none",
            )
            for n, code in enumerate((500, 502, 503, 404, 410))
        ],
        Fault(
            "/status-429.xml",
            Answer(body(24), status=429, headers={"Retry-After": "120"}),
            chunk(24),
            r"failed: HTTP 429$",
            "none",
        ),
        Fault(
            "/too-big.xml",
            Answer(oversized),
            chunk(26),
            r"failed: DownloadCancelledError: .*larger than download max size",
            "none",
        ),
        Fault(
            "/gzip-bomb.xml",
            Answer(gzip_bomb(20 * MAX_BODY), headers={"Content-Encoding": "gzip"}),
            [],
            r"failed: IgnoreRequest: .*exceeded DOWNLOAD_MAXSIZE .* during decompression",
            "none",
        ),
        Fault(
            "/loop-a.xml",
            Answer(status=302, headers={"Location": "/loop-b.xml"}),
            [],
            r"failed \(redirected to .*/loop-\w\.xml\): IgnoreRequest: max redirections reached",
            "none",
        ),
        Fault(
            "/redirect-localhost.xml",
            Answer(
                status=302,
                headers={"Location": base.replace("127.0.0.1", "localhost") + "/ok-28.xml"},
            ),
            [],
            r"failed \(redirected to http://localhost:.*\): RefusedRequest: refused localhost: a localhost name",
            "none",
        ),
        Fault(
            "/redirect-loopback.xml",
            Answer(
                status=301,
                headers={"Location": base.replace("127.0.0.1", "127.0.0.2") + "/ok-28.xml"},
            ),
            [],
            r"failed \(redirected to http://127\.0\.0\.2:.*\): RefusedRequest: refused 127\.0\.0\.2: a loopback address",
            "none",
        ),
        Fault(
            "/gbk-lying-header.xml",
            Answer(rss(chunk(30), "GBK").encode("gbk", "xmlcharrefreplace"), content_type=RSS_UTF8),
            chunk(30),
            r"header says charset utf-8, the XML declares gbk",
            "all",
        ),
        Fault(
            "/big5-no-charset.xml",
            Answer(
                to_traditional(rss(chunk(32), "Big5")).encode("big5", "xmlcharrefreplace"),
                content_type="application/rss+xml",
            ),
            chunk(32),
            None,
            "all",
        ),
        Fault(
            "/utf8-bom-lying-header.xml",
            Answer(
                b"\xef\xbb\xbf" + body(34), content_type="application/rss+xml; charset=iso-8859-1"
            ),
            chunk(34),
            r"header says charset iso-8859-1, the XML declares utf-8",
            "all",
        ),
        Fault(
            "/truncated.xml",
            Answer(truncated[:cut_at]),
            chunk(4),
            r" ends inside entry 2; skipped that entry",
            "some",
        ),
        Fault(
            "/malformed.xml",
            Answer(malformed.encode("utf-8")),
            chunk(6),
            r" \(et\): SAXParseException: .*not well-formed",
            "all",
        ),
        Fault(
            "/html-not-feed.xml",
            Answer(
                read_fixture("rfi/rfi_article_20251130_taiwan-defense.html.gz"),
                content_type="text/html; charset=utf-8",
            ),
            [],
            r" \(et\): SAXParseException: .*not well-formed",
            "none",
        ),
        Fault("/empty.xml", Answer(b""), [], r"\(\w+\)$", "none"),
        Fault(
            "/duplicate-guids.xml",
            Answer(rss([with_guid(i, "dup-guid-1") for i in items[36:39]]).encode()),
            items[36:39],
            None,
            "one",
        ),
        Fault(
            "/undated.xml",
            Answer(rss([undated(i) for i in chunk(40)]).encode()),
            chunk(40),
            None,
            "all",
        ),
        Fault(
            "/future.xml",
            Answer(rss([future(i) for i in chunk(42)]).encode()),
            chunk(42),
            None,
            "all",
        ),
        Fault(
            "/control-chars.xml",
            Answer(control_text.encode()),
            control,
            r"\(\w+\): .*not well-formed",
            "all",
        ),
        Fault("/ok-28.xml", Answer(body(28)), chunk(28), None, "all"),
    ]


def _flood_feed(base: str) -> bytes:
    """230 entries: the 60 real nsc413 items cycled with distinct links (built by us)."""
    _, items = nsc413()
    flood = [
        re.sub(
            r"<link>.*?</link>",
            f"<link>http://www.epochtimes.com/gb/flood/n{90_000_000 + n}.htm</link>",
            items[n % 60],
            count=1,
        ).replace("<title>", f"<title>#{n} ", 1)
        for n in range(230)
    ]
    return rss(flood).encode("utf-8")


def _config(base: str, faults: list[Fault], folder: Path) -> Path:
    feeds = "\n".join(f'      - {{url: "{base}{f.path}", full_text: true}}' for f in faults)
    config = folder / "config.yaml"
    config.write_text(
        f"""
archive_dir: archive
state_db: state/feedwatch.sqlite3
http: {{timeout: {TIMEOUT_S}, max_body_bytes: {MAX_BODY}}}
dedup: {{enabled: false}}  # the flood feed repeats real texts on purpose
outlets:
  control:
    spider: generic
    feeds: [{{url: "{base}/feedx/rfi.xml", via: feedx, full_text: true}}]
  et:
    spider: epochtimes
    feeds:
{feeds}
  flood:
    spider: epochtimes
    feeds: [{{url: "{base}/flood.xml", full_text: true}}]
""",
        encoding="utf-8",
    )
    return config


def _crawl(config: Path, *outlets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedwatch", "crawl", *outlets, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=200,
        cwd=config.parent,
    )


def _stored(archive: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(archive.rglob("*.txt"))}


@dataclass
class CrawlResult:
    base: str
    faults: dict[str, Fault]
    before: dict[Path, bytes]
    after: dict[Path, bytes]
    items: dict[str, StoredItem]  # canonical URL -> stored item
    log_lines: list[str]
    stdout: str
    started_ms: int
    ended_ms: int


@pytest.fixture(scope="module")
def fault_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrawlResult]:
    folder = tmp_path_factory.mktemp("faults")
    with FaultServer() as server:
        base = server.base_url
        faults = _faults(base)
        for fault in faults:
            server.add(fault.path, fault.answer)
        server.add("/loop-b.xml", Answer(status=302, headers={"Location": "/loop-a.xml"}))
        server.add("/feedx/rfi.xml", Answer(read_fixture("rfi/feedx_rfi_reconstructed.xml")))
        server.add("/flood.xml", Answer(_flood_feed(base)))
        config = _config(base, faults, folder)
        # An earlier crawl stored the control outlet: the fault crawl must not touch its files.
        first = _crawl(config, "control")
        assert "control: feeds 1 parsed, 0 unchanged, 0 failed" in first.stdout, first.stderr
        before = _stored(folder / "archive")
        started = int(time.time() * 1000)
        result = _crawl(config)
        ended = int(time.time() * 1000)
    after = _stored(folder / "archive")
    items = {}
    for path, data in after.items():
        item = parse_item(data)
        assert render_item(item) == data, path  # every stored file round-trips byte for byte
        items[canonical_url(item.url)] = item
    yield CrawlResult(
        base,
        {f.path: f for f in faults},
        before,
        after,
        items,
        result.stderr.splitlines(),
        result.stdout,
        started,
        ended,
    )


def test_other_feeds_unaffected_and_nothing_lost(fault_crawl: CrawlResult) -> None:
    assert len(fault_crawl.before) == 7  # the control outlet: 7 real feedx RFI items
    for path, data in fault_crawl.before.items():
        assert fault_crawl.after.get(path) == data, f"{path} lost or changed by the fault crawl"
    assert (
        "control: feeds 0 parsed, 1 unchanged, 0 failed; pages 0; stories 0 new"
        in fault_crawl.stdout
    )  # conditional GET
    assert "Traceback" not in "\n".join(fault_crawl.log_lines)
    # The good feed among the faulty ones stored all of its items.
    for item in fault_crawl.faults["/ok-28.xml"].items:
        assert canonical_url(item_link(item)) in fault_crawl.items


FAULT_PATHS = [
    "/stall-headers.xml", "/stall-body.xml", "/reset.xml", "/status-500.xml", "/status-502.xml",
    "/status-503.xml", "/status-404.xml", "/status-410.xml", "/status-429.xml", "/too-big.xml",
    "/gzip-bomb.xml", "/loop-a.xml", "/redirect-localhost.xml", "/redirect-loopback.xml",
    "/gbk-lying-header.xml", "/utf8-bom-lying-header.xml", "/truncated.xml", "/malformed.xml",
    "/html-not-feed.xml", "/empty.xml", "/control-chars.xml",
]  # fmt: skip


@pytest.mark.parametrize("path", FAULT_PATHS)
def test_each_fault_is_logged_once_in_one_line_naming_the_feed(
    fault_crawl: CrawlResult, path: str
) -> None:
    fault = fault_crawl.faults[path]
    url = re.escape(fault_crawl.base + path)
    pattern = re.compile(rf"(WARNING|ERROR) [\w.]+: .*{url}.*{fault.log}")
    matching = [line for line in fault_crawl.log_lines if pattern.search(line)]
    assert matching, f"no log line for {path} matching {pattern.pattern}"
    # The spider reports the failure once (Scrapy may add its own line for size caps).
    spider_lines = [
        line
        for line in fault_crawl.log_lines
        if "spiders.base" in line and fault_crawl.base + path in line
    ]
    assert len(spider_lines) <= 2, spider_lines


@pytest.mark.parametrize(
    "path",
    [p for p in FAULT_PATHS]
    + ["/big5-no-charset.xml", "/undated.xml", "/future.xml", "/duplicate-guids.xml"],
)
def test_each_fault_stores_exactly_the_valid_items(fault_crawl: CrawlResult, path: str) -> None:
    fault = fault_crawl.faults[path]
    urls = [canonical_url(item_link(i).replace("\x01", "%01")) for i in fault.items]
    stored = [u for u in urls if u in fault_crawl.items]
    expected = {"none": 0, "all": len(urls), "one": 1}
    if fault.stored in expected:
        assert len(stored) == expected[fault.stored], (path, stored)
    else:  # "some": what the parser could recover, never a half item
        assert len(stored) < len(urls), path
    for url, raw in zip(urls, fault.items, strict=True):
        if url in fault_crawl.items:
            item = fault_crawl.items[url]
            assert item.body.startswith("<p>"), (path, item.body[:80])
            title = item_title(raw)
            if "big5" in path:
                title = to_traditional(title)
            if "control" not in path and "malformed" not in path:
                assert item.title == " ".join(title.split()) or item.title == title, (
                    item.title,
                    title,
                )


def test_entries_without_dates_or_with_future_dates_get_the_first_seen_time(
    fault_crawl: CrawlResult,
) -> None:
    for path in ("/undated.xml", "/future.xml"):
        for raw in fault_crawl.faults[path].items:
            item = fault_crawl.items[canonical_url(item_link(raw))]
            assert fault_crawl.started_ms <= item.ts <= fault_crawl.ended_ms, (path, item.ts)
    dated = fault_crawl.items[canonical_url(item_link(fault_crawl.faults["/ok-28.xml"].items[0]))]
    assert dated.ts < fault_crawl.started_ms  # a real 2019 pubDate is kept


def test_a_feed_with_too_many_entries_is_capped_per_run(fault_crawl: CrawlResult) -> None:
    flood = [u for u in fault_crawl.items if re.search(r"/n900\d{5}$", u)]
    assert len(flood) == 200  # FEEDWATCH_MAX_ITEMS_PER_FEED default
    assert any(
        re.search(r"flood\.xml has 230 entries; taking the first 200", line)
        for line in fault_crawl.log_lines
    )


def test_gzip_bomb_is_stopped_by_the_decompression_cap(fault_crawl: CrawlResult) -> None:
    # Scrapy checks DOWNLOAD_MAXSIZE against the decompressed size while inflating.
    lines = [
        line
        for line in fault_crawl.log_lines
        if "gzip-bomb.xml" in line and "DOWNLOAD_MAXSIZE" in line
    ]
    assert lines and f"({MAX_BODY} B)" in lines[0]
