"""The `feed_state` table: what we remember about each feed URL between crawls (its owner)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from store.sqlconn import Connection

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_state (
    feed_url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    body_sha256 TEXT,
    last_status INTEGER,
    last_fetch_ms INTEGER,
    next_allowed_ms INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    max_age_s INTEGER,
    ttl_s INTEGER
)
"""


@dataclass
class FeedState:
    """What we remember about one feed URL between crawls."""

    feed_url: str
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    last_status: int | None = None
    last_fetch_ms: int | None = None
    next_allowed_ms: int | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    max_age_s: int | None = None
    ttl_s: int | None = None


_COLUMNS = [f.name for f in fields(FeedState)]
_PUT = (
    f"INSERT INTO feed_state ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
    " ON CONFLICT (feed_url) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "feed_url")
)


class FeedStateStore:
    """The `feed_state` table: one row of HTTP state per feed URL."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        conn.execute(_SCHEMA)  # one statement: executescript would commit an open transaction

    def get(self, feed_url: str) -> FeedState | None:
        """The stored state of a feed, or None when it was never fetched."""
        row = self.conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM feed_state WHERE feed_url = ?", (feed_url,)
        ).fetchone()
        return FeedState(*row) if row else None

    def put(self, state: FeedState) -> None:
        """Insert or replace a feed's state."""
        values = asdict(state)
        self.conn.execute(_PUT, [values[c] for c in _COLUMNS])

    def all(self) -> list[FeedState]:
        """Every stored feed state, ordered by URL."""
        rows = self.conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM feed_state ORDER BY feed_url"
        ).fetchall()
        return [FeedState(*row) for row in rows]

    def earliest_allowed_ms(self, feed_urls: list[str]) -> int | None:
        """When the first of these feeds may be fetched again (None: one is allowed already)."""
        if not feed_urls:
            return None
        rows = self.conn.execute(
            "SELECT feed_url, next_allowed_ms FROM feed_state WHERE feed_url IN"
            f" ({', '.join('?' for _ in feed_urls)})",
            feed_urls,
        ).fetchall()
        allowed = {url: ms for url, ms in rows}
        if any(allowed.get(url) is None for url in feed_urls):
            return None
        return min(allowed[url] for url in feed_urls)
