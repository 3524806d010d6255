"""The ingest consumer: the one warm writer that empties the durable queue (store/queue.py).

It holds the dedup index in memory across batches, and consumes the queue in batches: one
`BEGIN IMMEDIATE` transaction and one folder fsync per batch. Per story, as before: the archive
file is written atomically before the transaction that names it commits, and the queue row is
deleted in that same transaction, so SIGKILL at any point loses nothing (the row is still
queued) and stores nothing twice (a file already there is taken as written; a settled row is
gone). One story that fails is rolled back alone (a savepoint) and counted on its row.

Only one process consumes at a time: it holds `<state dir>/locks/ingest.lock` (an flock the
kernel drops when the holder dies), or on PostgreSQL a session advisory lock (the server drops
it when the holder's session ends; docs/CLUSTER.md). `feedwatch run` consumes in a thread for as long as it runs;
a one-off crawl, fetch or import starts `python -m feedwatch.ingest_consumer` beside it, which consumes
until its producer closes its stdin and the producer's stories are all settled.
"""

from __future__ import annotations

import argparse
import fcntl
import itertools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alerts.health import OutletRun
from conf.base import ConfigError
from conf.schema import Config, load_config
from ingest.ingestor import Ingestor, Outcome
from ingest.payload import story_from_payload
from ingest.settle import sanitized_story
from ingest.story import Story
from store.backends import open_storage
from store.queue import QueuedRow
from store.storage import QueueStorage, RunStorage

logger = logging.getLogger("ingest.consumer")  # not __main__ when run with -m

BATCH = 64  # stories per transaction: the fsync of the commit and the folders is shared
HEARTBEAT_S = 2.0
IDLE_S = 0.05  # poll interval of an empty queue
PRUNE_S = 3600.0


def lock_file(state_db: Path) -> Path:
    """The consumer lock of a state database."""
    return Path(state_db).parent / "locks" / "ingest.lock"


@contextmanager
def consumer_lock(state_db: Path, give_up: Callable[[], bool]) -> Iterator[bool]:
    """Hold the consumer lock for the block (True), or yield False once `give_up()` says so."""
    path = lock_file(state_db)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if give_up():
                    yield False
                    return
                time.sleep(0.1)
        yield True
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def single_consumer(
    config: Config, give_up: Callable[[], bool]
) -> Iterator[Callable[[], bool] | None]:
    """The one-consumer-at-a-time rule for `config`'s state: None once `give_up()` says so,
    else "is it still held?" for the block.

    SQLite: the flock beside the state file (held until released). PostgreSQL: a session
    advisory lock (consumers on several machines; the server frees it when the holder's
    session ends, and a restarted server loses it: the holder must stop and try again).
    """
    if config.postgres_url is None:
        with consumer_lock(config.state_db, give_up) as held:
            yield (lambda: True) if held else None
        return
    from store.pglock import INGEST_LOCK, session_lock

    with session_lock(config.postgres_url, INGEST_LOCK, give_up) as lock:
        yield None if lock is None else lock.held


class Consumer:
    """Consumes queued stories in batches with one warm Ingestor (dedup index in memory)."""

    def __init__(self, config: Config, *, role: str = "oneoff", batch: int = BATCH) -> None:
        self.config = config
        self.role = role
        self.batch = batch
        self.storage = open_storage(config.state_target)
        self.queue: QueueStorage = self.storage.queue
        self.runs: RunStorage = self.storage.runs
        self.ingestor = Ingestor(config, self.storage)
        self._warm = False
        if role == "daemon":
            self._warm_up()  # the crawls it serves find the index loaded
        self._beat = 0.0
        self._pruned = time.monotonic()
        self.queue.prune_outcomes()

    def close(self) -> None:
        try:
            self.queue.sign_off()
        finally:
            self.storage.close()

    def heartbeat(self) -> None:
        """Refresh the heartbeat row (at most every HEARTBEAT_S seconds)."""
        now = time.monotonic()
        if now - self._beat >= HEARTBEAT_S:
            self.queue.heartbeat(self.role)
            self._beat = now
        if now - self._pruned >= PRUNE_S:  # the daemon's outcomes: nobody comes back for them
            self.queue.prune_outcomes()
            self._pruned = now

    def run_batch(self) -> int:
        """Consume up to `batch` rows in one transaction; returns how many were taken."""
        self.heartbeat()
        ended: list[str] = []  # outlets whose producer finished in this batch
        reload = False
        archive = None
        if not self._warm and any(row.kind != "run_end" for row in self.queue.take(self.batch)):
            self._warm_up()
        try:
            with self.storage.transaction():
                rows = self.queue.take(self.batch)
                if not self._warm:  # a story queued since the look above waits for the next batch
                    rows = list(itertools.takewhile(lambda row: row.kind == "run_end", rows))
                if any(row.kind != "run_end" for row in rows):
                    archive = self.ingestor.archive
                    archive.begin_batch()
                for row in rows:
                    try:
                        with self.storage.savepoint():
                            run = self._consume(row)
                    except Exception as exc:  # one bad row must not stop the queue
                        self.queue.failed(row)
                        reload = True  # the index may hold what was just rolled back
                        logger.error("ingest of queued row %d failed: %s", row.id, exc)
                    else:
                        if run is not None:
                            ended.append(run)
                if archive is not None:
                    archive.sync_batch()  # renames durable before the rows naming them commit
        except BaseException:
            if archive is not None:  # its staged files: the rows that would name them rolled back
                archive.abort_batch()
            self._reload()
            raise
        if reload:
            self._reload()
        if ended:
            self._after_runs(ended)
        return len(rows)

    def _consume(self, row: QueuedRow) -> str | None:
        if row.kind == "run_end":
            return self._end_run(row)
        # A crawl queues bodies as they came: sanitized here, on the consumer's core.
        story = sanitized_story(story_from_payload(row.payload))
        outcome = self.ingestor.ingest(story)
        length = story.document().text_length if outcome.kind == "new" else 0
        self.queue.settle(row, outcome.kind, upgraded=outcome.upgraded, text_length=length)
        for tally in _tallies(story, outcome):
            self.queue.tally(row, tally)
        if outcome.kind == "new":
            logger.info("stored %s -> %s", story.stored.url, outcome.path)
        if "no_body" in _tallies(story, outcome):
            logger.warning(
                "%s: %s has neither body nor summary (%s); stored with its title only, its page"
                " is retried by the next crawls",
                story.outlet,
                story.stored.url,
                story.partial_reason,
            )
        return None

    def _end_run(self, row: QueuedRow) -> str:
        """A producer's outlet is done: its run record gets the true count, health is checked."""
        info = json.loads(row.payload)
        done = self.queue.outcomes(row.token)
        new = done.count(row.outlet, "new")
        if info.get("run_id"):
            self.runs.set_new_items(int(info["run_id"]), new)
        self.queue.remove(row)
        if info.get("health", True) and self.ingestor.alerts is not None:
            run = OutletRun(
                outlet=row.outlet,
                ok=bool(info.get("ok", True)),
                finished_ms=int(info.get("finished_ms", 0)),
                new_items=new,
                body_lengths=tuple(done.new_lengths.get(row.outlet, ())),
                error=str(info.get("error", "")),
            )
            self.ingestor.alerts.check_health([run])
        return row.outlet

    def _after_runs(self, outlets: list[str]) -> None:
        """A producer finished: send the alerts its stories queued (outside any transaction)."""
        try:
            report = self.ingestor.deliver_alerts()
        except Exception as exc:  # delivery is retried later; the stories are stored
            logger.error("alert delivery failed: %s", exc)
            return
        if report is not None and (report.sent or report.failed):
            logger.info(
                "alerts after %s: %d sent, %d failed, %d waiting",
                ", ".join(outlets),
                report.sent,
                report.failed,
                report.waiting,
            )

    def _reload(self) -> None:
        """A fresh Ingestor: its in-memory index is rebuilt from what was committed."""
        self.ingestor = Ingestor(self.config, self.storage)
        self._warm = False
        if self.role == "daemon":
            self._warm_up()

    def _warm_up(self) -> None:
        """Load the index and sweep the archive, outside any transaction (their set-up commits).

        A one-off consumer does it before its first story: a crawl whose feeds all answered 304
        queues only end-of-run rows, which need neither (docs/BENCHMARKS.md, section 7).
        """
        self.ingestor.warm()
        self._warm = True

    def consume(self, done: Callable[[], bool], stop: threading.Event | None = None) -> None:
        """Consume until `done()`, asked after each batch (or until `stop` is set)."""
        while stop is None or not stop.is_set():
            taken = self.run_batch()
            if done():
                return  # another producer's waiting consumer takes over the rest
            if taken:
                continue
            self.heartbeat()
            if stop is not None:
                stop.wait(IDLE_S)
            else:
                time.sleep(IDLE_S)


def consume_all(config: Config) -> None:
    """Consume everything queued, in this process (imports and `scrapy crawl` without a daemon)."""
    with single_consumer(config, give_up=lambda: False):
        consumer = Consumer(config)
        try:
            consumer.consume(done=lambda: consumer.queue.pending() == 0)
        finally:
            consumer.close()


def consume_for(config: Config, token: str, producer_done: threading.Event) -> None:
    """Consume until the producer `token` is done and all its rows are settled.

    Waits for the lock while another consumer holds it; that consumer takes this producer's
    rows too, and this one returns as soon as they are all settled.
    """
    probe = open_storage(config.state_target)
    queue = probe.queue

    def finished() -> bool:
        return producer_done.is_set() and queue.pending(token) == 0

    try:
        with single_consumer(config, give_up=finished) as held:
            if not held:
                return
            consumer = Consumer(config)
            try:
                consumer.consume(done=finished)
            finally:
                consumer.close()
    finally:
        probe.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m feedwatch.ingest_consumer --config FILE --token T`: consume beside one producer."""
    parser = argparse.ArgumentParser(prog="python -m feedwatch.ingest_consumer")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    # The command line's format (feedwatch/logsetup.py), so both halves' lines read alike.
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"ingest consumer: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C reaches the whole process group: the producer decides, this side settles what
    # was queued and exits when its stdin closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    producer_done = threading.Event()

    def watch_stdin() -> None:
        # The producer closes our stdin when it has queued everything (or when it dies).
        sys.stdin.buffer.read()
        producer_done.set()

    threading.Thread(target=watch_stdin, name="producer-watch", daemon=True).start()
    try:
        consume_for(config, args.token, producer_done)
    except Exception as exc:  # the crawl settles what is left itself
        print(f"ingest consumer: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _tallies(story: Story, outcome: Outcome) -> list[str]:
    """What the crawl summary counts beside the outcome: partial stories and their pages."""
    tallies = []
    if outcome.kind == "new" and not story.stored.body.strip():
        tallies.append("no_body")
    if outcome.completed:
        tallies.append("completed")
    elif outcome.partial:
        tallies.append("partial" if outcome.kind == "new" else "still_partial")
    return tallies
