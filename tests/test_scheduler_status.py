"""`feedwatch status` from the state DB, and the per-outlet lock files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conf.schema import Config, FeedConfig, OutletConfig
from crawler.httpstate import FeedState, FeedStateStore
from scheduler.jobstate import JobStateDB, ensure_schema
from scheduler.locks import OutletLocked, is_locked, lock_path, outlet_lock
from scheduler.status import consecutive_failures, status_report

FEED = "https://www.rfi.fr/cn/rss"


def config() -> Config:
    return Config(
        outlets={
            "rfi": OutletConfig(feeds=[FeedConfig(url=FEED)]),
            "dw": OutletConfig(feeds=[FeedConfig(url="https://rss.dw.com/rdf/rss-chi-all")]),
            "old": OutletConfig(enabled=False, feeds=[FeedConfig(url="https://example.org/x")]),
        }
    )


@pytest.fixture
def conn() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    ensure_schema(connection)
    yield connection
    connection.close()


def add_run(conn: sqlite3.Connection, outlet: str, status: str, started: int, new: int = 0) -> None:
    conn.execute(
        "INSERT INTO runs (outlet, started_ms, finished_ms, status, feeds, new_items, seen_items,"
        " errors) VALUES (?, ?, ?, ?, 2, ?, 0, ?)",
        (outlet, started, started + 4200, status, new, 0 if status == "ok" else 1),
    )


def test_consecutive_failures_stop_at_the_last_ok_and_ignore_shutdowns(conn) -> None:
    for i, status in enumerate(["failed", "ok", "timeout", "stopped", "failed", "exit 2"]):
        add_run(conn, "rfi", status, 1_000 * (i + 1))
    assert consecutive_failures(conn, "rfi") == 3
    assert consecutive_failures(conn, "dw") == 0


def test_report_shows_runs_next_run_and_validators(conn) -> None:
    now = int(time.time() * 1000)
    add_run(conn, "rfi", "ok", now - 600_000, new=7)
    FeedStateStore(conn).put(
        FeedState(
            feed_url=FEED,
            etag='"abc"',
            last_modified="Mon, 16 Mar 2015 08:38:27 GMT",
            last_status=304,
        )
    )
    conn.execute(
        "INSERT INTO scheduler_jobs (outlet, trigger, next_run_ms, updated_ms)"
        " VALUES ('rfi', 'every=1800 jitter=60', ?, ?)",
        (now + 1_200_000, now),
    )
    text, code = status_report(config(), conn, max_failures=3)
    assert code == 0
    rfi = text.split("\ndw")[0]
    assert "ok, took 4.2s, 7 new item(s), 0 error(s)" in rfi
    assert "(in 20m)" in rfi
    assert 'HTTP 304; ETag "abc"; Last-Modified Mon, 16 Mar 2015 08:38:27 GMT' in rfi
    assert "dw\n  last run: never" in text
    assert "old (disabled)" in text


def test_exit_code_is_one_when_an_outlet_keeps_failing(conn) -> None:
    for i in range(3):
        add_run(conn, "dw", "failed", 1_000 * (i + 1))
    text, code = status_report(config(), conn, max_failures=3)
    assert code == 1
    assert text.splitlines()[-1].startswith("UNHEALTHY: dw")
    assert status_report(config(), conn, max_failures=4)[1] == 0
    for i in range(5):  # a disabled outlet does not make the service unhealthy
        add_run(conn, "old", "failed", 1_000 * (i + 1))
    assert status_report(config(), conn, max_failures=4)[1] == 0
    assert status_report(config(), conn, max_failures=0) == (
        "--max-failures must be 1 or more",
        2,
    )


def test_abandoned_run_closes_the_open_row_or_adds_one(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    jobs = JobStateDB(str(db))
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute(
        "INSERT INTO runs (outlet, started_ms, status, feeds, new_items, seen_items, errors)"
        " VALUES ('rfi', 5000, 'running', 0, 0, 0, 0)"
    )
    jobs.record_abandoned_run("rfi", 4900, 9000, "timeout")
    jobs.record_abandoned_run("dw", 4900, 9000, "timeout")  # it died before writing a row
    assert raw.execute("SELECT outlet, finished_ms, status FROM runs ORDER BY id").fetchall() == [
        ("rfi", 9000, "timeout"),
        ("dw", 9000, "timeout"),
    ]
    raw.close()


def test_lock_is_exclusive_and_probe_sees_it(tmp_path: Path) -> None:
    assert not is_locked(tmp_path, "rfi")
    with outlet_lock(tmp_path, "rfi", wait=False) as path:
        assert path == tmp_path / "locks" / "rfi.lock"
        assert is_locked(tmp_path, "rfi")
        assert not is_locked(tmp_path, "dw")
        with pytest.raises(OutletLocked), outlet_lock(tmp_path, "rfi", wait=False):
            pass
    assert not is_locked(tmp_path, "rfi")
    with pytest.raises(ValueError):
        lock_path(tmp_path, "../etc")


def test_waiting_lock_is_taken_when_the_other_process_exits(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from scheduler.locks import outlet_lock
                with outlet_lock(Path({str(tmp_path)!r}), "voa", wait=False):
                    print("held", flush=True)
                    time.sleep(1.0)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        assert is_locked(tmp_path, "voa")
        with outlet_lock(tmp_path, "voa", wait=True):  # blocks until the holder is done
            assert holder.poll() is not None or holder.wait(5) == 0
    finally:
        holder.wait(10)
        holder.stdout.close()
