"""Nothing new, nothing done: a known entry with unchanged content is dropped with no write.

The server restamps `<lastBuildDate>` on every poll (as many real feed servers do), so the feed
body differs each time: the crawl skips it unparsed (its hash starts at the first entry). With
a cache plugin's stamp after the entries as well (`<!-- served ... -->`, as WordPress caches
add), the feed is parsed and every entry stops at the entry digest check. Feeds are the real
recorded Epoch Times nsc413 feed (60 full-text entries) and the feedx RFI feed of
tests/fixtures/outlets.
"""

from __future__ import annotations

import gzip
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from servers.feedserver import FeedServer

from conf.schema import load_config
from ingest.ingestor import Ingestor, Story
from store.format import StoredItem
from store.state import open_state
from store.unchanged import UnchangedCheck, entry_digest

FIXTURES = Path(__file__).parent / "fixtures" / "outlets"
RSS = "application/rss+xml; charset=utf-8"
EPOCH = gzip.decompress((FIXTURES / "epochtimes/nsc413_2019-04-04.xml.gz").read_bytes())
FEEDX = (FIXTURES / "rfi/feedx_rfi_reconstructed.xml").read_bytes()
# The first Epoch Times entry's body starts with this (its <content:encoded> CDATA).
EDITED_URL = "http://www.epochtimes.com/gb/19/4/3/n11161232.htm"


def _restamped(feed: bytes, poll: int, trailer: bool) -> bytes:
    """The feed with a new <lastBuildDate> (or one added), as a restamping server sends it."""
    stamp = f"<lastBuildDate>Thu, 04 Apr 2019 1{poll}:00:00 +0000</lastBuildDate>".encode()
    if b"<lastBuildDate>" in feed:
        feed = re.sub(rb"<lastBuildDate>[^<]*</lastBuildDate>", stamp, feed, count=1)
    else:
        feed = feed.replace(b"<channel>", b"<channel>" + stamp, 1)
    return feed + f"<!-- served from cache, poll {poll} -->\n".encode() if trailer else feed


def _serve(server: FeedServer, poll: int, epoch: bytes = EPOCH, trailer: bool = False) -> None:
    server.set_route("/gb/nsc413.xml", _restamped(epoch, poll, trailer), RSS)
    server.set_route("/feedx/rfi.xml", _restamped(FEEDX, poll, trailer), RSS)


@pytest.fixture()
def site(tmp_path: Path) -> tuple[FeedServer, Path]:
    server = FeedServer({})
    base = server.start()
    _serve(server, 0)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
archive_dir: archive
state_db: state/feedwatch.sqlite3
http: {{timeout: 10, autothrottle: false}}
outlets:
  rfi:
    spider: rfi
    domains: [127.0.0.1]
    feeds: [{{url: "{base}/feedx/rfi.xml", via: feedx, full_text: true}}]
  epochtimes:
    spider: epochtimes
    feeds: [{{url: "{base}/gb/nsc413.xml", full_text: true}}]
alerts:
  channels:
    file: {{kind: jsonl, path: alerts.jsonl}}
  rules:
    - {{name: china, any: [中国, 中共], notify: [file]}}
""",
        encoding="utf-8",
    )
    yield server, config
    server.stop()


def _crawl(config: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "feedwatch", "crawl", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=config.parent,
    )
    assert "total:" in done.stdout, done.stderr
    return done


def _rows(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


def _files(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize("trailer", [False, True], ids=["lastBuildDate", "and-trailer"])
@pytest.mark.slow
def test_second_poll_of_a_restamped_feed_writes_nothing(
    site: tuple[FeedServer, Path], trailer: bool
) -> None:
    server, config = site
    db = config.parent / "state" / "feedwatch.sqlite3"
    first = _crawl(config)
    rows = _rows(db)
    assert rows["items"] >= 60 and rows["dedup_items"] >= 60
    archive = _files(config.parent / "archive")
    alerts = (config.parent / "alerts.jsonl").read_bytes()
    assert alerts.count(b"\n") > 0

    _serve(server, 1, trailer=trailer)  # same entries, a 200 with a new body
    second = _crawl(config)
    assert server.statuses["/gb/nsc413.xml 200"] == 2
    after = _rows(db)
    assert after.pop("runs") == rows.pop("runs") + 2  # one run record per outlet
    assert after == rows  # no other row in any table
    assert _files(config.parent / "archive") == archive  # no file written or touched
    assert (config.parent / "alerts.jsonl").read_bytes() == alerts  # no alert sent
    if trailer:  # parsed: each entry recognised as unchanged
        assert "epochtimes: feeds 1 parsed, 0 unchanged" in second.stdout
        assert ", 60 unchanged;" in second.stdout, second.stdout
    else:  # the feed itself recognised as unchanged, not parsed
        assert "epochtimes: feeds 0 parsed, 1 unchanged" in second.stdout, second.stdout
    assert "total: 0 new items" in second.stdout
    assert "0 unchanged;" in first.stdout


@pytest.mark.slow
def test_changed_body_is_stored_as_a_revision(site: tuple[FeedServer, Path]) -> None:
    server, config = site
    db = config.parent / "state" / "feedwatch.sqlite3"
    _crawl(config)
    start = EPOCH.index(EDITED_URL.encode())
    body_at = EPOCH.index(b"<![CDATA[<p>", start) + len(b"<![CDATA[<p>")
    edited = EPOCH[:body_at] + "（更正：本文已更新。）".encode() + EPOCH[body_at:]
    _serve(server, 1, edited)
    second = _crawl(config)
    assert "epochtimes: feeds 1 parsed" in second.stdout
    assert "1 revisions" in second.stdout and ", 59 unchanged;" in second.stdout, second.stdout
    conn = sqlite3.connect(db)
    kinds = conn.execute(
        "SELECT kind FROM dedup_items WHERE canonical_url LIKE ? ORDER BY id", ("%n11161232%",)
    ).fetchall()
    conn.close()
    assert [k for (k,) in kinds] == ["new", "revision"]

    # The edited content is now the known one: the next poll does nothing for it either.
    rows = _rows(db)
    _serve(server, 2, edited, trailer=True)
    third = _crawl(config)
    assert ", 60 unchanged;" in third.stdout, third.stdout
    after = _rows(db)
    assert after.pop("runs") == rows.pop("runs") + 2
    assert after == rows


def test_digest_covers_title_body_and_published_time() -> None:
    base = entry_digest("标题", "<p>正文</p>\n<p>第二段</p>", 1_554_371_930_000)
    # Whitespace the stored item trims away is not a change.
    assert entry_digest("  标题\n", "  <p>正文</p>\n   <p>第二段</p>  ", 1_554_371_930_000) == base
    assert entry_digest("标题!", "<p>正文</p>\n<p>第二段</p>", 1_554_371_930_000) != base
    assert entry_digest("标题", "<p>正文。</p>\n<p>第二段</p>", 1_554_371_930_000) != base
    assert entry_digest("标题", "<p>正文</p>\n<p>第二段</p>", 1_554_371_931_000) != base
    assert entry_digest("标题", "<p>正文</p>\n<p>第二段</p>", None) != base
    # Field boundaries count: moving text from title to body changes the digest.
    assert entry_digest("ab", "c", None) != entry_digest("a", "bc", None)


def test_old_state_gets_the_column_and_each_row_a_digest_on_its_next_ingest(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state" / "feedwatch.sqlite3"
    db.parent.mkdir()
    old = sqlite3.connect(db)
    old.executescript(
        """CREATE TABLE items (id INTEGER PRIMARY KEY, canonical_url TEXT NOT NULL UNIQUE,
        guid TEXT, outlet TEXT NOT NULL, url TEXT NOT NULL, title TEXT NOT NULL,
        ts INTEGER NOT NULL, first_seen_ms INTEGER NOT NULL, story_id INTEGER, path TEXT);
        INSERT INTO items (canonical_url, outlet, url, title, ts, first_seen_ms, path)
        VALUES ('https://example.org/a', 'x', 'https://example.org/a', 'A', 1, 1, 'a.txt');"""
    )
    old.commit()
    old.close()

    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "archive_dir: archive\nstate_db: state/feedwatch.sqlite3\noutlets: {}\n"
        "dedup: {enabled: false}\n",
        encoding="utf-8",
    )
    conn = open_state(db)  # migrates
    check = UnchangedCheck(conn)
    digest = entry_digest("A", "<p>a</p>", None)
    assert not check.is_unchanged("https://example.org/a", digest)  # no digest yet
    ingestor = Ingestor(load_config(config_file), conn, alerts=False)
    story = Story(
        outlet="x",
        canonical_url="https://example.org/a",
        stored=StoredItem(1, "A", "https://example.org/a", "<p>a</p>"),
        first_seen_ms=2,
        digest=digest,
    )
    assert ingestor.ingest(story).kind == "seen"  # today's path, once
    assert check.is_unchanged("https://example.org/a", digest)
    assert not check.is_unchanged("https://example.org/a", entry_digest("A", "<p>b</p>", None))
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 1
    open_state(db).close()  # a second open finds the column there already
    conn.close()
    # The storage interface creates its other tables (feed_state, ingest_*): all empty.
    rows = _rows(db)
    assert {t: n for t, n in rows.items() if n or t in ("items", "runs")} == {"items": 1, "runs": 0}


def _fetch(config: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedwatch", "fetch", url, "--config", str(config), *extra],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=config.parent,
    )


@pytest.mark.slow
def test_fetch_counts_unchanged_entries_as_known_and_dry_run_still_prints_them(
    site: tuple[FeedServer, Path],
) -> None:
    server, config = site
    db = config.parent / "state" / "feedwatch.sqlite3"
    url = server.url("/feedx/rfi.xml")
    first = _fetch(config, url)
    assert first.returncode == 0 and "rfi: 7 stored, 0 already known" in first.stdout, first
    rows = _rows(db)
    _serve(server, 1)
    second = _fetch(config, url)
    # 6 entries stop at the unchanged check; the 7th is a summary whose stored article page
    # is not fetched again (counted as before: not in this line).
    assert second.returncode == 0 and "rfi: 0 stored, 6 already known" in second.stdout, second
    assert _rows(db) == rows
    printed = _fetch(config, url, "--dry-run")
    assert printed.returncode == 0 and printed.stdout.count("<!--") >= 7, printed


def test_a_state_that_cannot_be_read_sends_the_entry_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conn = open_state(tmp_path / "state.sqlite3")
    check = UnchangedCheck(conn)
    conn.execute("DROP TABLE items")  # e.g. a damaged state; the ingest step will say so
    assert not check.is_unchanged("https://example.org/a", entry_digest("A", "b", None))
    assert "unchanged check skipped for https://example.org/a: no such table" in caplog.text
    conn.close()
