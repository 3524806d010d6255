"""The state database's `items` and `runs` tables: seen items, first-seen times, crawl runs.

Other components keep their own tables in the same database (`dedup_*`, `alerts_*`,
`feed_state`, `scheduler_jobs`); each creates them itself. On SQLite every process opens its
own connection in WAL mode with a long busy timeout, so the daemon and manual fetches can write
at the same time; the same SQL runs on PostgreSQL through `store.pg` (`store/sqlconn.py`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from store.sqlconn import Connection, is_postgres
from store.urls import canonical_url as to_canonical

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    canonical_url TEXT NOT NULL UNIQUE,
    guid TEXT,
    guid_scope TEXT,  -- the feed the GUID came from (NULL in rows older than this column)
    outlet TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    ts INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    story_id INTEGER,
    path TEXT,
    digest BLOB  -- content digest of the entry last ingested for this URL (store/unchanged.py)
);
CREATE INDEX IF NOT EXISTS items_guid ON items(guid);
CREATE INDEX IF NOT EXISTS items_story ON items(story_id);  -- Ingestor._story_path per repost
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    outlet TEXT,
    started_ms INT,
    finished_ms INT,
    status TEXT,
    feeds INT,
    new_items INT,
    seen_items INT,
    errors INT
);
CREATE INDEX IF NOT EXISTS runs_outlet ON runs(outlet, started_ms);
"""


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def open_state(path: str | Path) -> sqlite3.Connection:
    """Open (and create) the state database, ready for concurrent use by several processes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    ensure_schema(conn)
    return conn


def ensure_schema(conn: Connection) -> None:
    """Create the `items` and `runs` tables if missing; add columns that older states lack."""
    conn.executescript(_SCHEMA)
    if not isinstance(conn, sqlite3.Connection):
        return  # PostgreSQL states are younger than these columns
    columns = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
    # Nullable columns rewrite nothing. Old rows read NULL: a GUID without a scope counts
    # within its own outlet only; an item without a digest gets one when next ingested.
    for column, kind in (("guid_scope", "TEXT"), ("digest", "BLOB")):
        if column in columns:
            continue
        try:
            conn.execute(f"ALTER TABLE items ADD COLUMN {column} {kind}")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another process added it just now
                raise


@contextmanager
def write_transaction(conn: Connection) -> Iterator[None]:
    """A write transaction (BEGIN IMMEDIATE), or the caller's when one is already open.

    Components nest inside the ingest step's transaction this way, so a story, its dedup
    record and its alerts commit or roll back together. On PostgreSQL: a transaction holding
    the writer lock (`store.pg.PgConnection.write_transaction`), the same one-writer rule.
    """
    if conn.in_transaction:
        yield
        return
    if is_postgres(conn):
        with conn.write_transaction():  # type: ignore[attr-defined]
            yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass(frozen=True)
class SeenItem:
    """A row of the items table."""

    canonical_url: str
    outlet: str
    url: str
    title: str
    ts: int
    first_seen_ms: int
    story_id: int | None
    path: str | None


class ItemState:
    """Which canonical URLs and GUIDs have been seen, and where their story is stored."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lookup(
        self,
        canonical_url: str,
        guid: str | None = None,
        *,
        outlet: str = "",
        guid_scope: str | None = None,
    ) -> SeenItem | None:
        """The stored row for a canonical URL or, failing that, the same GUID in the same feed.

        A GUID is whatever its feed says it is: it identifies an entry within that feed only,
        so another feed (a hostile one) reusing it can neither pre-claim nor suppress the
        entry. Rows stored before GUIDs were scoped (guid_scope NULL) match within their outlet.
        """
        row = self.conn.execute(
            "SELECT canonical_url, outlet, url, title, ts, first_seen_ms, story_id, path"
            " FROM items WHERE canonical_url = ?",
            (canonical_url,),
        ).fetchone()
        if row is None and guid:
            # A GUID equal to its row's URL is stored as '' (not a second copy of the URL):
            # that row is found by its canonical URL and its URL.
            rows = self.conn.execute(
                "SELECT id, canonical_url, outlet, url, title, ts, first_seen_ms, story_id, path"
                " FROM items WHERE guid = ? AND outlet = ?"
                " AND (guid_scope IS NOT DISTINCT FROM ? OR guid_scope IS NULL)"
                " UNION ALL SELECT id, canonical_url, outlet, url, title, ts, first_seen_ms,"
                " story_id, path FROM items WHERE canonical_url = ? AND guid = '' AND url = ?"
                " AND outlet = ? AND (guid_scope IS NOT DISTINCT FROM ? OR guid_scope IS NULL)",
                (guid, outlet, guid_scope, to_canonical(guid), guid, outlet, guid_scope),
            ).fetchall()
            row = min(rows)[1:] if rows else None
        return SeenItem(*row) if row else None

    def is_seen(self, canonical_url: str) -> bool:
        """Whether an item with this canonical URL is already recorded."""
        row = self.conn.execute(
            "SELECT 1 FROM items WHERE canonical_url = ?", (canonical_url,)
        ).fetchone()
        return row is not None

    def record(self, item: SeenItem, guid: str | None, guid_scope: str | None = None) -> int:
        """Insert a newly seen item and return its row id (0 if its URL was already there).

        `guid_scope` is the feed the GUID belongs to (see `lookup`).
        """
        cur = self.conn.execute(
            "INSERT INTO items (canonical_url, guid, guid_scope, outlet, url, title, ts,"
            " first_seen_ms, story_id, path) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (canonical_url) DO NOTHING RETURNING id",
            (
                item.canonical_url,
                "" if guid and guid == item.url else guid,  # '': the GUID is the URL (lookup)
                guid_scope if guid else None,
                item.outlet,
                item.url,
                item.title,
                item.ts,
                item.first_seen_ms,
                item.story_id,
                item.path,
            ),
        )
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def digest_of(self, canonical_url: str) -> bytes | None:
        """The content digest recorded for a canonical URL (None: unknown URL or no digest)."""
        row = self.conn.execute(
            "SELECT digest FROM items WHERE canonical_url = ?", (canonical_url,)
        ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def set_digest(self, canonical_url: str, digest: bytes) -> None:
        """Record the content digest of the entry just ingested for this canonical URL."""
        self.conn.execute(
            "UPDATE items SET digest = ? WHERE canonical_url = ? AND digest IS DISTINCT FROM ?",
            (digest, canonical_url, digest),
        )

    def story_path(self, story_id: int) -> str | None:
        """The item file of a story (its first row that has one)."""
        row = self.conn.execute(
            "SELECT path FROM items WHERE story_id = ? AND path IS NOT NULL ORDER BY id LIMIT 1",
            (story_id,),
        ).fetchone()
        return str(row[0]) if row else None

    def count(self) -> int:
        """How many items are recorded."""
        return int(self.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def set_path(self, canonical_url: str, path: str) -> None:
        """Point a story's row at its archive file (a file that came back)."""
        self.conn.execute(
            "UPDATE items SET path = ? WHERE canonical_url = ?", (path, canonical_url)
        )

    def move_path(self, old: str, new: str) -> None:
        """Follow archive files that moved (rows recorded under `old`)."""
        self.conn.execute("UPDATE items SET path = ? WHERE path = ?", (new, old))

    def forget_path(self, path: str) -> None:
        """Mark rows whose file is gone as file-less: the story stays seen, nothing re-alerts."""
        self.conn.execute("UPDATE items SET path = NULL WHERE path = ?", (path,))


class RunLog:
    """One row per crawl of an outlet, read by `feedwatch status`."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def start(self, outlet: str) -> int:
        """Record the start of a run and return its id."""
        cur = self.conn.execute(
            "INSERT INTO runs (outlet, started_ms, status, feeds, new_items, seen_items, errors)"
            " VALUES (?, ?, 'running', 0, 0, 0, 0) RETURNING id",
            (outlet, now_ms()),
        )
        return int(cur.fetchone()[0])

    def finish(
        self,
        run_id: int,
        *,
        status: str,
        feeds: int,
        new_items: int | None,
        seen_items: int,
        errors: int,
    ) -> None:
        """Record how a run ended (`new_items` None: the ingest consumer records it)."""
        self.conn.execute(
            "UPDATE runs SET finished_ms=?, status=?, feeds=?, new_items=COALESCE(?, new_items),"
            " seen_items=?, errors=? WHERE id=?",
            (now_ms(), status, feeds, new_items, seen_items, errors, run_id),
        )

    def set_new_items(self, run_id: int, new_items: int) -> None:
        """The number of new stories the ingest consumer stored for a run."""
        self.conn.execute("UPDATE runs SET new_items=? WHERE id=?", (new_items, run_id))

    def abandon(self, outlet: str, started_ms: int, finished_ms: int, status: str) -> None:
        """Mark the runs of a crawl the daemon had to stop (timeout, shutdown); add one if the
        crawl wrote none. The crawl may have closed its own row on SIGTERM; the daemon still
        knows better why it ended."""
        cur = self.conn.execute(
            "UPDATE runs SET finished_ms=COALESCE(finished_ms, ?), status=?"
            " WHERE outlet=? AND started_ms>=?",
            (finished_ms, status, outlet, started_ms),
        )
        if cur.rowcount == 0:
            self.conn.execute(
                "INSERT INTO runs (outlet, started_ms, finished_ms, status, feeds,"
                " new_items, seen_items, errors) VALUES (?, ?, ?, ?, 0, 0, 0, 1)",
                (outlet, started_ms, finished_ms, status),
            )
