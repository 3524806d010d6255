"""The dedup and alert tables behind the storage interface: protocols, portable claims."""

from __future__ import annotations

import inspect
import sqlite3
import threading
from pathlib import Path

import pytest

from store.sqlite import SQLiteState, open_storage
from store.storage import AlertStorage, DedupStorage, StateStorage


def _members(protocol: type) -> list[str]:
    return [
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_") and callable(value)
    ]


@pytest.mark.parametrize(("part", "protocol"), [("dedup", DedupStorage), ("alerts", AlertStorage)])
def test_the_sqlite_parts_meet_their_protocols_method_by_method(
    tmp_path: Path, part: str, protocol: type
) -> None:
    storage = open_storage(tmp_path / "state.db")
    try:
        assert isinstance(storage, StateStorage)
        impl = getattr(storage, part)
        assert isinstance(impl, protocol)
        names = _members(protocol)
        assert len(names) >= 10
        for name in names:
            wanted = list(inspect.signature(getattr(protocol, name)).parameters)[1:]
            given = list(inspect.signature(getattr(impl, name)).parameters)
            assert given == wanted, (name, given, wanted)
    finally:
        storage.close()


def _due_alert(storage: SQLiteState, channels: list[str]) -> list[int]:
    with storage.transaction():
        storage.alerts.queue_event("k1", "match", "r", "t", "b", "{}", 1000, channels)
    return [row[0] for row in storage.alerts.due(2000)]


def test_a_due_outbox_row_is_claimed_by_one_of_two_connections(tmp_path: Path) -> None:
    first, second = open_storage(tmp_path / "s.db"), open_storage(tmp_path / "s.db")
    try:
        (outbox_id,) = _due_alert(first, ["file"])
        # Both senders saw it due; each claims it on its own connection.
        assert [row[0] for row in second.alerts.due(2000)] == [outbox_id]
        with first.transaction():
            won = first.alerts.claim(outbox_id, 2000, 2000 + 600_000)
        with second.transaction():
            lost = second.alerts.claim(outbox_id, 2000, 2000 + 600_000)
        assert (won, lost) == (True, False)
        assert second.alerts.due(2000) == []  # leased: not due again before the lease ends
        with second.transaction():  # once the lease has run out, a retry may take it
            assert second.alerts.claim(outbox_id, 2000 + 600_000, 2000 + 1_200_000)
    finally:
        first.close()
        second.close()


def test_racing_senders_claim_each_row_exactly_once(tmp_path: Path) -> None:
    setup = open_storage(tmp_path / "s.db")
    channels = [f"c{i}" for i in range(40)]
    ids = _due_alert(setup, channels)
    setup.close()
    start = threading.Barrier(4)
    won: list[list[int]] = [[] for _ in range(4)]

    def sender(n: int) -> None:
        storage = open_storage(tmp_path / "s.db")
        try:
            start.wait()
            for outbox_id in ids:
                with storage.transaction():
                    if storage.alerts.claim(outbox_id, 2000, 602_000):
                        won[n].append(outbox_id)
        finally:
            storage.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = sorted(i for w in won for i in w)
    assert claimed == sorted(ids)  # every row once, none twice


def test_an_event_key_is_queued_once(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "s.db")
    try:
        with storage.transaction():
            first = storage.alerts.queue_event("k", "match", None, "t", "b", "{}", 1, ["a", "a"])
            again = storage.alerts.queue_event("k", "match", None, "t", "b", "{}", 2, ["a"])
        assert first is not None and again is None
        assert len(storage.alerts.due(10)) == 1
    finally:
        storage.close()


def test_a_bare_connection_is_taken_as_the_embedded_store() -> None:
    conn = sqlite3.connect(":memory:")
    storage = SQLiteState.on(conn)
    assert isinstance(storage.dedup, DedupStorage) and storage.dedup.item_count() == 0
