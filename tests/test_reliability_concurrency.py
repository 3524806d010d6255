"""Concurrency: several `feedwatch crawl` and `feedwatch fetch` processes on one archive and state.

All replay the bundled snapshot at the same time. Afterwards every story is stored exactly once,
the same stories as a reference crawl (by the URLs merged into each), every file round-trips, and SQLite is intact. The
scheduler daemon (`feedwatch run`) is not part of this test yet (see docs/RELIABILITY.md).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from test_reliability_crash import (
    ROOT,
    SNAPSHOT,
    crawl_command,
    demo_config,
    integrity,
    run_crawl,
    stored_stories,
    stored_urls,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # subprocess crawls at once

FETCHED = [
    "https://feedx.net/rss/rfi.xml",  # a feed the crawls fetch too
    "https://www.epochtimes.com/gb/nsc413.xml",
]


def _fetch_command(config: Path, url: str) -> list[str]:
    return [
        sys.executable, "-m", "feedwatch", "fetch", url, "--replay", str(SNAPSHOT),
        "--config", str(config),
    ]  # fmt: skip


def test_parallel_crawls_and_fetches_store_each_story_once(tmp_path: Path) -> None:
    reference = demo_config(tmp_path / "reference")
    run_crawl(reference)
    expected = stored_stories(tmp_path / "reference")

    config = demo_config(tmp_path / "shared")
    commands = [crawl_command(config) for _ in range(3)]
    commands += [crawl_command(config)[:4] + ["epochtimes", *crawl_command(config)[4:]]]
    commands += [_fetch_command(config, url) for url in FETCHED]
    processes = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        for command in commands
    ]
    results = [(p.args, *p.communicate(timeout=240), p.returncode) for p in processes]
    for args, _out, err, code in results:
        assert code in (0, 1), (args, err[-2000:])
        assert "Traceback" not in err and "database is locked" not in err, (args, err[-2000:])

    urls = stored_urls(tmp_path / "shared" / "archive")
    assert len(urls) == len(set(urls)), "a story stored twice"
    assert len(urls) == len(expected)
    got = stored_stories(tmp_path / "shared")
    assert got == expected, f"lost {expected - got}, extra {got - expected}"
    state_db = tmp_path / "shared" / "state" / "feedwatch.sqlite3"
    assert integrity(state_db) == "ok"
    conn = sqlite3.connect(state_db)
    rows = conn.execute("SELECT COUNT(*), COUNT(DISTINCT canonical_url) FROM items").fetchone()
    conn.close()
    assert rows[0] == rows[1] >= len(expected)
    # Every process' summary adds up to the stories stored: each was written by exactly one.
    written = 0
    for _args, out, _err, _code in results:
        for line in out.splitlines():
            if line.startswith("total: "):
                written += int(line.split()[1])
            elif " stored, " in line:  # feedwatch fetch: "<outlet>: N stored, ..."
                written += int(line.split(": ", 1)[1].split()[0])
    assert written == len(urls)
