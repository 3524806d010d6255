"""Log noise: one line per failed feed, one warning for a replay's misses, error counts that
add up, and no "disabled" warning on `fetch`."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.http import Request
from scrapy.utils.test import get_crawler
from servers.feedserver import FeedServer

from crawler.replay import WarcReplayMiddleware
from feedwatch.crawl import CrawlSummaries, ErrorCounter, OutletSummary, format_summary

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "feedwatch" / "data" / "snapshot.warc.gz"
RSS = "application/rss+xml; charset=utf-8"
FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>t</title><link>http://127.0.0.1/</link><description>d</description>
<item><title>One</title><link>http://127.0.0.1/a/1</link><guid>1</guid>
<pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate><description>&lt;p&gt;Full text of one.&lt;/p&gt;</description></item>
</channel></rss>"""


def _feedwatch(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedwatch", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def _log_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " WARNING " in line or " ERROR " in line]


@pytest.mark.slow
def test_an_unreachable_feed_is_one_line_and_the_totals_add_up(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "outlets:\n"
        "  one:\n    feeds: [{url: 'https://feedwatch-test.invalid/feed.xml'}]\n"
        "  two:\n    feeds: [{url: 'https://feedwatch-test2.invalid/rss'}]\n",
        encoding="utf-8",
    )
    done = _feedwatch("crawl", cwd=tmp_path)
    assert done.returncode == 1
    lines = _log_lines(done.stderr)
    # Before: three backoff lines (one per retry), Scrapy's "Gave up retrying" and ours.
    assert len(lines) == 2, done.stderr
    assert sum("feedwatch-test.invalid" in line for line in lines) == 1
    assert "one: feeds 0 parsed, 0 unchanged, 1 failed" in done.stdout
    assert "errors 0" in done.stdout.splitlines()[0]
    assert done.stdout.splitlines()[-1] == "total: 0 new items, 2 feeds failed, 0 errors"


@pytest.mark.slow
def test_fetch_logs_nothing_on_success(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("outlets: {}\n", encoding="utf-8")
    with FeedServer({"/rss": (FEED, RSS)}) as server:
        done = _feedwatch("fetch", f"{server.base_url}/rss", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[One](http://127.0.0.1/a/1)" in done.stdout
    assert (
        done.stderr == ""
    )  # was: "Disabled ...ConditionalGetMiddleware: HTTPSTATE_ENABLED is off"


def test_replay_misses_are_summed_up_in_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    crawler = get_crawler(settings_dict={"FEEDWATCH_REPLAY": str(SNAPSHOT)})
    mw = WarcReplayMiddleware.from_crawler(crawler)
    urls = [f"https://www.voachinese.com/a/not-recorded/{n}.html" for n in range(3)]
    with caplog.at_level(logging.DEBUG, logger="crawler.replay"):
        for url in urls:
            assert mw.process_request(Request(url)).status == 404
        mw.spider_closed()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        f"3 request(s) not in the replay snapshot were answered 404, first: {urls[0]}"
    ]


@pytest.mark.slow
def test_replay_crawl_of_the_bundled_snapshot_has_no_per_page_warnings(tmp_path: Path) -> None:
    config = ROOT / "feedwatch" / "data" / "demo-config.yaml"
    text = config.read_text(encoding="utf-8")
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    done = _feedwatch("crawl", "--replay", str(SNAPSHOT), "--log-level", "WARNING", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = _log_lines(done.stderr)
    outlets = len(done.stdout.splitlines()) - 1
    # At most one summary line per outlet (was about 180 lines: two per missing page, and one
    # per empty placeholder feed).
    assert len(lines) <= outlets, done.stderr
    assert all("request(s) not in the replay snapshot" in line for line in lines), lines


class _Spider:
    def __init__(self, name: str) -> None:
        self.name = self.outlet_name = name


def test_errors_are_counted_per_outlet_once() -> None:
    counter = ErrorCounter()
    log = logging.getLogger("scrapy.core.scraper")
    log.addHandler(counter)
    try:
        log.error("Spider error processing", extra={"spider": _Spider("rfi")})
        log.error("Error processing item", extra={"spider": _Spider("rfi")})
        log.error("Spider error processing", extra={"spider": _Spider("dw")})
        log.warning("not an error", extra={"spider": _Spider("dw")})
        log.error("no spider at all")
    finally:
        log.removeHandler(counter)
    assert counter.by_outlet == {"rfi": 2, "dw": 1, None: 1}
    summaries = CrawlSummaries(
        [OutletSummary("rfi", errors=2), OutletSummary("dw", errors=1, feed_errors=1)]
    )
    summaries.unattributed_errors = 1
    last = format_summary(summaries).splitlines()[-1]
    assert last == "total: 0 new items, 1 feeds failed, 4 errors (1 outside any outlet)"


@pytest.mark.slow
def test_verbose_is_our_own_lines_and_scrapy_waits_for_debug(tmp_path: Path) -> None:
    with FeedServer({"/rss": (FEED, RSS)}) as server:
        (tmp_path / "config.yaml").write_text(
            f"outlets:\n  local:\n    feeds: [{{url: '{server.base_url}/rss', full_text: true}}]\n",
            encoding="utf-8",
        )
        verbose = _feedwatch("-v", "crawl", cwd=tmp_path)
        debug = _feedwatch("crawl", "-vv", "--force", cwd=tmp_path)
    assert verbose.returncode == 0 and debug.returncode == 0, verbose.stderr + debug.stderr
    # Stored by the ingest consumer beside the crawl, in the same format.
    assert " INFO ingest.consumer: stored http://127.0.0.1/a/1" in verbose.stderr
    # Before: Scrapy's settings dump, its middleware lists and a stats dump, at INFO.
    assert " INFO scrapy." not in verbose.stderr
    assert "Overridden settings" not in verbose.stderr
    assert "Overridden settings" in debug.stderr and " DEBUG scrapy." in debug.stderr
