"""The alerts' tables (`alerts_*`): their one owner, in portable SQL.

alerts/ decides what to send and when (rules, digests, health, channels); this module keeps
the durable record behind the storage interface (store/storage.py `AlertStorage`): matches,
events, the outbox, reposts for digests, digest periods and outlet health. Standard SQL with
`?` parameters only (`ON CONFLICT`, `RETURNING`): the PostgreSQL store runs these statements.

An outbox row is claimed by one conditional UPDATE (`claim`): it succeeds for exactly one of
any number of senders, in one process or many, on one machine or several.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ALERTS_SCHEMA", "AlertTables", "DueAlert"]

ALERTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts_matches (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    story_id INTEGER NOT NULL,
    outlet TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    path TEXT,
    reasons TEXT NOT NULL,
    matched_ms INTEGER NOT NULL,
    event_id INTEGER,
    UNIQUE (rule, story_id)
);
CREATE TABLE IF NOT EXISTS alerts_events (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    rule TEXT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    data TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts_outbox (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES alerts_events(id),
    channel TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT,
    sent_ms INTEGER,
    UNIQUE (event_id, channel)
);
CREATE INDEX IF NOT EXISTS alerts_outbox_due ON alerts_outbox(state, next_attempt_ms);
CREATE TABLE IF NOT EXISTS alerts_reposts (
    id INTEGER PRIMARY KEY,
    story_id INTEGER NOT NULL,
    outlet TEXT NOT NULL,
    url TEXT NOT NULL,
    seen_ms INTEGER NOT NULL,
    UNIQUE (story_id, url)
);
CREATE TABLE IF NOT EXISTS alerts_digests (
    rule TEXT PRIMARY KEY,
    next_due_ms INTEGER NOT NULL,
    last_repost_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts_health (
    outlet TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
"""

# (outbox id, channel, attempts, event id, key, kind, title, body, data JSON)
DueAlert = tuple[int, str, int, int, str, str, str, str, str]


class AlertTables:
    """The `alerts_*` tables on one connection (any DB-API connection with `?` parameters)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def ensure_schema(self) -> None:
        """Create the tables if missing (a writer calls this once on open)."""
        for statement in ALERTS_SCHEMA.split(";"):
            if statement.strip():
                self.conn.execute(statement)

    # -- matches, events, outbox -------------------------------------------------------------

    def record_match(
        self,
        rule: str,
        story_id: int,
        outlet: str,
        title: str,
        url: str,
        ts_ms: int,
        path: str,
        reasons: str,
        matched_ms: int,
    ) -> bool:
        """Record that a story matched a rule; False when it already had."""
        cur = self.conn.execute(
            "INSERT INTO alerts_matches (rule, story_id, outlet, title, url, ts_ms, path,"
            " reasons, matched_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (rule, story_id) DO NOTHING",
            (rule, story_id, outlet, title, url, ts_ms, path, reasons, matched_ms),
        )
        return bool(cur.rowcount == 1)

    def matched(self, rule: str, story_id: int) -> bool:
        """Whether a story matched a rule."""
        row = self.conn.execute(
            "SELECT 1 FROM alerts_matches WHERE rule = ? AND story_id = ?", (rule, story_id)
        ).fetchone()
        return row is not None

    def set_match_events(self, event_id: int, rule: str, story_ids: list[int]) -> None:
        """Say which event (an alert or a digest) carried these matches."""
        self.conn.executemany(
            "UPDATE alerts_matches SET event_id = ? WHERE rule = ? AND story_id = ?",
            [(event_id, rule, story_id) for story_id in story_ids],
        )

    def queue_event(
        self,
        key: str,
        kind: str,
        rule: str | None,
        title: str,
        body: str,
        data: str,
        created_ms: int,
        channels: list[str],
    ) -> int | None:
        """Store an event and one pending outbox row per channel; None when the key exists."""
        row = self.conn.execute(
            "INSERT INTO alerts_events (key, kind, rule, title, body, data, created_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING id",
            (key, kind, rule, title, body, data, created_ms),
        ).fetchone()
        if row is None:
            return None
        event_id = int(row[0])
        self.conn.executemany(
            "INSERT INTO alerts_outbox (event_id, channel, next_attempt_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (event_id, channel) DO NOTHING",
            [(event_id, channel, created_ms) for channel in channels],
        )
        return event_id

    def due(self, now_ms: int) -> list[DueAlert]:
        """Pending outbox rows due now, with their event, oldest first."""
        rows = self.conn.execute(
            "SELECT o.id, o.channel, o.attempts, e.id, e.key, e.kind, e.title, e.body, e.data"
            " FROM alerts_outbox o JOIN alerts_events e ON e.id = o.event_id"
            " WHERE o.state = 'pending' AND o.next_attempt_ms <= ? ORDER BY o.id",
            (now_ms,),
        ).fetchall()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def claim(self, outbox_id: int, now_ms: int, lease_until_ms: int) -> bool:
        """Take a due row for sending: True for exactly one claimer.

        One conditional UPDATE: the row must still be pending and due, and claiming pushes its
        next attempt to the end of the lease, so a second claimer's UPDATE matches no row.
        """
        cur = self.conn.execute(
            "UPDATE alerts_outbox SET next_attempt_ms = ?"
            " WHERE id = ? AND state = 'pending' AND next_attempt_ms <= ?",
            (lease_until_ms, outbox_id, now_ms),
        )
        return bool(cur.rowcount == 1)

    def mark_sent(self, outbox_id: int, attempts: int, sent_ms: int) -> None:
        self.conn.execute(
            "UPDATE alerts_outbox SET state = 'sent', attempts = ?, sent_ms = ?,"
            " last_error = NULL WHERE id = ?",
            (attempts, sent_ms, outbox_id),
        )

    def mark_failed(self, outbox_id: int, attempts: int, retry_at_ms: int, error: str) -> None:
        self.conn.execute(
            "UPDATE alerts_outbox SET attempts = ?, next_attempt_ms = ?, last_error = ?"
            " WHERE id = ?",
            (attempts, retry_at_ms, error[:500], outbox_id),
        )

    def pending_count(self) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM alerts_outbox WHERE state = 'pending'")
        return int(row.fetchone()[0])

    # -- reposts and digests -----------------------------------------------------------------

    def add_repost(self, story_id: int, outlet: str, url: str, seen_ms: int) -> None:
        self.conn.execute(
            "INSERT INTO alerts_reposts (story_id, outlet, url, seen_ms) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (story_id, url) DO NOTHING",
            (story_id, outlet, url, seen_ms),
        )

    def newest_repost_id(self) -> int:
        row = self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM alerts_reposts").fetchone()
        return int(row[0])

    def digest_period(self, rule: str) -> tuple[int, int] | None:
        """(next due ms, last repost id) of a digest rule, None before its first period."""
        row = self.conn.execute(
            "SELECT next_due_ms, last_repost_id FROM alerts_digests WHERE rule = ?", (rule,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def set_digest_period(self, rule: str, next_due_ms: int, last_repost_id: int) -> None:
        self.conn.execute(
            "INSERT INTO alerts_digests (rule, next_due_ms, last_repost_id) VALUES (?, ?, ?)"
            " ON CONFLICT (rule) DO UPDATE SET next_due_ms = excluded.next_due_ms,"
            " last_repost_id = excluded.last_repost_id",
            (rule, next_due_ms, last_repost_id),
        )

    def undigested_matches(self, rule: str) -> list[tuple[int, str, str, str, int, str, str]]:
        """(story id, outlet, title, url, ts, path, reasons JSON) not yet in any event."""
        rows = self.conn.execute(
            "SELECT story_id, outlet, title, url, ts_ms, path, reasons FROM alerts_matches"
            " WHERE rule = ? AND event_id IS NULL ORDER BY ts_ms, id",
            (rule,),
        ).fetchall()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def reposts_of_matches(
        self, rule: str, after_id: int, upto_id: int
    ) -> list[tuple[int, str, str, str]]:
        """(story id, title, outlet, url): reposts by other outlets of the rule's matches."""
        rows = self.conn.execute(
            "SELECT m.story_id, m.title, r.outlet, r.url FROM alerts_reposts r"
            " JOIN alerts_matches m ON m.story_id = r.story_id AND m.rule = ?"
            " WHERE r.id > ? AND r.id <= ? AND r.outlet <> m.outlet ORDER BY r.id",
            (rule, after_id, upto_id),
        ).fetchall()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    # -- health ------------------------------------------------------------------------------

    def health_states(self) -> dict[str, str]:
        """Outlet -> its health state (JSON)."""
        return {
            str(o): str(s)
            for o, s in self.conn.execute("SELECT outlet, state FROM alerts_health").fetchall()
        }

    def put_health(self, outlet: str, state: str) -> None:
        self.conn.execute(
            "INSERT INTO alerts_health (outlet, state) VALUES (?, ?)"
            " ON CONFLICT (outlet) DO UPDATE SET state = excluded.state",
            (outlet, state),
        )

    # -- reading (the alerts command, the web view) ------------------------------------------

    def events(
        self, limit: int, kind: str | None = None
    ) -> list[tuple[int, str, str | None, str, str, int]]:
        """(id, kind, rule, title, body, created ms) of the newest events (of one kind)."""
        where, params = ("WHERE kind = ? ", [kind]) if kind else ("", [])
        rows = self.conn.execute(
            f"SELECT id, kind, rule, title, body, created_ms FROM alerts_events {where}"
            "ORDER BY id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def health_of(self, outlet: str) -> str | None:
        """An outlet's health state (JSON), None before its first check."""
        row = self.conn.execute(
            "SELECT state FROM alerts_health WHERE outlet = ?", (outlet,)
        ).fetchone()
        return None if row is None else str(row[0])

    def deliveries(self, event_id: int) -> list[tuple[str, str, int, int, str | None, int | None]]:
        """(channel, state, attempts, next attempt ms, last error, sent ms) per outbox row."""
        rows = self.conn.execute(
            "SELECT channel, state, attempts, next_attempt_ms, last_error, sent_ms"
            " FROM alerts_outbox WHERE event_id = ? ORDER BY channel",
            (event_id,),
        ).fetchall()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def matches_after(self, after_id: int) -> list[tuple[int, str, int]]:
        """(match id, rule, story id) recorded after `after_id`."""
        rows = self.conn.execute(
            "SELECT id, rule, story_id FROM alerts_matches WHERE id > ? ORDER BY id", (after_id,)
        ).fetchall()
        return [(int(i), str(r), int(s)) for i, r, s in rows]
