"""The durable ingest queue and its consumer: batches, outcomes, bad rows, crashes, hand-off.

Stories are real items (tests/fixtures/alerts, provenance there). The kill rounds of whole
processes are in tests/test_reliability_crash.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import store.archive
from conf.schema import Config, load_config
from ingest.consumer import Consumer
from ingest.ingestor import Story
from ingest.payload import story_from_payload, story_to_payload
from scheduler.ingestthread import IngestThread
from scheduler.status import status_report
from store.document import Body
from store.format import StoredItem, parse_item
from store.imports import read_item_file
from store.queue import MAX_ATTEMPTS, IngestQueue
from store.sqlite import open_storage
from store.state import open_state
from store.storage import (
    AlertStorage,
    DedupStorage,
    FeedStateStorage,
    ItemStorage,
    QueueStorage,
    RunStorage,
    StateStorage,
    iter_parts,
)
from store.urls import canonical_url

ROOT = Path(__file__).resolve().parent.parent
ITEMS = Path(__file__).parent / "fixtures" / "alerts"
SNAPSHOT = ROOT / "feedwatch" / "data" / "snapshot.warc.gz"


@pytest.fixture()
def config(tmp_path: Path) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(
        "archive_dir: archive\nstate_db: state/state.sqlite3\noutlets: {}\n", encoding="utf-8"
    )
    return load_config(path)


def _story(name: str, outlet: str = "rfi") -> Story:
    item = read_item_file(ITEMS / name)
    body = Body(item.body).settled()  # as the crawl side sends it: text computed
    return Story(
        outlet, canonical_url(item.url), item, first_seen_ms=item.ts + 1, body=body,
        body_html=item.body, digest=b"\x01\x02", guid=f"g-{name}", feed_url="https://x.test/feed",
    )  # fmt: skip


def _queue(config: Config) -> IngestQueue:
    return IngestQueue(open_state(config.state_db))


def test_a_story_survives_the_queue_with_its_computed_text() -> None:
    story = _story("rfi_1000000_putin_icc.md")
    back = story_from_payload(story_to_payload(story))
    assert back.stored == story.stored and back.canonical_url == story.canonical_url
    assert (back.guid, back.feed_url, back.digest) == (story.guid, story.feed_url, b"\x01\x02")
    assert back.body is not None and back.body.html == story.html
    # The visible text crossed the queue: the consumer does not parse the body again.
    assert back.body._text == story.body.text  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="not a queued story"):
        story_from_payload('{"outlet": "rfi"}')


def test_the_consumer_settles_a_batch_and_reports_outcomes(config: Config) -> None:
    queue = _queue(config)
    for name, outlet in [
        ("repost_rfi_freedom_house.md", "rfi"),
        ("repost_voa_freedom_house.md", "voa"),  # the same story elsewhere: a repost
        ("repost_rfi_freedom_house.md", "rfi"),  # the same URL again: seen
        ("dw_1022765_trump_ukraine.md", "dw"),
    ]:
        queue.put("t1", outlet, story_to_payload(_story(name, outlet)))
    queue.put("t1", "rfi", json.dumps({"health": False}), "run_end")
    consumer = Consumer(config)
    assert consumer.run_batch() == 5
    assert queue.pending("t1") == 0
    done = queue.outcomes("t1")
    assert done.count("rfi", "new") == 1 and done.count("rfi", "seen") == 1
    assert done.count("voa", "merged") == 1 and done.count("dw", "new") == 1
    assert len(done.new_lengths["rfi"]) == 1 and done.new_lengths["rfi"][0] > 100
    files = sorted(config.archive_dir.rglob("*.txt"))
    assert len(files) == 2
    assert {canonical_url(parse_item(f.read_bytes()).url) for f in files} == {
        _story("repost_rfi_freedom_house.md").canonical_url,
        _story("dw_1022765_trump_ukraine.md").canonical_url,
    }
    queue.forget("t1")
    assert queue.outcomes("t1").counts == {}
    consumer.close()


def test_a_one_off_consumer_loads_the_index_only_when_a_story_comes(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A crawl whose feeds all answered 304 queues only its end-of-run row: its consumer must
    # not load the index (at 10^6 stories ~6 s and ~800 MB) nor sweep the archive for it.
    from dedup import engine as dedup_engine
    from ingest import ingestor as ingestor_module
    from store import archive as archive_module

    made: list[str] = []

    class CountedEngine(dedup_engine.DedupEngine):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            made.append("index")
            super().__init__(*args, **kwargs)

    class CountedArchive(archive_module.Archive):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            made.append("archive")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ingestor_module, "DedupEngine", CountedEngine)
    monkeypatch.setattr(ingestor_module, "Archive", CountedArchive)
    queue = _queue(config)
    run_id = open_storage(config.state_db).runs.start("rfi")
    queue.put("t1", "rfi", json.dumps({"run_id": run_id, "health": False}), "run_end")
    consumer = Consumer(config)
    assert consumer.run_batch() == 1 and queue.pending("t1") == 0
    assert made == []
    queue.put("t2", "rfi", story_to_payload(_story("dw_1022765_trump_ukraine.md", "rfi")))
    assert consumer.run_batch() == 1
    assert sorted(made) == ["archive", "index"] and queue.outcomes("t2").count("rfi", "new") == 1
    consumer.close()

    made.clear()
    daemon = Consumer(config, role="daemon")  # warm before the first crawl hands it stories
    assert sorted(made) == ["archive", "index"] and len(daemon.ingestor.dedup.index) == 1  # type: ignore[union-attr]
    daemon.close()


def test_a_bad_row_fails_alone_and_is_set_aside_after_its_attempts(config: Config) -> None:
    queue = _queue(config)
    queue.put("t", "rfi", "{not json")
    queue.put("t", "rfi", story_to_payload(_story("rfi_1000000_putin_icc.md")))
    consumer = Consumer(config)
    for _ in range(MAX_ATTEMPTS):
        consumer.run_batch()
    assert queue.outcomes("t").count("rfi", "new") == 1  # the good row was not held back
    assert queue.outcomes("t").count("rfi", "failed") == 1
    assert queue.pending("t") == 0 and queue.take(10) == []  # skipped from now on...
    row = queue.conn.execute("SELECT attempts, payload FROM ingest_queue").fetchone()
    assert row == (MAX_ATTEMPTS, "{not json")  # ...but kept, nothing is lost
    consumer.close()


def test_a_crash_before_commit_leaves_every_row_queued_and_stores_nothing_twice(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = _queue(config)
    for name in ("repost_rfi_freedom_house.md", "dw_1022765_trump_ukraine.md"):
        queue.put("t", "rfi", story_to_payload(_story(name)))
    consumer = Consumer(config)

    def crash(folder: Path) -> None:
        # The batch's files are fsynced and in place; their folders' fsync fails: no commit.
        raise OSError("disk gone")

    monkeypatch.setattr(store.archive, "_fsync_dir", crash)
    with pytest.raises(OSError):
        consumer.run_batch()
    assert queue.pending("t") == 2  # rolled back: still queued
    assert len(list(config.archive_dir.rglob("*.txt"))) == 2  # files without rows
    assert open_state(config.state_db).execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    monkeypatch.undo()
    consumer = Consumer(config)
    assert consumer.run_batch() == 2
    assert queue.outcomes("t").count("rfi", "new") == 2  # the files were taken as written
    assert len(list(config.archive_dir.rglob("*.txt"))) == 2
    assert open_state(config.state_db).execute("SELECT COUNT(*) FROM items").fetchone()[0] == 2


def test_the_heartbeat_says_whether_a_daemon_consumes(config: Config) -> None:
    queue = _queue(config)
    assert not queue.daemon_running()
    queue.heartbeat("oneoff")
    assert queue.consumer() == (os.getpid(), "oneoff") and not queue.daemon_running()
    queue.heartbeat("daemon")
    assert queue.daemon_running()
    queue.conn.execute("UPDATE ingest_consumer SET heartbeat_ms = heartbeat_ms - 60000")
    assert not queue.daemon_running()  # stale: the daemon is gone
    queue.heartbeat("daemon")
    queue.conn.execute("UPDATE ingest_consumer SET pid = 2147483646")
    assert not queue.daemon_running()  # no such process
    queue.sign_off()


def test_status_says_how_many_stories_wait_and_who_consumes(config: Config) -> None:
    queue = _queue(config)
    queue.put("t", "rfi", "{}")
    text, _ = status_report(config, queue.conn, 3)
    assert "ingest queue: 1 waiting (no consumer running)" in text.splitlines()
    queue.heartbeat("daemon")
    text, _ = status_report(config, queue.conn, 3)
    assert f"ingest queue: 1 waiting (daemon consumer, pid {os.getpid()})" in text.splitlines()


def _demo_config(folder: Path) -> Path:
    raw = yaml.safe_load((ROOT / "feedwatch" / "data" / "demo-config.yaml").read_text("utf-8"))
    raw["archive_dir"] = "archive"
    raw["state_db"] = "state/feedwatch.sqlite3"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _crawl(config: Path, outlet: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "feedwatch", "crawl", outlet, "--replay", str(SNAPSHOT)]
    return subprocess.run(
        [*command, "--config", str(config)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_a_crawl_hands_its_stories_to_a_running_daemon(tmp_path: Path) -> None:
    path = _demo_config(tmp_path)
    config = load_config(path)
    queue = _queue(config)
    # This test process plays the daemon: its heartbeat is fresh, its pid alive.
    queue.heartbeat("daemon")
    result = _crawl(path, "dw")
    assert result.returncode == 0, result.stderr
    line = result.stdout.splitlines()[0]
    queued = queue.pending()
    assert f"stories queued {queued - 1} for the running daemon" in line  # + end-of-run row
    assert queued > 5
    assert not list(config.archive_dir.rglob("*.txt"))  # nothing stored by the crawl itself
    consumer = Consumer(config, role="daemon", batch=4)  # several batches
    consumer.consume(done=lambda: queue.pending() == 0)
    assert queue.pending() == 0
    stored = len(list(config.archive_dir.rglob("*.txt")))
    # The daemon's consumer recorded the run's true count in the run record.
    conn = sqlite3.connect(config.state_db)
    assert conn.execute("SELECT new_items FROM runs").fetchone()[0] == stored > 0
    consumer.close()


def test_a_crawl_with_its_own_consumer_reports_what_it_stored(tmp_path: Path) -> None:
    path = _demo_config(tmp_path)
    result = _crawl(path, "dw")
    assert result.returncode == 0, result.stderr
    files = list((tmp_path / "archive").rglob("*.txt"))
    assert f"stories {len(files)} new" in result.stdout and len(files) > 5
    conn = sqlite3.connect(tmp_path / "state" / "feedwatch.sqlite3")
    assert conn.execute("SELECT COUNT(*) FROM ingest_queue").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM ingest_outcomes").fetchone()[0] == 0  # read, gone
    assert conn.execute("SELECT new_items FROM runs").fetchone()[0] == len(files)


def test_stored_item_fields_are_unchanged_by_the_queue(config: Config) -> None:
    # Byte-exact format: what the consumer writes is the crawl's StoredItem, nothing re-rendered.
    story = _story("rfi_999999_korea_defectors.traditional-s2t.md")
    queue = _queue(config)
    queue.put("t", "rfi", story_to_payload(story))
    Consumer(config).run_batch()
    (path,) = config.archive_dir.rglob("*.txt")
    assert parse_item(path.read_bytes()) == StoredItem(*story.stored.__dict__.values())


def test_the_sqlite_store_meets_the_storage_interface(config: Config) -> None:
    storage = open_storage(config.state_db)
    try:
        assert isinstance(storage, StateStorage)
        for part, protocol in zip(
            iter_parts(storage),
            (ItemStorage, RunStorage, FeedStateStorage, QueueStorage, DedupStorage, AlertStorage),
            strict=True,
        ):
            assert isinstance(part, protocol), (part, protocol)
        # A savepoint rolls back alone inside the open transaction.
        with storage.transaction():
            storage.queue.put("t", "rfi", "{}")
            with pytest.raises(RuntimeError), storage.savepoint():
                storage.queue.put("t", "rfi", "{}")
                raise RuntimeError("undo this one")
        assert storage.queue.pending("t") == 1
    finally:
        storage.close()


def test_the_daemon_thread_consumes_beats_and_settles_the_rest_when_stopped(
    config: Config,
) -> None:
    queue = _queue(config)
    thread = IngestThread(config)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not queue.daemon_running() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert queue.daemon_running()  # crawls now hand their stories to it
        for name in ("repost_rfi_freedom_house.md", "dw_1022765_trump_ukraine.md"):
            queue.put("t", "rfi", story_to_payload(_story(name)))
    finally:
        thread.stop()
    assert not thread.is_alive()
    assert queue.pending() == 0 and queue.outcomes("t").count("rfi", "new") == 2
    assert not queue.daemon_running()  # signed off
