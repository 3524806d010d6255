"""Every read of the state database by the web package, in one place, over a read-only connection.

The connection is opened with `mode=ro` (and `PRAGMA query_only`), so nothing the web app or the
reading commands do can change what the crawler stored. Tables that a component has not created
yet (no alert rule ever configured, dedup switched off) read as empty.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conf.cluster import is_postgres_url
from store.alert_tables import AlertTables
from store.dedup_tables import DedupTables
from store.sqlconn import Connection, is_postgres

# Run outcomes that say nothing about an outlet's health (as scheduler/status.py counts them).
_NEUTRAL_STATUSES = {"running", "stopped"}
_OK_STATUSES = {"ok"}


class StateUnavailable(Exception):
    """The state database is missing or unreadable; the message is one line for the user."""


def connect_readonly(path: Path) -> sqlite3.Connection:
    """Open a SQLite file read-only (`mode=ro`): writes fail inside SQLite itself."""
    if not path.is_file():
        raise StateUnavailable(f"{path}: no state database yet (run a crawl or the demo first)")
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
    except sqlite3.DatabaseError as exc:
        raise StateUnavailable(f"{path}: cannot read the state database ({exc})") from None
    return conn


@dataclass(frozen=True)
class ItemRow:
    """A row of `items`: one distinct URL that carried a story."""

    id: int
    story_id: int  # the dedup story, or the row's own id when dedup was off
    outlet: str
    url: str
    canonical_url: str
    title: str
    ts: int
    first_seen_ms: int
    path: str | None


@dataclass(frozen=True)
class MemberRow:
    """A row of `dedup_items`: an item dedup compared, with how it joined its story."""

    id: int
    kind: str  # new | repost | revision | duplicate
    outlet: str
    key: str
    canonical_url: str
    seen_ms: int
    title: str
    text_len: int
    full_text: bool
    matched_key: str | None
    scores: dict[str, float]


@dataclass(frozen=True)
class RuleMatch:
    """A watch rule that matched a story, and why."""

    rule: str
    reasons: list[str]
    matched_ms: int


@dataclass
class FeedStatus:
    """What the conditional-GET layer remembers of one feed URL."""

    url: str
    via: str | None
    last_status: int | None = None
    last_fetch_ms: int | None = None
    next_allowed_ms: int | None = None
    failures: int = 0
    last_error: str | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class OutletStatus:
    """One outlet's row on the outlets page."""

    name: str
    title: str
    enabled: bool
    last_run_ms: int | None = None
    last_run_status: str | None = None
    last_run_new: int = 0
    next_run_ms: int | None = None
    failures_in_row: int = 0
    feeds: list[FeedStatus] = field(default_factory=list)
    summary_only: int = 0  # stories whose best stored body is still a feed summary
    stories: int = 0
    health: list[str] = field(default_factory=list)  # active health conditions

    @property
    def not_modified_share(self) -> float | None:
        """Share of fetched feeds whose last answer was 304 Not Modified."""
        fetched = [f for f in self.feeds if f.last_status is not None]
        if not fetched:
            return None
        return sum(1 for f in fetched if f.last_status == 304) / len(fetched)


@dataclass(frozen=True)
class Delivery:
    """One channel's delivery state of an alert."""

    channel: str
    state: str
    attempts: int
    next_attempt_ms: int | None
    last_error: str | None
    sent_ms: int | None


@dataclass(frozen=True)
class AlertRow:
    """A queued alert with its deliveries."""

    id: int
    kind: str
    rule: str | None
    title: str
    body: str
    created_ms: int
    deliveries: list[Delivery]


_ITEM_COLUMNS = (
    "id, COALESCE(story_id, id), outlet, url, canonical_url, title, ts, first_seen_ms, path"
)


def connect_postgres(url: str) -> Connection:
    """A PostgreSQL state, read through the store's connection (the same SQL as SQLite's)."""
    import psycopg

    from conf.cluster import redact_password
    from store.pg import PgConnection

    try:
        return PgConnection.connect(url)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "no answer"
        raise StateUnavailable(
            f"{redact_password(url)}: cannot read the state ({reason})"
        ) from None


class StateReader:
    """Read-only queries over the state database (a SQLite file, or PostgreSQL)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = is_postgres(conn)
        listing = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            if self.postgres
            else "SELECT name FROM sqlite_master WHERE type='table'"
        )
        self.tables = {name for (name,) in conn.execute(listing)}

    @classmethod
    def open(cls, target: str | Path) -> StateReader:
        """Open the state that `state_db` names read-only: a SQLite file or a PostgreSQL URL."""
        if is_postgres_url(target):
            return cls(connect_postgres(str(target)))
        return cls(connect_readonly(Path(target)))

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def has(self, table: str) -> bool:
        """Whether a component has created `table` yet."""
        return table in self.tables

    # -- feeding the web index ------------------------------------------------------------

    def first_item(self) -> tuple[str, int] | None:
        """The oldest items row (canonical URL, first seen): tells one state database from another."""
        if not self.has("items"):
            return None
        row = self.conn.execute(
            "SELECT canonical_url, first_seen_ms FROM items ORDER BY id LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else None

    def items_after(self, after_id: int, limit: int = 2000) -> list[ItemRow]:
        """Items rows with an id above `after_id`, in id (arrival) order."""
        if not self.has("items"):
            return []
        rows = self.conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM items WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        ).fetchall()
        return [ItemRow(*row) for row in rows]

    def dedup_rows_after(self, after_id: int) -> tuple[int, set[int]]:
        """The last dedup_items id, and the stories that later items after `after_id` joined.

        A repost or revision may have given its story a richer body (the file is rewritten).
        """
        if not self.has("dedup_items"):
            return after_id, set()
        last, touched = after_id, set()
        for row_id, story_id, kind in DedupTables(self.conn).rows_after(after_id):
            last = row_id
            if kind != "new" and story_id is not None:
                touched.add(story_id)
        return last, touched

    def matches_after(self, after_id: int) -> list[tuple[int, str, int]]:
        """(alerts_matches id, rule, story id) after `after_id`."""
        if not self.has("alerts_matches"):
            return []
        return AlertTables(self.conn).matches_after(after_id)

    # -- one story ------------------------------------------------------------------------

    def story_items(self, story_id: int) -> list[ItemRow]:
        """Every URL that carried a story, first seen first."""
        if not self.has("items"):
            return []
        rows = self.conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM items WHERE story_id = ?"
            f" UNION SELECT {_ITEM_COLUMNS} FROM items WHERE id = ? AND story_id IS NULL"
            " ORDER BY 1",
            (story_id, story_id),
        ).fetchall()
        return [ItemRow(*row) for row in rows]

    def members(self, story_id: int) -> list[MemberRow]:
        """What dedup recorded for a story: the story itself, then each item that joined it.

        Empty for a state in the layout of before the compact dedup rows: the web reads, never
        migrates; the next crawl or the daemon brings it up to date (store/sqlite_migrate.py).
        """
        if not self.has("dedup_items") or self._old_dedup_layout():
            return []
        return [
            MemberRow(
                m.id,
                m.kind,
                m.outlet,
                m.key,
                m.canonical_url,
                m.seen_ms,
                m.title,
                m.text_len,
                m.full_text,
                m.matched_key,
                m.scores,
            )
            for m in DedupTables(self.conn).members(story_id)
        ]

    def _old_dedup_layout(self) -> bool:
        if self.postgres:
            return False  # PostgreSQL states were made in the current layout
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(dedup_items)")}
        return "url_hash" not in columns

    def rule_matches(self, story_id: int) -> list[RuleMatch]:
        """The watch rules a story matched."""
        if not self.has("alerts_matches"):
            return []
        return [
            RuleMatch(rule, _json_list(reasons), matched_ms)
            for rule, reasons, matched_ms in self.conn.execute(
                "SELECT rule, reasons, matched_ms FROM alerts_matches WHERE story_id = ?"
                " ORDER BY rule",
                (story_id,),
            )
        ]

    def story_of_url(self, url: str) -> int | None:
        """The story an item URL (as stored, or canonical) belongs to."""
        if not self.has("items"):
            return None
        row = self.conn.execute(
            "SELECT COALESCE(story_id, id) FROM items WHERE canonical_url = ? OR url = ? LIMIT 1",
            (url, url),
        ).fetchone()
        return int(row[0]) if row else None

    # -- outlets and alerts ---------------------------------------------------------------

    def outlet_status(
        self, name: str, title: str, enabled: bool, feeds: list[FeedStatus]
    ) -> OutletStatus:
        """Runs, schedule, feed states, summary-only stories and health of one outlet."""
        status = OutletStatus(name, title, enabled, feeds=feeds)
        if self.has("runs"):
            row = self.conn.execute(
                "SELECT started_ms, status, new_items FROM runs WHERE outlet = ?"
                " ORDER BY started_ms DESC, id DESC LIMIT 1",
                (name,),
            ).fetchone()
            if row:
                status.last_run_ms, status.last_run_status, status.last_run_new = (
                    row[0],
                    row[1],
                    int(row[2] or 0),
                )
            status.failures_in_row = self._failures_in_row(name)
        if self.has("scheduler_jobs"):
            row = self.conn.execute(
                "SELECT next_run_ms FROM scheduler_jobs WHERE outlet = ?", (name,)
            ).fetchone()
            status.next_run_ms = row[0] if row else None
        if self.has("feed_state"):
            for feed in feeds:
                self._fill_feed(feed)
        if self.has("dedup_stories"):
            status.stories, status.summary_only = DedupTables(self.conn).outlet_stories(name)
        if self.has("alerts_health"):
            state = AlertTables(self.conn).health_of(name)
            if state is not None:
                active = _json_dict(state).get("active", [])
                status.health = [str(c) for c in active] if isinstance(active, list) else []
        return status

    def _failures_in_row(self, outlet: str) -> int:
        count = 0
        for (state,) in self.conn.execute(
            "SELECT status FROM runs WHERE outlet = ? ORDER BY started_ms DESC, id DESC LIMIT 1000",
            (outlet,),
        ):
            if state in _NEUTRAL_STATUSES:
                continue
            if state in _OK_STATUSES:
                break
            count += 1
        return count

    def _fill_feed(self, feed: FeedStatus) -> None:
        row = self.conn.execute(
            "SELECT last_status, last_fetch_ms, next_allowed_ms, consecutive_failures,"
            " last_error, etag, last_modified FROM feed_state WHERE feed_url = ?",
            (feed.url,),
        ).fetchone()
        if row:
            (
                feed.last_status,
                feed.last_fetch_ms,
                feed.next_allowed_ms,
                feed.failures,
                feed.last_error,
                feed.etag,
                feed.last_modified,
            ) = row

    def recent_alerts(self, limit: int = 50, kind: str | None = None) -> list[AlertRow]:
        """The newest alerts (optionally of one kind: match, repost, digest, health), with deliveries."""
        if not self.has("alerts_events"):
            return []
        tables = AlertTables(self.conn)
        out = []
        for event_id, ev_kind, rule, title, body, created_ms in tables.events(max(1, limit), kind):
            deliveries = (
                [Delivery(*row) for row in tables.deliveries(event_id)]
                if self.has("alerts_outbox")
                else []
            )
            out.append(AlertRow(event_id, ev_kind, rule, title, body, created_ms, deliveries))
        return out

    # -- the baseline a benchmark compares the index with ------------------------------------

    def scan_stories(
        self, outlet: str | None = None, limit: int = 50
    ) -> list[tuple[int, int, str]]:
        """Newest stories straight from `items` (no web index): (story id, ts, title).

        A plain scan: the first row of each story, sorted by time. `bench/bench_web.py` times it
        beside the web index; the app never uses it.
        """
        sql = (
            "SELECT COALESCE(story_id, id) AS sid, ts, title FROM items i"
            " WHERE path IS NOT NULL AND NOT EXISTS (SELECT 1 FROM items j"
            " WHERE j.story_id = i.story_id AND j.id < i.id)"
        )
        params: list[Any] = []
        if outlet:
            sql += " AND outlet = ?"
            params.append(outlet)
        sql += " ORDER BY ts DESC, sid DESC LIMIT ?"
        params.append(limit)
        return [(r[0], r[1], r[2]) for r in self.conn.execute(sql, params)]


def iter_config_feeds(outlet: Any) -> Iterator[FeedStatus]:
    """FeedStatus shells for an outlet's configured feeds."""
    for feed in outlet.feeds:
        yield FeedStatus(url=feed.url, via=feed.via)


def _json_dict(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_list(raw: str | None) -> list[str]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return [str(raw)]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
