"""Lost or damaged state (issue 11, points 11 and 12).

- A missing state database next to a full archive is rebuilt before `crawl`, `fetch` and `run`:
  the same feeds crawled again store nothing and alert nothing (real processes, local server).
- `feedwatch check [--repair]` finds archive files missing from the state, rows whose file is
  gone, moved files, files that do not parse and a damaged database; it repairs what it can,
  never deletes an item file, and exits 0 only when archive and state agree.
- The daemon logs the cheap check (quick_check and counts) in one line at start.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.feedserver import FeedServer

from conf.schema import load_config
from feedwatch import recovery
from feedwatch.cli import main
from feedwatch.importer import import_paths
from feedwatch.recovery import has_stories, rebuild_lost_state, state_items
from scheduler.daemon import Daemon
from store.backends import open_storage
from store.format import parse_item, render_item
from store.state import open_state

REPO = Path(__file__).resolve().parent.parent
FEED = REPO / "tests" / "fixtures" / "scheduler" / "nsc413_2019-04-04_reconstructed.xml"
ITEMS = REPO / "tests" / "fixtures" / "store" / "items"

pytestmark = pytest.mark.timeout(240)


def write_config(folder: Path, feed_url: str = "http://127.0.0.1:9/none.xml") -> Path:
    """A config with one generic full-text outlet and a rule that matches many real stories."""
    config = folder / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            archive_dir: archive
            state_db: state/feedwatch.sqlite3
            http: {{timeout: 5, autothrottle: false}}
            outlets:
              ettest:
                spider: generic
                schedule: {{every: 1h}}
                feeds: [{{url: "{feed_url}", full_text: true}}]
            alerts:
              channels:
                file: {{kind: jsonl, path: alerts.jsonl}}
              rules:
                - {{name: ccp, any: [中共], notify: [file]}}
            """
        ),
        encoding="utf-8",
    )
    return config


def feedwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "feedwatch", *args],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=180,
    )


def archive_bytes(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted((folder / "archive").rglob("*")) if p.is_file()}


def alerts(folder: Path) -> list[dict[str, object]]:
    path = folder / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def delete_state(folder: Path) -> None:
    """What a lost disk or a careless `rm` leaves: no database, no WAL, no shared memory."""
    for path in (folder / "state").glob("feedwatch.sqlite3*"):
        path.unlink()
    assert not (folder / "state" / "feedwatch.sqlite3").exists()


@pytest.fixture
def crawled(tmp_path: Path) -> Iterator[tuple[FeedServer, Path]]:
    """A local server with the real Epoch Times feed, crawled once into tmp_path."""
    with FeedServer({"/nsc413.xml": (FEED.read_bytes(), "application/rss+xml")}) as server:
        config = write_config(tmp_path, f"{server.base_url}/nsc413.xml")
        first = feedwatch("crawl", "--config", str(config), cwd=tmp_path)
        assert first.returncode == 0, first.stderr[-3000:]
        yield server, tmp_path


# -- point 11: a lost state is rebuilt before crawling --------------------------------------


@pytest.mark.slow
def test_crawl_after_the_state_is_deleted_stores_and_alerts_nothing(crawled) -> None:
    server, folder = crawled
    config = str(folder / "config.yaml")
    files, sent = archive_bytes(folder), alerts(folder)
    assert len(files) > 40
    assert len(sent) > 5  # the rule matches real stories, so a re-alert would show

    delete_state(folder)
    again = feedwatch("crawl", "--config", config, cwd=folder)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "total: 0 new items, 0 feeds failed, 0 errors" in again.stdout
    rebuilt = [ln for ln in again.stderr.splitlines() if "rebuilt it from" in ln]
    assert len(rebuilt) == 1, again.stderr[-3000:]
    assert f"new {len(files)}" in rebuilt[0] and "with no alerts" in rebuilt[0]
    assert archive_bytes(folder) == files  # no file written or changed
    assert alerts(folder) == sent  # nothing alerted again

    # `fetch` of the feed rebuilds too: every story is "already known".
    delete_state(folder)
    fetched = feedwatch("fetch", f"{server.base_url}/nsc413.xml", "--config", config, cwd=folder)
    assert "rebuilt it from" in fetched.stderr, fetched.stderr[-3000:]
    assert "0 stored" in fetched.stdout
    assert archive_bytes(folder) == files
    assert alerts(folder) == sent
    assert feedwatch("check", "--config", config, cwd=folder).returncode == 0


def test_the_daemon_rebuilds_a_lost_state_and_logs_the_quick_check(crawled) -> None:
    _, folder = crawled
    files, sent = archive_bytes(folder), alerts(folder)
    delete_state(folder)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "feedwatch", "run", "-v", "--config", str(folder / "config.yaml")],
        cwd=folder,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        # The one start line (outlets and next runs) comes once its signal handlers are in place.
        started = daemon.stdout.readline()
    finally:
        daemon.send_signal(signal.SIGTERM)
        rest = daemon.communicate(timeout=60)[1]  # drains and closes the pipes
    assert daemon.returncode == 0 and "next run" in started, rest[-3000:]
    lines = rest.splitlines(keepends=True)
    text = rest
    assert "rebuilt it from" in text, text[-3000:]
    check = [ln for ln in lines if "state check:" in ln]
    assert len(check) == 1
    n = len(files)
    assert f"quick_check ok; {n} items, {n} item files recorded, {n} in the archive" in check[0]
    assert check[0].rstrip().endswith("consistent")
    assert archive_bytes(folder) == files
    assert alerts(folder) == sent


def test_an_empty_state_is_rebuilt_once_and_a_full_one_never(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    assert rebuild_lost_state(config) is None  # no archive: nothing to rebuild from
    import_paths(config, [ITEMS], alerts=False)
    stored = state_items(config.state_db)  # items and dedup records
    items = len(list((tmp_path / "archive").rglob("*.txt")))
    assert stored and items > 5
    assert rebuild_lost_state(config) is None  # a full state is left alone

    delete_state(tmp_path)
    open_state(config.state_db).close()  # a fresh, empty database: the schema and no rows
    report = rebuild_lost_state(config)
    assert report is not None and report.counts == {"new": items}
    assert state_items(config.state_db) == stored
    assert rebuild_lost_state(config) is None


def test_has_stories_answers_as_the_count_does_without_counting(tmp_path: Path) -> None:
    # Asked before every crawl: at 10^6 stories a COUNT(*) read both tables every time.
    config = load_config(write_config(tmp_path))
    db = config.state_db
    assert has_stories(db) is False and state_items(db) == 0  # no file yet
    open_state(db).close()
    assert has_stories(db) is False and state_items(db) == 0  # the schema, no rows
    import_paths(config, [ITEMS], alerts=False)
    assert has_stories(db) is True and state_items(db)
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE state_rebuilds (id INTEGER PRIMARY KEY, started_ms INT, finished_ms INT)"
    )
    conn.execute("INSERT INTO state_rebuilds (started_ms) VALUES (1)")
    conn.commit()
    conn.close()
    assert has_stories(db) is False and state_items(db) == 0  # a rebuild under way: not trusted
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 100)
    assert has_stories(garbage) is None and state_items(garbage) is None


def test_a_new_state_whose_first_stories_are_being_stored_is_not_lost(tmp_path: Path) -> None:
    # The kill rounds found it: a consumer places a batch's files before the rows naming them
    # commit; a command starting in between saw files beside an empty state and rebuilt it.
    config = load_config(write_config(tmp_path))
    storage = open_storage(config.state_db)
    try:
        storage.queue.put("token", "rfi", "{}")
    finally:
        storage.close()
    target = config.archive_dir / "2024" / "01" / "01" / "placed-before-commit.txt"
    target.parent.mkdir(parents=True)
    target.write_bytes(sorted(ITEMS.glob("*.txt"))[0].read_bytes())
    assert has_stories(config.state_db) is True
    assert rebuild_lost_state(config) is None


def test_a_write_ahead_log_without_its_database_is_set_aside(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    import_paths(config, [ITEMS], alerts=False)
    wal = config.state_db.with_name("feedwatch.sqlite3-wal")
    config.state_db.unlink()
    wal.write_bytes(b"stale frames of a database that is gone")
    assert rebuild_lost_state(config) is not None
    assert not wal.exists() or wal.read_bytes() != b"stale frames of a database that is gone"
    kept = list(config.state_db.parent.glob("feedwatch.sqlite3-wal.orphan-*"))
    assert [p.read_bytes() for p in kept] == [b"stale frames of a database that is gone"]


def test_an_interrupted_rebuild_is_finished_by_the_next_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(write_config(tmp_path))
    import_paths(config, [ITEMS], alerts=False)
    files = sorted((tmp_path / "archive").rglob("*.txt"))
    delete_state(tmp_path)

    def interrupted(config, paths, *, alerts=True):  # type: ignore[no-untyped-def]
        import_paths(config, files[:3], alerts=alerts)
        raise KeyboardInterrupt  # Ctrl-C after three files

    monkeypatch.setattr(recovery, "import_paths", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rebuild_lost_state(config)
    assert state_items(config.state_db) == 0  # half done counts as lost: not trusted yet
    monkeypatch.undo()

    report = rebuild_lost_state(config)
    assert report is not None and report.counts == {"seen": 3, "new": len(files) - 3}
    assert rebuild_lost_state(config) is None
    assert check(tmp_path)[0] == 0


# -- point 12: feedwatch check [--repair] -----------------------------------------------------


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An archive and state built from the real item fixtures (no network)."""
    config = load_config(write_config(tmp_path))
    report = import_paths(config, [ITEMS], alerts=False)
    assert not report.failed and report.counts.get("new", 0) >= 5
    return tmp_path


def check(folder: Path, *extra: str) -> tuple[int, str]:
    """`feedwatch check` in-process: exit code and stdout."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["check", *extra, "--config", str(folder / "config.yaml")])
    return code, out.getvalue()


def item_files(folder: Path) -> list[Path]:
    return sorted((folder / "archive").rglob("*.txt"))


def test_check_of_a_consistent_archive_exits_0(archive: Path) -> None:
    code, out = check(archive)
    assert code == 0, out
    n = len(item_files(archive))
    assert f"{n} items" in out and f"{n} item files" in out
    assert out.rstrip().endswith("consistent")


def test_check_finds_each_fault_and_repair_fixes_what_it_can(archive: Path) -> None:
    files = item_files(archive)
    gone, moved, unregistered = files[0], files[1], files[2]
    gone.unlink()
    moved_to = archive / "archive" / "restored" / moved.name
    moved_to.parent.mkdir()
    moved.rename(moved_to)
    state = archive / "state" / "feedwatch.sqlite3"
    conn = sqlite3.connect(state)
    conn.execute("DELETE FROM items WHERE path = ?", (str(unregistered),))
    conn.commit()
    conn.close()
    crashed = moved_to.parent / ".tmp-999999999-x.part"  # a writer that no longer exists
    crashed.write_bytes(b"half an item")
    garbage = archive / "archive" / "2001" / "garbage.txt"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not an item\n")
    on_disk = archive_bytes(archive)

    code, out = check(archive)
    assert code == 1
    assert f"1 archive files not in the state: {unregistered}" in out
    assert f"1 files recorded under another path: {moved_to}" in out
    assert f"1 recorded files missing: {gone}" in out
    assert f"1 files do not parse (not repairable): {garbage}" in out
    assert "1 temp files left by a crash" in out
    assert archive_bytes(archive) == on_disk  # checking changes nothing

    code, out = check(archive, "--repair")
    assert "repaired: registered 1 archive files (no alerts)" in out
    assert "repaired: 1 rows now point at their moved files" in out
    assert "repaired: marked 1 recorded files as missing" in out
    assert "repaired: removed 1 temp files left by a crash" in out
    assert not crashed.exists()
    del on_disk[crashed]
    assert code == 1  # the file that does not parse is left for a human
    assert archive_bytes(archive) == on_disk  # no item file deleted or changed
    assert not (archive / "alerts.jsonl").exists()

    conn = sqlite3.connect(state)
    try:
        paths = {p for (p,) in conn.execute("SELECT path FROM items")}
        assert str(unregistered) in paths and str(moved_to) in paths
        assert str(gone) not in paths
        # The story whose file is gone stays "seen": the next crawl neither stores nor alerts it.
        assert conn.execute("SELECT COUNT(*) FROM items WHERE path IS NULL").fetchone()[0] == 1
    finally:
        conn.close()

    garbage.unlink()
    code, out = check(archive)
    assert code == 0, out
    assert "(1 marked without a file)" in out


def test_a_file_put_back_after_its_row_was_marked_is_registered_again(archive: Path) -> None:
    victim = item_files(archive)[0]
    data = victim.read_bytes()
    victim.unlink()
    assert check(archive, "--repair")[0] == 0
    victim.write_bytes(data)  # restored from a backup
    code, out = check(archive)
    assert code == 1 and f"not in the state: {victim}" in out
    code, out = check(archive, "--repair")
    assert code == 0, out
    assert render_item(parse_item(victim.read_bytes())) == data


def test_a_damaged_database_is_reported_then_set_aside_and_rebuilt(archive: Path) -> None:
    state = archive / "state" / "feedwatch.sqlite3"
    conn = sqlite3.connect(state)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    assert pages > 4
    data = bytearray(state.read_bytes())
    page = len(data) // pages
    data[2 * page : 4 * page] = b"\x5a" * (2 * page)  # two pages of garbage
    state.write_bytes(bytes(data))
    files = archive_bytes(archive)

    code, out = check(archive)
    assert code == 1
    assert "problem: the state database is damaged" in out

    code, out = check(archive, "--repair")
    assert code == 0, out
    assert "repaired: set the damaged state aside as feedwatch.sqlite3.damaged-" in out
    assert f"imported: new {len(files)}" in out
    aside = list(state.parent.glob("feedwatch.sqlite3.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == bytes(data)  # kept, not deleted
    assert archive_bytes(archive) == files


def test_a_missing_state_is_a_problem_only_next_to_a_full_archive(tmp_path: Path) -> None:
    write_config(tmp_path)
    code, out = check(tmp_path)
    assert code == 0, out  # a fresh install: nothing stored yet
    assert not (tmp_path / "state" / "feedwatch.sqlite3").exists()  # check created nothing

    import_paths(load_config(tmp_path / "config.yaml"), [ITEMS], alerts=False)
    delete_state(tmp_path)
    code, out = check(tmp_path)
    assert code == 1 and "problem: no state database" in out
    code, out = check(tmp_path, "--repair")
    assert code == 0, out
    assert "repaired: rebuilt the state from the archive" in out


def test_daemon_start_logs_one_line_and_warns_when_counts_differ(
    archive: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(archive / "config.yaml")
    daemon = Daemon(config, archive / "config.yaml")
    with caplog.at_level(logging.INFO, logger="scheduler.daemon"):
        daemon.log_state_check()
    (record,) = [r for r in caplog.records if "state check:" in r.getMessage()]
    assert record.levelno == logging.INFO and "consistent" in record.getMessage()

    caplog.clear()
    extra = archive / "archive" / "extra.txt"
    extra.write_bytes(item_files(archive)[0].read_bytes())
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="scheduler.daemon"):
        daemon.log_state_check()
    assert time.monotonic() - started < 5
    (record,) = [r for r in caplog.records if "state check:" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "run `feedwatch check`" in record.getMessage()
