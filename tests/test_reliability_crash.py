"""Crash safety: SIGKILL a replayed crawl at random points, many times, then let it finish.

A crawl is two processes: the crawl (producer: fetch, parse, queue) and the ingest consumer
beside it (dedup, archive file, state). Rounds kill either side or both: the whole process
group, the consumer alone (the crawl then settles the rest itself), or the crawl alone (the
consumer settles what was queued, then exits).

Afterwards the archive holds every served story exactly once (the same stories as an
uninterrupted reference crawl), no partial or duplicate files, and SQLite passes its integrity
check. A story is the set of canonical URLs merged into it: which outlet's copy of a repost is the
story's file depends on which arrives first, so runs are compared by story, not by file. FEEDWATCH_KILL_ROUNDS sets the number of kill rounds (15 by default; run 100+ by hand:
`FEEDWATCH_KILL_ROUNDS=100 python -m pytest tests/test_reliability_crash.py -s`).

Odd rounds kill at a random time; even rounds kill the moment a temp file shows up in the
archive (an item file is being written). The test fails unless some kills landed during a
write: a round counts when the killed process left a temp file (it died writing an item file)
or an item file that no committed `items` row names (it died inside the ingest transaction,
between the file and the commit).
"""

from __future__ import annotations

import contextlib
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

from store.archive import TMP_PREFIX, Archive
from store.format import parse_item, render_item
from store.urls import canonical_url

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "feedwatch" / "data" / "snapshot.warc.gz"
ROUNDS = int(os.environ.get("FEEDWATCH_KILL_ROUNDS", "15"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60 + ROUNDS * 15)]


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


def committed_paths(state_db: Path) -> set[Path]:
    """Item files the state database has committed rows for (empty before its first commit)."""
    if not state_db.exists():
        return set()
    conn = sqlite3.connect(state_db)
    try:
        rows = conn.execute("SELECT path FROM items WHERE path IS NOT NULL").fetchall()
    except sqlite3.OperationalError:  # killed before the schema was committed
        return set()
    finally:
        conn.close()
    return {Path(row[0]).resolve() for row in rows}


def died_writing(archive: Path, state_db: Path) -> bool:
    """Whether a killed crawl was inside a write: a temp file left, or a file without its row."""
    if not archive.exists():
        return False
    if any(archive.rglob(f"{TMP_PREFIX}*")):
        return True
    files = {p.resolve() for p in archive.rglob("*.txt")}
    return bool(files - committed_paths(state_db))


def wait_for_a_write(process: subprocess.Popen[bytes], archive: Path, limit: float) -> None:
    """Return once a temp file exists in the archive, the process ended, or `limit` s passed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        if archive.exists() and next(archive.rglob(f"{TMP_PREFIX}*"), None) is not None:
            return
        time.sleep(0.001)


def consumer_of(crawl: subprocess.Popen[bytes]) -> int | None:
    """The pid of the ingest consumer the crawl started beside it (None: not running)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == crawl.pid and b"feedwatch.ingest_consumer" in cmdline:
            return int(entry.name)
    return None


def alive(pid: int) -> bool:
    """Whether a process (not our child) still runs: a zombie counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pid: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not alive(pid), f"process {pid} still running after {limit} s"


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
    killed_mid_write = 0  # rounds whose kill landed inside a file write or an ingest transaction
    consumer_kills = 0  # rounds that killed the consumer alone, while the crawl went on
    producer_kills = 0  # rounds that killed the crawl alone, while its consumer went on
    for round_no in range(ROUNDS):
        process = subprocess.Popen(
            crawl_command(config),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=True,  # its own group: one kill reaches both sides
        )
        # 0, 1: both sides; 2: the consumer alone; 3: the crawl alone. The consumer alone goes
        # first, while the archive is still empty: it is surely writing when killed.
        side = (2, 0, 3, 1)[round_no % 4]
        if side == 1:
            time.sleep(rng.uniform(0.2, 3.0))
        elif side == 3:
            time.sleep(rng.uniform(0.5, 2.0))
        else:
            wait_for_a_write(process, tmp_path / "killed" / "archive", limit=6.0)
        if process.poll() is None:
            killed_mid_crawl += 1
        consumer = consumer_of(process)
        if side == 2 and consumer is not None:
            os.kill(consumer, signal.SIGKILL)
            consumer_kills += 1
            wait_gone(consumer, 10)
            time.sleep(rng.uniform(0.0, 0.5))  # the crawl goes on alone for a while
        elif side == 3 and consumer is not None:
            process.send_signal(signal.SIGKILL)  # the crawl alone
            process.wait()
            producer_kills += 1
            wait_gone(consumer, 60)  # it settles what the crawl queued, then exits
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        state_db = tmp_path / "killed" / "state" / "feedwatch.sqlite3"
        killed_mid_write += died_writing(tmp_path / "killed" / "archive", state_db)
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
    # Killed writers' temp files are removed when the archive is next opened for writing (a
    # consumer's first story, the daemon's start); a crawl that stores nothing does not open
    # it, since the sweep walks the whole archive (~1 s at 10^6 stories).
    Archive(archive)
    assert not list(archive.rglob(".tmp-*"))
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
        f"{killed_while_storing} with the archive part-written, {killed_mid_write} inside a "
        f"write; {consumer_kills} of the consumer alone, {producer_kills} of the crawl alone), "
        f"{len(urls)} stories, 0 lost, 0 twice"
    )
    assert consumer_kills > 0 and producer_kills > 0, "a side was never killed alone"
    # Without kills inside writes the test would prove nothing about crash safety.
    assert killed_mid_write > 0, "no kill landed during a write: the test proved nothing"
