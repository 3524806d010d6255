"""Story clusters: the first-seen item is the story, later reposts/revisions join it with provenance.

The tables are store/dedup_tables.py's (behind the storage interface, `StateStorage.dedup`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from store.sqlite import SQLiteState
from store.storage import DedupStorage

__all__ = ["Member", "StoryCluster", "UnionFind", "load_cluster"]


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


def load_cluster(tables: DedupStorage | sqlite3.Connection, story_id: int) -> StoryCluster | None:
    """The cluster of one story, or None if unknown."""
    if isinstance(tables, sqlite3.Connection):
        tables = SQLiteState.on(tables).dedup
    rows = tables.members(story_id)
    if not rows:
        return None
    return StoryCluster(
        story_id,
        [
            Member(r.key, r.kind, r.outlet, r.canonical_url, r.seen_ms, r.matched_key, r.scores)
            for r in rows
        ],
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
