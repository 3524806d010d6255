"""Partial stories: stored from their feed summary because the article page gave no body.

A page that fails (404, timeout, a refused host) or from which nothing could be extracted
leaves the story with its feed summary. It is stored all the same (nothing is lost), and
recorded here: later crawls fetch its page again, up to `MAX_PAGE_TRIES` in all, and when the
page works the file gets the page's body in place (`ingest.ingestor`). The `partial_items`
table belongs to this module; the archive holds the text, this table only the bookkeeping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from store.sqlconn import Connection
from store.state import now_ms

logger = logging.getLogger(__name__)

MAX_PAGE_TRIES = 5  # fetches of one article page in all, the first one included

_SCHEMA = """
CREATE TABLE IF NOT EXISTS partial_items (
    canonical_url TEXT PRIMARY KEY,
    outlet TEXT NOT NULL,
    page_url TEXT NOT NULL,
    tries INTEGER NOT NULL,
    last_error TEXT,
    last_try_ms INTEGER
);
CREATE INDEX IF NOT EXISTS partial_items_outlet ON partial_items(outlet, tries);
"""


@dataclass(frozen=True)
class PartialStory:
    """A stored story still waiting for its article page."""

    canonical_url: str
    outlet: str
    page_url: str
    tries: int
    last_error: str | None
    path: str | None  # its item file (from the items table)


class PartialStories:
    """The `partial_items` table."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        conn.executescript(_SCHEMA)

    def get(self, canonical_url: str) -> PartialStory | None:
        """The partial record of a story, or None when its body is complete."""
        row = self.conn.execute(
            "SELECT p.canonical_url, p.outlet, p.page_url, p.tries, p.last_error, i.path"
            " FROM partial_items p LEFT JOIN items i ON i.canonical_url = p.canonical_url"
            " WHERE p.canonical_url = ?",
            (canonical_url,),
        ).fetchone()
        return PartialStory(*row) if row else None

    def mark(self, canonical_url: str, outlet: str, page_url: str, reason: str) -> int:
        """Record one more failed try of the story's page; returns the tries so far."""
        row = self.conn.execute(
            "INSERT INTO partial_items (canonical_url, outlet, page_url, tries, last_error,"
            " last_try_ms) VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT(canonical_url) DO UPDATE SET"
            " tries = partial_items.tries + 1, last_error = excluded.last_error,"
            " last_try_ms = excluded.last_try_ms RETURNING tries",
            (canonical_url, outlet, page_url, reason[:500], now_ms()),
        ).fetchone()
        tries = int(row[0])
        if tries >= MAX_PAGE_TRIES:
            logger.warning(
                "giving up on the page %s after %d tries (%s); the story keeps its feed summary",
                page_url,
                tries,
                reason,
            )
        return tries

    def clear(self, canonical_url: str) -> None:
        """The story's body is complete now."""
        self.conn.execute("DELETE FROM partial_items WHERE canonical_url = ?", (canonical_url,))

    def due(self, outlet: str, limit: int = 50) -> list[PartialStory]:
        """An outlet's partial stories whose page is still worth another try, oldest first."""
        rows = self.conn.execute(
            "SELECT p.canonical_url, p.outlet, p.page_url, p.tries, p.last_error, i.path"
            " FROM partial_items p JOIN items i ON i.canonical_url = p.canonical_url"
            " WHERE p.outlet = ? AND p.tries < ? ORDER BY p.last_try_ms LIMIT ?",
            (outlet, MAX_PAGE_TRIES, limit),
        ).fetchall()
        return [PartialStory(*row) for row in rows]

    def count(self, outlet: str | None = None) -> int:
        """How many stories still carry only their summary (all, or one outlet's)."""
        if outlet is None:
            row = self.conn.execute("SELECT COUNT(*) FROM partial_items").fetchone()
        else:
            row = self.conn.execute(
                "SELECT COUNT(*) FROM partial_items WHERE outlet = ?", (outlet,)
            ).fetchone()
        return int(row[0])
