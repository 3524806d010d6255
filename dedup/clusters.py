"""Story clusters: the first-seen item is the story, later reposts/revisions join it with provenance.

Tables (all prefixed `dedup_`, in the caller's state database):
  dedup_stories(id, item_id, key, best_len, best_full_text, created_ms)
                -- key: '' since sketches (it is dedup_items.key of item_id; nothing reads it)
  dedup_items(id, key, canonical_url, story_id, kind, outlet, seen_ms, title, text_hash,
              text_len, full_text, matched_key, scores JSON, text zlib (empty in new rows),
              shingles, sketch)  -- the sketch replaces the text: dedup/sketch.py
  dedup_fingerprints(item_id, simhash, anchors)  -- see dedup/index.py
  dedup_meta(name, value)
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from dedup import index

__all__ = ["Member", "StoryCluster", "UnionFind", "create_tables", "load_cluster"]


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the dedup tables if missing."""
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS dedup_stories (
            id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, key TEXT NOT NULL,
            best_len INTEGER NOT NULL, best_full_text INTEGER NOT NULL, created_ms INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS dedup_items (
            id INTEGER PRIMARY KEY, key TEXT NOT NULL, canonical_url TEXT NOT NULL,
            story_id INTEGER, kind TEXT NOT NULL, outlet TEXT NOT NULL, seen_ms INTEGER NOT NULL,
            title TEXT NOT NULL, text_hash TEXT NOT NULL, text_len INTEGER NOT NULL,
            full_text INTEGER NOT NULL, matched_key TEXT, scores TEXT NOT NULL, text BLOB NOT NULL,
            shingles INTEGER, sketch BLOB);
        CREATE INDEX IF NOT EXISTS dedup_items_url ON dedup_items (canonical_url);
        CREATE INDEX IF NOT EXISTS dedup_items_story ON dedup_items (story_id);
        CREATE TABLE IF NOT EXISTS dedup_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        """
    )
    # Databases from before sketches: the columns are added, old rows keep their text (read
    # by the engine when it needs their sketch).
    columns = {row[1] for row in conn.execute("PRAGMA table_info(dedup_items)")}
    for name, kind in (("shingles", "INTEGER"), ("sketch", "BLOB")):
        if name not in columns:
            try:
                conn.execute(f"ALTER TABLE dedup_items ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise
    index.create_tables(conn)


@dataclass(frozen=True)
class Member:
    """One item of a story cluster, with its provenance."""

    key: str
    kind: str  # new (the story itself) | repost | revision | duplicate
    outlet: str
    canonical_url: str
    seen_ms: int
    matched_key: str | None
    scores: dict[str, float]


@dataclass(frozen=True)
class StoryCluster:
    """A story and every item that joined it, in the order seen."""

    story_id: int
    members: list[Member]

    @property
    def story(self) -> Member:
        """The first-seen item."""
        return self.members[0]


def load_cluster(conn: sqlite3.Connection, story_id: int) -> StoryCluster | None:
    """The cluster of one story, or None if unknown."""
    rows = conn.execute(
        "SELECT key, kind, outlet, canonical_url, seen_ms, matched_key, scores FROM dedup_items"
        " WHERE story_id = ? ORDER BY id",
        (story_id,),
    ).fetchall()
    if not rows:
        return None
    return StoryCluster(
        story_id, [Member(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]
    )


class UnionFind:
    """Disjoint sets over 0..n-1 (for clustering files outside the database)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        """Root of x's set (with path halving)."""
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        """Merge the sets of a and b (the smaller root wins, so the first item stays root)."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        """All sets, each sorted, ordered by their first member."""
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return sorted(out.values(), key=lambda g: g[0])
