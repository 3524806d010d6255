"""The dedup and alert tables' SQL runs unchanged on PostgreSQL (the store's psycopg wrapper).

The PostgreSQL store runs the same table classes as SQLite's (store/pg.py rewrites `?` to `%s`
and maps the DDL types), so SQL that only SQLite understands fails here. Needs
FEEDWATCH_TEST_PG (skipped without it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import base_url, fresh_schema

from conf.dedup import DedupConfig
from dedup.clusters import load_cluster
from dedup.engine import DedupEngine, Document
from store.imports import read_item_file
from store.postgres import PostgresState

TEXT = Path(__file__).parent / "fixtures" / "dedup" / "text"


@pytest.fixture()
def pg_url() -> Iterator[str]:
    with fresh_schema(base_url()) as url:
        yield url


def _doc(name: str, url: str) -> Document:
    item = read_item_file(TEXT / name)
    return Document(name, url, item.title, item.body, "epochtimes", 1, True)


def test_dedup_classifies_commits_and_reloads_on_postgresql(pg_url: str) -> None:
    store = PostgresState(pg_url)
    try:
        engine = DedupEngine(store, DedupConfig())
        first = engine.process(_doc("feed_n12428731.md", "https://e/1"))
        mirror = engine.process(_doc("mirror_n12428731.md", "https://m/1"))
        assert (first.kind, mirror.kind) == ("new", "repost")
        assert mirror.story_id == first.story_id and mirror.matched_key == "feed_n12428731.md"
        assert engine.classify(_doc("feed_n12428731.md", "https://e/1")).kind == "duplicate"
        fresh = DedupEngine(store, DedupConfig())
        assert len(fresh.index) == 2
        cluster = load_cluster(store.dedup, first.story_id or 0)
        assert cluster is not None and [m.kind for m in cluster.members] == ["new", "repost"]
        assert store.dedup.outlet_stories("epochtimes") == (1, 0)
    finally:
        store.close()


def test_alert_rows_and_claims_on_postgresql(pg_url: str) -> None:
    first, second = PostgresState(pg_url), PostgresState(pg_url)
    try:
        a = first.alerts
        with first.transaction():
            assert a.record_match("r", 1, "rfi", "t", "u", 1, "p", "[]", 1)
            assert not a.record_match("r", 1, "rfi", "t", "u", 1, "p", "[]", 2)
            event = a.queue_event("k", "match", "r", "t", "b", "{}", 10, ["x", "y"])
            assert event is not None
            assert a.queue_event("k", "match", "r", "t", "b", "{}", 11, ["x"]) is None
            a.set_match_events(event, "r", [1])
            assert a.matched("r", 1) and not a.matched("r", 2)
            a.add_repost(1, "voa", "u2", 5)
            a.add_repost(1, "voa", "u2", 6)
            a.set_digest_period("r", 100, 0)
            a.set_digest_period("r", 200, a.newest_repost_id())
            a.put_health("rfi", "{}")
            a.put_health("rfi", '{"active": []}')
        assert a.digest_period("r") == (200, 1) and a.health_states() == {"rfi": '{"active": []}'}
        due = [row[0] for row in a.due(20)]
        assert len(due) == 2
        claims = [store.alerts.claim(due[0], 20, 1000) for store in (first, second)]
        assert claims == [True, False]
        a.mark_failed(due[1], 1, 30, "down")
        a.mark_sent(due[0], 1, 40)
        assert a.pending_count() == 1 and a.matches_after(0) == [(1, "r", 1)]
        assert [d[1] for d in a.deliveries(event)] == ["sent", "pending"]
        assert [e[0] for e in a.events(5, "match")] == [event] and a.events(5, "digest") == []
        assert a.health_of("rfi") == '{"active": []}' and a.health_of("dw") is None
    finally:
        first.close()
        second.close()
