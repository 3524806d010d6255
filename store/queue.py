"""The durable ingest queue: crawl processes put finished stories here, one consumer takes them.

Owner of three tables in the state database:

- `ingest_queue`: one row per queued story (or end-of-run marker), oldest first. A row is
  deleted in the same transaction that records what became of it, so a crash at any point
  leaves it queued (it is taken again) or done (never taken again): nothing lost, nothing twice.
- `ingest_outcomes`: what became of each consumed row, per producer token and outlet, so the
  crawl that queued the stories can report new/reposts/revisions truthfully. Read once, then
  forgotten by the reader; rows nobody reads (a killed crawl) are pruned after a day.
- `ingest_consumer`: one row, the consumer's heartbeat (pid, host, role). A one-off crawl hands
  its stories to a running daemon (or a cluster's ingest role) when its heartbeat is fresh.

The payload is opaque text to this module (ingest/payload.py serializes a Story).
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from dataclasses import dataclass

from store.sqlconn import Connection, is_postgres
from store.state import now_ms, write_transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ingest_queue (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL,          -- the producer (one crawl, fetch or import)
    outlet TEXT NOT NULL,
    kind TEXT NOT NULL,           -- 'story' or 'run_end'
    enqueued_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,  -- failed consumptions (a bad row is not retried forever)
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ingest_queue_token ON ingest_queue(token);
CREATE TABLE IF NOT EXISTS ingest_outcomes (
    token TEXT NOT NULL,
    outlet TEXT NOT NULL,
    kind TEXT NOT NULL,           -- new, seen, merged, revision, failed
    upgraded INTEGER NOT NULL DEFAULT 0,
    text_length INTEGER NOT NULL DEFAULT 0,
    done_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ingest_outcomes_token ON ingest_outcomes(token);
CREATE TABLE IF NOT EXISTS ingest_consumer (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    role TEXT NOT NULL,           -- 'daemon', 'ingest' (a cluster role) or 'oneoff'
    heartbeat_ms INTEGER NOT NULL, -- PostgreSQL: the server's clock, so machines need not agree
    host TEXT NOT NULL DEFAULT ''
);
"""

MAX_ATTEMPTS = 3  # a row that failed this often stays queued for a human, skipped by consumers
HEARTBEAT_FRESH_MS = 15_000  # a daemon whose heartbeat is older is taken for gone
OUTCOMES_KEPT_MS = 86_400_000
HOST = socket.gethostname()


@dataclass(frozen=True)
class QueuedRow:
    """One queued story or marker."""

    id: int
    token: str
    outlet: str
    kind: str
    attempts: int
    payload: str


@dataclass
class TokenOutcomes:
    """What the consumer did with one producer's stories, per outlet."""

    counts: dict[str, Counter[str]]  # outlet -> outcome kind -> n
    new_lengths: dict[str, list[int]]  # outlet -> text length of each new story

    def count(self, outlet: str, kind: str) -> int:
        return self.counts.get(outlet, Counter())[kind]


def ensure_queue_schema(conn: Connection) -> None:
    """Create the queue tables if missing (and the consumer's host column of older files)."""
    conn.executescript(_SCHEMA)
    if not is_postgres(conn):
        columns = {row[1] for row in conn.execute("PRAGMA table_info(ingest_consumer)")}
        if "host" not in columns:
            conn.execute("ALTER TABLE ingest_consumer ADD COLUMN host TEXT NOT NULL DEFAULT ''")


class IngestQueue:
    """The queue tables' one owner: put, take, settle, report."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        ensure_queue_schema(conn)
        # Several consumers (PostgreSQL: on several machines) never take one row twice: a row
        # another open transaction took is skipped. SQLite has one writer at a time anyway.
        self._take = (
            "SELECT id, token, outlet, kind, attempts, payload FROM ingest_queue"
            " WHERE attempts < ? ORDER BY id LIMIT ?"
            + (" FOR UPDATE SKIP LOCKED" if is_postgres(conn) else "")
        )

    # -- producer side -------------------------------------------------------------------

    def put(self, token: str, outlet: str, payload: str, kind: str = "story") -> int:
        """Queue one row (its own small transaction when none is open); returns its id."""
        cur = self.conn.execute(
            "INSERT INTO ingest_queue (token, outlet, kind, enqueued_ms, payload)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (token, outlet, kind, now_ms(), payload),
        )
        return int(cur.fetchone()[0])

    def put_many(self, rows: list[tuple[str, str, str, str]]) -> None:
        """Queue (token, outlet, kind, payload) rows in one transaction."""
        with write_transaction(self.conn):
            self.conn.executemany(
                "INSERT INTO ingest_queue (token, outlet, kind, enqueued_ms, payload)"
                " VALUES (?, ?, ?, ?, ?)",
                [(token, outlet, kind, now_ms(), payload) for token, outlet, kind, payload in rows],
            )

    def pending(self, token: str | None = None) -> int:
        """Rows still to consume (a token's, or all) that a consumer will still take."""
        if token is None:
            sql, args = "SELECT COUNT(*) FROM ingest_queue WHERE attempts < ?", (MAX_ATTEMPTS,)
        else:
            sql = "SELECT COUNT(*) FROM ingest_queue WHERE token = ? AND attempts < ?"
            args = (token, MAX_ATTEMPTS)  # type: ignore[assignment]
        return int(self.conn.execute(sql, args).fetchone()[0])

    def outcomes(self, token: str) -> TokenOutcomes:
        """Outcome counts and new stories' text lengths of one producer's consumed rows."""
        counts: dict[str, Counter[str]] = {}
        lengths: dict[str, list[int]] = {}
        rows = self.conn.execute(
            "SELECT outlet, kind, upgraded, text_length FROM ingest_outcomes WHERE token = ?",
            (token,),
        )
        for outlet, kind, upgraded, length in rows:
            c = counts.setdefault(outlet, Counter())
            c[kind] += 1
            c["upgraded"] += upgraded
            if kind == "new":
                lengths.setdefault(outlet, []).append(int(length))
        return TokenOutcomes(counts, lengths)

    def forget(self, token: str) -> None:
        """Drop a producer's outcome rows once it has read them."""
        self.conn.execute("DELETE FROM ingest_outcomes WHERE token = ?", (token,))

    # -- consumer side (inside the consumer's write transaction) ---------------------------

    def take(self, limit: int) -> list[QueuedRow]:
        """The oldest rows still to consume, in queue order (locked until the transaction ends)."""
        rows = self.conn.execute(self._take, (MAX_ATTEMPTS, limit)).fetchall()
        return [QueuedRow(*row) for row in rows]

    def settle(
        self, row: QueuedRow, kind: str, *, upgraded: bool = False, text_length: int = 0
    ) -> None:
        """Record what became of a row and remove it from the queue (same transaction)."""
        self.conn.execute(
            "INSERT INTO ingest_outcomes (token, outlet, kind, upgraded, text_length, done_ms)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (row.token, row.outlet, kind, int(upgraded), text_length, now_ms()),
        )
        self.conn.execute("DELETE FROM ingest_queue WHERE id = ?", (row.id,))

    def tally(self, row: QueuedRow, kind: str) -> None:
        """Count one more fact about a settled row (partial, completed…) for its producer."""
        self.conn.execute(
            "INSERT INTO ingest_outcomes (token, outlet, kind, done_ms) VALUES (?, ?, ?, ?)",
            (row.token, row.outlet, kind, now_ms()),
        )

    def remove(self, row: QueuedRow) -> None:
        """Remove a row that records no outcome (an end-of-run marker)."""
        self.conn.execute("DELETE FROM ingest_queue WHERE id = ?", (row.id,))

    def failed(self, row: QueuedRow) -> None:
        """Count a failed consumption; after MAX_ATTEMPTS the row is left for a human."""
        self.conn.execute("UPDATE ingest_queue SET attempts = attempts + 1 WHERE id = ?", (row.id,))
        if row.attempts + 1 >= MAX_ATTEMPTS:
            self.conn.execute(
                "INSERT INTO ingest_outcomes (token, outlet, kind, done_ms) VALUES (?,?,?,?)",
                (row.token, row.outlet, "failed", now_ms()),
            )

    def prune_outcomes(self, older_than_ms: int = OUTCOMES_KEPT_MS) -> None:
        """Forget outcome rows no producer came back for (it was killed)."""
        self.conn.execute(
            "DELETE FROM ingest_outcomes WHERE done_ms < ?", (now_ms() - older_than_ms,)
        )

    # -- who consumes ----------------------------------------------------------------------

    def _now(self) -> tuple[str, tuple[int, ...]]:
        """The clock heartbeats are written and compared with: PostgreSQL's on PostgreSQL
        (consumers on several machines, whose clocks need not agree), this process's on SQLite."""
        if is_postgres(self.conn):
            return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)", ()
        return "?", (now_ms(),)

    def heartbeat(self, role: str) -> None:
        """Say that this process consumes the queue, as `role`, now."""
        now, args = self._now()
        self.conn.execute(
            "INSERT INTO ingest_consumer (id, pid, role, heartbeat_ms, host)"
            f" VALUES (1, ?, ?, {now}, ?)"
            " ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, role = excluded.role,"
            " heartbeat_ms = excluded.heartbeat_ms, host = excluded.host",
            (os.getpid(), role, *args, HOST),
        )

    def sign_off(self) -> None:
        """This process no longer consumes."""
        self.conn.execute(
            "DELETE FROM ingest_consumer WHERE pid = ? AND host IN (?, '')", (os.getpid(), HOST)
        )

    def consumer(self) -> tuple[int, str] | None:
        """The live consumer's (pid, role): a fresh heartbeat, and on this machine a live pid."""
        found = self.consumer_info()
        if found is None or found[3] > HEARTBEAT_FRESH_MS:
            return None
        pid, role, host, _age = found
        if host in (HOST, ""):  # another machine's pid cannot be checked from here
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None
            except OSError:
                pass  # alive, another user's
        return pid, role

    def consumer_info(self) -> tuple[int, str, str, int] | None:
        """The consumer row as (pid, role, host, heartbeat age in ms), fresh or not."""
        now, args = self._now()
        row = self.conn.execute(
            f"SELECT pid, role, host, {now} - heartbeat_ms FROM ingest_consumer WHERE id = 1",
            args,
        ).fetchone()
        if row is None:
            return None
        return int(row[0]), str(row[1]), str(row[2]), int(row[3])

    def daemon_running(self) -> bool:
        """Whether `feedwatch run` (or a cluster's ingest role) consumes the queue right now:
        then crawls hand their stories to it."""
        found = self.consumer()
        return found is not None and found[1] in ("daemon", "ingest")
