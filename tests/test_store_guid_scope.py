"""GUID identity is scoped by feed; a state written before that column existed stays readable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from store.state import ItemState, SeenItem, open_state

# The items table as feedwatch created it before GUIDs were scoped (no guid_scope column).
_OLD_ITEMS = """
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    canonical_url TEXT NOT NULL UNIQUE,
    guid TEXT,
    outlet TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    ts INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    story_id INTEGER,
    path TEXT
);
"""


def _item(url: str, outlet: str) -> SeenItem:
    return SeenItem(url, outlet, url, "title", 1, 1, None, None)


def test_guid_matches_only_within_its_feed(tmp_path: Path) -> None:
    items = ItemState(open_state(tmp_path / "s.sqlite3"))
    items.record(_item("https://a.example/1", "a"), "g1", "https://a.example/feed")
    same_feed = items.lookup(
        "https://a.example/1-moved", "g1", outlet="a", guid_scope="https://a.example/feed"
    )
    assert same_feed is not None and same_feed.canonical_url == "https://a.example/1"
    other_feed = items.lookup(
        "https://a.example/2", "g1", outlet="a", guid_scope="https://a.example/other"
    )
    assert other_feed is None
    other_outlet = items.lookup(
        "https://b.example/1", "g1", outlet="b", guid_scope="https://a.example/feed"
    )
    assert other_outlet is None


def test_old_state_is_migrated_and_its_guids_stay_scoped_by_outlet(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(_OLD_ITEMS)
    conn.execute(
        "INSERT INTO items (canonical_url, guid, outlet, url, title, ts, first_seen_ms)"
        " VALUES ('https://a.example/1', 'g1', 'a', 'https://a.example/1', 't', 1, 1)"
    )
    conn.commit()
    conn.close()

    migrated = open_state(path)
    open_state(path).close()  # a second open (another process) finds the column there
    items = ItemState(migrated)
    assert items.count() == 1
    columns = {row[1] for row in migrated.execute("PRAGMA table_info(items)")}
    assert "guid_scope" in columns
    # The old row still answers for its own outlet, from whichever of its feeds...
    hit = items.lookup("https://a.example/x", "g1", outlet="a", guid_scope="https://a/feed")
    assert hit is not None and hit.canonical_url == "https://a.example/1"
    # ...but never for another outlet reusing the GUID.
    assert items.lookup("https://b.example/x", "g1", outlet="b", guid_scope="https://b/f") is None


def test_a_guid_equal_to_its_url_is_not_stored_twice_and_still_matches(tmp_path: Path) -> None:
    conn = open_state(tmp_path / "s.sqlite3")
    items = ItemState(conn)
    url, feed = "https://www.a.example/story/1", "https://a.example/feed"
    items.record(SeenItem("https://a.example/story/1", "a", url, "t", 1, 1, None, None), url, feed)
    assert conn.execute("SELECT guid FROM items").fetchall() == [("",)]
    # The entry comes back under another URL with the same GUID: found, in its feed only.
    moved = items.lookup("https://a.example/story/1-v2", url, outlet="a", guid_scope=feed)
    assert moved is not None and moved.url == url
    assert items.lookup("https://a.example/x", url, outlet="a", guid_scope="https://o/f") is None
    assert items.lookup("https://a.example/x", url, outlet="b", guid_scope=feed) is None
    # A GUID that is only another row's URL (not its GUID) does not match that row.
    items.record(_item("https://a.example/2", "a"), "g2", feed)
    assert (
        items.lookup("https://a.example/y", "https://a.example/2", outlet="a", guid_scope=feed)
        is None
    )
