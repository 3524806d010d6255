"""End to end: `feedwatch crawl` against the local FeedServer serving real feeds.

First crawl vs second crawl (only 304s, no article request, no file written), a changed feed
(exactly its new items), a stalled feed (one download timeout), and a scheduled crawl (the
daemon's real subprocess command). Each crawl is a real `python -m feedwatch crawl` process.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.feedserver import FeedServer

from conf.schema import load_config
from scheduler.daemon import Daemon, DaemonOptions
from scheduler.jobstate import JobStateDB

pytestmark = pytest.mark.slow  # subprocess crawls, a stalled feed, a daemon

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "scheduler"
DW_ITEMS = 8  # DW items kept for the test (each one costs an article request on crawl 1)
ET_HELD_BACK = 3  # newest Epoch Times items served only after the feed "changes"

# `python -m feedwatch` with the ConditionalGetMiddleware in the downloader middlewares, so the
# test exercises it whether or not crawler/settings.py lists it yet (adding it twice is a no-op).
DRIVER = textwrap.dedent(
    """
    import sys
    from crawler import settings
    from crawler.httpstate import MIDDLEWARE_ORDER, MIDDLEWARE_PATH
    settings.DOWNLOADER_MIDDLEWARES = {
        **settings.DOWNLOADER_MIDDLEWARES, MIDDLEWARE_PATH: MIDDLEWARE_ORDER
    }
    from feedwatch.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def dw_feed(base_url: str) -> tuple[bytes, dict[str, bytes]]:
    """The real DW RDF feed cut to DW_ITEMS items, links moved to the local server + pages."""
    raw = (FIXTURES / "greatfire_dw.xml_2015-03-16.xml").read_bytes()
    items = re.findall(rb"<item .*?</item>", raw, re.S)
    head, tail = raw.split(items[0], 1)[0], raw.rsplit(items[-1], 1)[1]
    feed = head + b"\n".join(items[:DW_ITEMS]) + tail
    pages: dict[str, bytes] = {}
    for item in items[:DW_ITEMS]:
        article_id = re.search(rb"/a-(\d+)\?", item).group(1).decode()
        title = re.search(rb"<title>(.*?)</title>", item, re.S).group(1).decode()
        summary = re.search(rb"<description>(.*?)</description>", item, re.S).group(1).decode()
        # Built by us from the real item: DW article HTML is not in the corpus.
        pages[f"/dw/a-{article_id}.html"] = (
            f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
            f"<p>{summary}</p><p>{summary}</p><p>{summary}</p></article></body></html>"
        ).encode()
    feed = re.sub(
        rb"http://www\.dw\.de/[^\"<]*?/a-(\d+)\?maca=[^\"<]*",
        lambda m: f"{base_url}/dw/a-{m.group(1).decode()}.html".encode(),
        feed,
    )
    return feed, pages


def epoch_feed(held_back: int) -> bytes:
    """The real Epoch Times nsc413 feed, without its `held_back` newest items."""
    raw = (FIXTURES / "nsc413_2019-04-04_reconstructed.xml").read_bytes()
    items = re.findall(rb"<item>.*?</item>", raw, re.S)
    for item in items[:held_back]:
        raw = raw.replace(item, b"", 1)
    return raw


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[FeedServer, Path]]:
    with FeedServer() as server:
        feed, pages = dw_feed(server.base_url)
        server.set_route("/dw.rdf", feed, "application/rdf+xml")
        for path, body in pages.items():
            server.set_route(path, body, "text/html; charset=utf-8")
        server.set_route("/nsc413.xml", epoch_feed(ET_HELD_BACK))
        config = tmp_path / "config.yaml"
        config.write_text(
            textwrap.dedent(
                f"""
                archive_dir: archive
                state_db: state/feedwatch.sqlite3
                http: {{timeout: 2, concurrent_requests: 8}}
                outlets:
                  dwtest:
                    spider: generic
                    domains: [127.0.0.1]
                    feeds: [{{url: "{server.base_url}/dw.rdf", full_text: false}}]
                  ettest:
                    spider: generic
                    feeds: [{{url: "{server.base_url}/nsc413.xml", full_text: true}}]
                """
            )
        )
        (tmp_path / "driver.py").write_text(DRIVER)
        yield server, tmp_path


def crawl(workdir: Path, *outlets: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, str(workdir / "driver.py"), "crawl", *outlets]
        + ["--config", str(workdir / "config.yaml")],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def archive_files(workdir: Path) -> set[Path]:
    root = workdir / "archive"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def article_requests(server: FeedServer) -> int:
    return sum(n for path, n in server.requests.items() if path.startswith("/dw/"))


def test_second_crawl_is_only_304s_and_a_changed_feed_yields_its_new_items(site) -> None:
    server, workdir = site
    first = crawl(workdir, "dwtest", "ettest")
    assert first.returncode == 0, first.stderr[-3000:]
    first_files = archive_files(workdir)
    first_requests, first_bytes = server.total_requests(), server.total_bytes()
    assert article_requests(server) == DW_ITEMS
    assert len(first_files) >= DW_ITEMS  # every DW story, plus the Epoch Times ones
    print(f"\ncrawl 1: {first_requests} requests, {first_bytes} bytes, {len(first_files)} files")

    server.reset_counts()
    second = crawl(workdir, "dwtest", "ettest")
    assert second.returncode == 0, second.stderr[-3000:]
    assert dict(server.statuses) == {"/dw.rdf 304": 1, "/nsc413.xml 304": 1}
    assert article_requests(server) == 0
    assert archive_files(workdir) == first_files
    print(f"crawl 2: {server.total_requests()} requests, {server.total_bytes()} bytes, 0 files")

    server.reset_counts()
    server.set_route("/nsc413.xml", epoch_feed(0))  # the feed gains its 3 newest items
    third = crawl(workdir, "dwtest", "ettest")
    assert third.returncode == 0, third.stderr[-3000:]
    assert dict(server.statuses) == {"/dw.rdf 304": 1, "/nsc413.xml 200": 1}
    new_files = archive_files(workdir) - first_files
    assert len(new_files) == ET_HELD_BACK
    held_back = re.findall(rb"<link>(.*?)</link>", epoch_feed(0).split(b"<item>", 1)[1])
    new_urls = {f.read_text(encoding="utf-8").splitlines()[1] for f in new_files}
    assert len(held_back) >= ET_HELD_BACK
    for url in held_back[:ET_HELD_BACK]:
        assert any(url.decode() in line for line in new_urls)
    print(f"crawl 3: {server.total_requests()} requests, {server.total_bytes()} bytes")


def test_a_stalled_feed_costs_one_timeout_and_backs_off(site) -> None:
    server, workdir = site
    server.set_fault("/dw.rdf", stall=60)
    result = crawl(workdir, "dwtest")
    assert result.returncode == 1  # the feed failed
    assert server.requests["/dw.rdf"] == 1  # one attempt: no retry against a stalled server
    assert article_requests(server) == 0
    conn = sqlite3.connect(workdir / "state" / "feedwatch.sqlite3")
    try:
        failures, error, next_allowed, fetched = conn.execute(
            "SELECT consecutive_failures, last_error, next_allowed_ms, last_fetch_ms"
            " FROM feed_state"
        ).fetchone()
    finally:
        conn.close()
    assert failures == 1
    assert "Timeout" in error
    assert next_allowed > fetched

    # The next (scheduled) crawl does not even try: the feed is backing off.
    server.set_fault("/dw.rdf")
    again = crawl(workdir, "dwtest")
    assert server.requests["/dw.rdf"] == 1
    assert again.returncode == 0, again.stderr[-3000:]


def test_scheduled_and_manual_crawls_at_once_store_each_story_once(site) -> None:
    server, workdir = site
    config = load_config(workdir / "config.yaml")
    # Both crawls' feed requests stall a moment, so they surely overlap.
    server.set_fault("/nsc413.xml", stall=1.0, times=2)
    server.set_fault("/dw.rdf", stall=1.0, times=2)
    driver = workdir / "driver.py"
    options = DaemonOptions(
        command=lambda outlet, path: (
            [sys.executable, str(driver), "crawl", outlet] + ["--config", str(path)]
        ),
        crawl_timeout=60,
        first_run_spread=0,
        poll=0.1,
        extra_env={"PYTHONPATH": str(REPO)},
    )
    daemon = Daemon(config, workdir / "config.yaml", options)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        manual = crawl(workdir, "dwtest", "ettest")
        jobs = JobStateDB(str(config.state_db))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            outcomes = {name: rec.last_outcome for name, rec in jobs.load().items()}
            if all(outcomes.get(name) for name in ("dwtest", "ettest")):
                break
            time.sleep(0.2)
    finally:
        daemon.request_stop()
        thread.join(60)
    assert manual.returncode == 0, manual.stderr[-3000:]
    # With the crawl taking the outlet lock, a scheduled run may be skipped instead.
    assert set(outcomes.values()) <= {"ok", "skipped (locked)"}, outcomes
    files = archive_files(workdir)
    urls = [f.read_text(encoding="utf-8").splitlines()[1] for f in files]
    assert len(urls) == len(set(urls)) == DW_ITEMS + 60 - ET_HELD_BACK
    conn = sqlite3.connect(config.state_db)
    try:
        (stored,) = conn.execute("SELECT COUNT(*) FROM items").fetchone()
        statuses = [s for (s,) in conn.execute("SELECT status FROM runs")]
    finally:
        conn.close()
    assert stored == len(files)
    assert statuses and set(statuses) == {"ok"}
