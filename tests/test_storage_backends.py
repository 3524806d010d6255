"""The state store on both backends: every test runs on SQLite and on PostgreSQL.

PostgreSQL comes from FEEDWATCH_TEST_PG (skipped with that reason when unset; `.ci/run` sets
it); each test gets a schema of its own, dropped afterwards (tests/pg.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from store.backends import open_storage
from store.feeds import FeedState
from store.partial import MAX_PAGE_TRIES, PartialStories
from store.pg import PgConnection, map_ddl, to_postgres
from store.queue import MAX_ATTEMPTS
from store.sqlstore import SQLStore
from store.state import SeenItem
from store.storage import StateStorage, iter_parts

Opener = Callable[[], SQLStore]
MS = 1_764_540_000_000  # epoch milliseconds of 2025-11-30: beyond a 32-bit integer


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a new connection to one fresh state store (call it twice for two processes)."""
    opened: list[SQLStore] = []

    def opener(target: str) -> Opener:
        def open_one() -> SQLStore:
            opened.append(open_storage(target))
            return opened[-1]

        return open_one

    if request.param == "sqlite":
        yield opener(str(tmp_path / "state" / "state.sqlite3"))
        return  # SQLite connections close with their thread's objects
    from pg import base_url, fresh_schema

    with fresh_schema(base_url()) as url:
        yield opener(url)
        for store in opened:
            store.close()  # before the schema is dropped


@pytest.fixture
def store(open_store: Opener) -> SQLStore:
    return open_store()


def _item(n: int, *, outlet: str = "rfi", story_id: int | None = None) -> SeenItem:
    url = f"https://www.rfi.fr/fr/afrique/{n}"
    return SeenItem(url, outlet, url, f"Titre {n}", MS + n, MS + n + 1, story_id, f"rfi/{n}.md")


def test_each_backend_meets_the_storage_interface(store: SQLStore) -> None:
    assert isinstance(store, StateStorage)
    assert all(part is not None for part in iter_parts(store))


def test_items_record_lookup_and_guid_scope(store: SQLStore) -> None:
    items = store.items
    with store.transaction():
        first = items.record(_item(1, story_id=7), "guid-1", "https://rfi.test/feed")
        again = items.record(_item(1), "guid-1", "https://rfi.test/feed")
        second = items.record(_item(2, story_id=7), None)
    assert first > 0 and second > first and again == 0  # a known URL is not recorded twice
    assert items.count() == 2 and items.is_seen(_item(1).canonical_url)
    found = items.lookup(_item(1).canonical_url)
    assert found == _item(1, story_id=7)  # epoch-ms timestamps round-trip whole
    # The GUID matches within its own feed only (store/state.py).
    by_guid = items.lookup(
        "https://elsewhere/x", "guid-1", outlet="rfi", guid_scope="https://rfi.test/feed"
    )
    assert by_guid is not None and by_guid.canonical_url == _item(1).canonical_url
    assert (
        items.lookup("https://elsewhere/x", "guid-1", outlet="rfi", guid_scope="https://evil/feed")
        is None
    )
    assert (
        items.lookup(
            "https://elsewhere/x", "guid-1", outlet="bbc", guid_scope="https://rfi.test/feed"
        )
        is None
    )
    assert items.story_path(7) == "rfi/1.md" and items.story_path(8) is None


def test_item_digests_are_bytes_both_ways(store: SQLStore) -> None:
    url = _item(3).canonical_url
    store.items.record(_item(3), None)
    assert store.items.digest_of(url) is None
    store.items.set_digest(url, b"\x00\xff\x10")
    assert store.items.digest_of(url) == b"\x00\xff\x10"
    store.items.set_digest(url, b"\x01")
    assert store.items.digest_of(url) == b"\x01" and store.items.digest_of("https://none/") is None


def test_runs_start_finish_and_abandon(store: SQLStore) -> None:
    first = store.runs.start("rfi")
    second = store.runs.start("rfi")
    assert second > first > 0
    store.runs.finish(first, status="ok", feeds=3, new_items=None, seen_items=4, errors=0)
    store.runs.set_new_items(first, 5)
    store.runs.abandon("bbc", MS, MS + 10, "timeout")  # no run of bbc: one is added
    rows = store.connection.execute(
        "SELECT outlet, status, feeds, new_items, seen_items, errors, finished_ms IS NOT NULL"
        " FROM runs ORDER BY id"
    ).fetchall()
    assert [tuple(r) for r in rows] == [
        ("rfi", "ok", 3, 5, 4, 0, True),
        ("rfi", "running", 0, 0, 0, 0, False),
        ("bbc", "timeout", 0, 0, 0, 1, True),
    ]


def test_feed_state_put_replaces_and_reads_back(store: SQLStore) -> None:
    feeds = store.feeds
    assert feeds.get("https://a.test/feed") is None
    feeds.put(FeedState("https://a.test/feed", etag='"x"', last_status=200, next_allowed_ms=MS))
    feeds.put(FeedState("https://b.test/feed", last_modified="Sun, 30 Nov 2025 10:00:00 GMT"))
    feeds.put(
        FeedState("https://a.test/feed", etag='"y"', consecutive_failures=2, next_allowed_ms=MS + 5)
    )
    a = feeds.get("https://a.test/feed")
    assert a == FeedState(
        "https://a.test/feed", etag='"y"', consecutive_failures=2, next_allowed_ms=MS + 5
    )
    assert [s.feed_url for s in feeds.all()] == ["https://a.test/feed", "https://b.test/feed"]
    assert feeds.earliest_allowed_ms(["https://a.test/feed"]) == MS + 5
    assert feeds.earliest_allowed_ms(["https://a.test/feed", "https://b.test/feed"]) is None


def test_queue_put_take_settle_and_outcomes(store: SQLStore) -> None:
    queue = store.queue
    first = queue.put("tok", "rfi", '{"n": 1}')
    queue.put_many([("tok", "rfi", "story", "50% off? ?"), ("tok", "rfi", "run_end", "")])
    assert first > 0 and queue.pending("tok") == 3 and queue.pending() == 3
    with store.transaction():
        rows = queue.take(10)
        assert [r.payload for r in rows] == ['{"n": 1}', "50% off? ?", ""]  # `%` and `?` intact
        queue.settle(rows[0], "new", upgraded=True, text_length=120)
        queue.settle(rows[1], "seen")
        queue.tally(rows[1], "partial")
        queue.remove(rows[2])
    assert queue.pending() == 0
    outcomes = queue.outcomes("tok")
    assert outcomes.count("rfi", "new") == 1 and outcomes.count("rfi", "seen") == 1
    assert outcomes.count("rfi", "upgraded") == 1 and outcomes.count("rfi", "partial") == 1
    assert outcomes.new_lengths == {"rfi": [120]}
    queue.forget("tok")
    assert queue.outcomes("tok").counts == {}


def test_a_row_that_keeps_failing_is_left_for_a_human(store: SQLStore) -> None:
    queue = store.queue
    queue.put("tok", "rfi", "bad")
    for _ in range(MAX_ATTEMPTS):
        with store.transaction():
            (row,) = queue.take(5)
            queue.failed(row)
    assert queue.take(5) == [] and queue.pending() == 0
    assert queue.outcomes("tok").count("rfi", "failed") == 1
    assert store.connection.execute("SELECT COUNT(*) FROM ingest_queue").fetchone()[0] == 1


def test_consumer_heartbeat(store: SQLStore) -> None:
    queue = store.queue
    assert queue.consumer() is None
    queue.heartbeat("oneoff")
    queue.heartbeat("daemon")  # replaces the row
    assert queue.consumer() is not None and queue.daemon_running()
    queue.sign_off()
    assert queue.consumer() is None


def test_a_failed_transaction_rolls_back_and_a_savepoint_alone(store: SQLStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.items.record(_item(1), None)
        raise RuntimeError("crash mid-ingest")
    assert store.items.count() == 0
    with store.transaction():
        store.items.record(_item(2), None)
        with pytest.raises(RuntimeError), store.savepoint():
            store.items.record(_item(3), None)
            raise RuntimeError("one story fails")
        store.items.record(_item(4), None)
    assert not store.items.is_seen(_item(3).canonical_url) and store.items.count() == 2


def test_partial_items(store: SQLStore) -> None:
    partials = PartialStories(store.connection)
    store.items.record(_item(5), None)
    url = _item(5).canonical_url
    assert partials.mark(url, "rfi", "https://rfi.test/page5", "HTTP 404") == 1
    assert partials.mark(url, "rfi", "https://rfi.test/page5", "timeout") == 2
    got = partials.get(url)
    assert got is not None and (got.tries, got.last_error, got.path) == (2, "timeout", "rfi/5.md")
    assert [p.canonical_url for p in partials.due("rfi")] == [url] and partials.count("rfi") == 1
    for _ in range(MAX_PAGE_TRIES - 2):
        partials.mark(url, "rfi", "https://rfi.test/page5", "timeout")
    assert partials.due("rfi") == [] and partials.count() == 1  # given up, still partial
    partials.clear(url)
    assert partials.get(url) is None and partials.count() == 0


def test_two_consumers_never_take_one_row_twice(open_store: Opener) -> None:
    """Two consumers (their own connections) drain the queue concurrently in batches."""
    producer = open_store()
    producer.queue.put_many([("tok", "rfi", "story", str(n)) for n in range(60)])
    taken: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def consume(slot: int) -> None:
        try:
            store = open_store()  # in its thread: a SQLite connection stays in its own
            barrier.wait()
            while True:
                with store.transaction():
                    rows = store.queue.take(4)
                    for row in rows:
                        store.queue.settle(row, "new")
                if not rows:
                    return
                taken[slot].extend(row.id for row in rows)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    everything = taken[0] + taken[1]
    assert len(everything) == len(set(everything)) == 60
    assert producer.queue.outcomes("tok").count("rfi", "new") == 60


def test_postgresql_take_skips_rows_another_open_transaction_holds(open_store: Opener) -> None:
    """Without the writer lock too: two open transactions take disjoint rows (SKIP LOCKED)."""
    first, second = open_store(), open_store()
    if not isinstance(first.connection, PgConnection):
        pytest.skip("SQLite has one writer at a time: no two transactions take at once")
    first.queue.put_many([("tok", "rfi", "story", str(n)) for n in range(6)])
    assert isinstance(second.connection, PgConnection)
    with first.connection.transaction():
        mine = first.queue.take(4)
        with second.connection.transaction():
            theirs = second.queue.take(4)
    assert [r.payload for r in mine] == ["0", "1", "2", "3"]
    assert [r.payload for r in theirs] == ["4", "5"]


@pytest.mark.timeout(30)  # before the fix it waited for the writer forever
def test_opening_a_postgresql_store_never_waits_for_an_open_write(open_store: Opener) -> None:
    """A process opening the store while the consumer writes neither waits nor deadlocks.

    CREATE INDEX IF NOT EXISTS takes a SHARE lock on its table before it finds the index, so
    each crawl's opening of the store queued behind the consumer's open batch, and two such
    statements deadlocked with it (the kill rounds lost whole outlets that way).
    """
    writer = open_store()
    if not isinstance(writer.connection, PgConnection):
        pytest.skip("SQLite's schema statements take no table locks")
    with writer.transaction():
        writer.items.record(_item(1), None)
        writer.queue.put("tok", "rfi", "{}")  # row locks on items and the queue, uncommitted
        started = time.monotonic()
        opened = open_store()  # its schema statements find every table and index there
        assert time.monotonic() - started < 5
    assert opened.items.count() == 1


def test_write_transactions_take_turns_on_both_backends(open_store: Opener) -> None:
    """The single-writer rule: a second writer waits until the first commits."""
    first = open_store()
    order: list[str] = []
    entered = threading.Event()

    def other() -> None:
        second = open_store()
        entered.wait(5)
        with second.transaction():
            order.append("second")

    thread = threading.Thread(target=other)
    thread.start()
    with first.transaction():
        first.items.record(_item(9), None)
        entered.set()
        thread.join(0.5)  # the other writer is blocked meanwhile
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"]


def test_literals_with_percent_and_question_marks_pass_through(store: SQLStore) -> None:
    row = store.connection.execute("SELECT 'a%b?', ? WHERE 'x' LIKE '%'", (7,)).fetchone()
    assert tuple(row) == ("a%b?", 7)
    assert tuple(store.connection.execute("SELECT '100%'").fetchone()) == ("100%",)


def test_statements_are_rewritten_for_psycopg() -> None:
    assert to_postgres("SELECT a FROM t WHERE b = ? AND c LIKE '%?%' -- why?") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE '%%?%%' -- why?"
    )
    assert to_postgres("SELECT 100 % ?") == "SELECT 100 %% %s"
    ddl = map_ddl(
        "CREATE TABLE x (id INTEGER PRIMARY KEY AUTOINCREMENT, n INT, ts INTEGER NOT NULL,"
        " d BLOB) WITHOUT ROWID"
    )
    assert ddl == (
        "CREATE TABLE x (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT,"
        " ts BIGINT NOT NULL, d BYTEA)"
    )


def test_an_unreachable_server_is_one_clear_line_without_the_password() -> None:
    from store.postgres import StoreUnavailable

    with pytest.raises(StoreUnavailable) as caught:
        open_storage("postgresql://fw:s3cret@127.0.0.1:1/feedwatch?connect_timeout=2")
    message = str(caught.value)
    assert message.startswith("cannot open the state store at postgresql://fw:***@127.0.0.1:1/")
    assert "s3cret" not in message and "\n" not in message


def test_a_lost_postgresql_connection_fails_one_statement_then_reconnects(
    open_store: Opener,
) -> None:
    import psycopg

    store, admin = open_store(), open_store()
    if not isinstance(store.connection, PgConnection):
        pytest.skip("SQLite has no server connection to lose")
    store.items.record(_item(1), None)
    backend = store.connection.execute("SELECT pg_backend_pid()").fetchone()[0]
    admin.connection.execute("SELECT pg_terminate_backend(?)", (backend,))  # as a restart does
    with pytest.raises(psycopg.OperationalError):
        store.items.count()  # this one met the dead connection: it fails, it is not repeated
    assert not store.connection.in_transaction
    assert store.items.count() == 1  # the next statement runs on a new connection
    with store.transaction():
        store.items.record(_item(2), None)
    assert store.items.count() == 2


def test_processes_starting_together_create_the_tables_once(open_store: Opener) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_store().items.count()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
