"""Crash safety: SIGKILL a replayed crawl at random points, many times, then let it finish.

Afterwards the archive holds every served story exactly once (the same stories as an
uninterrupted reference crawl), no partial or duplicate files, and SQLite passes its integrity
check. A story is the set of canonical URLs merged into it: which outlet's copy of a repost is the
story's file depends on which arrives first, so runs are compared by story, not by file. FEEDWATCH_KILL_ROUNDS sets the number of kill rounds (15 by default; run 100+ by hand:
`FEEDWATCH_KILL_ROUNDS=100 python -m pytest tests/test_reliability_crash.py -s`).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from store.format import parse_item, render_item
from store.urls import canonical_url

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "feedwatch" / "data" / "snapshot.warc.gz"
ROUNDS = int(os.environ.get("FEEDWATCH_KILL_ROUNDS", "15"))

pytestmark = pytest.mark.timeout(60 + ROUNDS * 15)


def demo_config(folder: Path) -> Path:
    """A copy of the bundled demo config with archive, state and alert files inside `folder`."""
    raw = yaml.safe_load((ROOT / "feedwatch" / "data" / "demo-config.yaml").read_text("utf-8"))
    raw["archive_dir"] = "archive"
    raw["state_db"] = "state/feedwatch.sqlite3"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return config


def crawl_command(config: Path) -> list[str]:
    """`feedwatch crawl` of every enabled outlet, replaying the bundled snapshot."""
    return [
        sys.executable, "-m", "feedwatch", "crawl", "--replay", str(SNAPSHOT), "--config", str(config),
    ]  # fmt: skip


def run_crawl(config: Path) -> subprocess.CompletedProcess[str]:
    """Run a crawl to completion."""
    return subprocess.run(
        crawl_command(config), capture_output=True, text=True, timeout=180, cwd=ROOT
    )


def stored_urls(archive: Path) -> list[str]:
    """The canonical URL of every item file (checking each one parses and round-trips)."""
    urls = []
    for path in sorted(archive.rglob("*.txt")):
        data = path.read_bytes()
        item = parse_item(data)
        assert render_item(item) == data, path
        urls.append(canonical_url(item.url))
    return urls


def stored_stories(folder: Path) -> set[frozenset[str]]:
    """Every stored story as the canonical URLs of all its copies (the story, reposts, edits)."""
    conn = sqlite3.connect(folder / "state" / "feedwatch.sqlite3")
    try:
        rows = conn.execute(
            "SELECT COALESCE(story_id, -id), canonical_url, path FROM items"
        ).fetchall()
    finally:
        conn.close()
    copies: dict[int, set[str]] = {}
    for story, url, _path in rows:
        copies.setdefault(story, set()).add(url)
    with_file = {story for story, _url, path in rows if path}
    return {frozenset(urls) for story, urls in copies.items() if story in with_file}


def integrity(state_db: Path) -> str:
    """SQLite's own integrity check of the state database."""
    conn = sqlite3.connect(state_db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    reference = demo_config(tmp_path / "reference")
    assert run_crawl(reference).returncode in (0, 1)
    expected = stored_urls(tmp_path / "reference" / "archive")
    assert len(expected) > 100 and len(set(expected)) == len(expected)
    stories = stored_stories(tmp_path / "reference")
    assert len(stories) == len(expected)
    known = set().union(*stories)  # every URL a story file may have

    config = demo_config(tmp_path / "killed")
    rng = random.Random(os.environ.get("FEEDWATCH_KILL_SEED", "6"))
    killed_mid_crawl = 0
    killed_while_storing = 0  # rounds whose kill left some, but not all, stories stored
    for _ in range(ROUNDS):
        process = subprocess.Popen(
            crawl_command(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
        )
        time.sleep(rng.uniform(0.2, 3.0))
        if process.poll() is None:
            killed_mid_crawl += 1
        process.send_signal(signal.SIGKILL)
        process.wait()
        state_db = tmp_path / "killed" / "state" / "feedwatch.sqlite3"
        if state_db.exists():
            assert integrity(state_db) == "ok"
        # What is stored after any kill is whole: every file parses, no URL twice.
        urls = (
            stored_urls(tmp_path / "killed" / "archive")
            if (tmp_path / "killed" / "archive").exists()
            else []
        )
        assert len(urls) == len(set(urls))
        assert set(urls) <= known
        killed_while_storing += 0 < len(urls) < len(expected)

    final = run_crawl(config)
    assert "total:" in final.stdout, final.stderr
    archive = tmp_path / "killed" / "archive"
    assert not list(archive.rglob(".tmp-*"))  # Archive() removed the killed writers' temp files
    urls = stored_urls(archive)
    assert len(urls) == len(set(urls)), "a story stored twice"
    assert len(urls) == len(expected)
    got = stored_stories(tmp_path / "killed")
    assert got == stories, f"lost: {stories - got}, extra: {got - stories}"
    assert integrity(tmp_path / "killed" / "state" / "feedwatch.sqlite3") == "ok"
    # The state database knows every stored file, and each row points at an existing file.
    conn = sqlite3.connect(tmp_path / "killed" / "state" / "feedwatch.sqlite3")
    paths = [row[0] for row in conn.execute("SELECT path FROM items WHERE path IS NOT NULL")]
    conn.close()
    # Reposts and edits point at their story's file.
    assert {Path(p).resolve() for p in paths} == {p.resolve() for p in archive.rglob("*.txt")}
    print(
        f"\n{ROUNDS} kill rounds ({killed_mid_crawl} before the crawl ended, "
        f"{killed_while_storing} with the archive part-written), {len(urls)} stories, 0 lost"
    )
