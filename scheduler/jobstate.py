"""The scheduler's tables in the state database: next run per outlet, and the shared `runs`.

APScheduler's persistent job store needs SQLAlchemy, which feedwatch does not depend on; the
only thing worth keeping across restarts is each outlet's next run time, so it lives in a
small `scheduler_jobs` table and the daemon rebuilds its jobs from config on every start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from store.backends import open_connection
from store.feeds import FeedStateStore
from store.sqlconn import Connection, is_postgres
from store.state import RunLog
from store.state import ensure_schema as ensure_state_schema

JOBS_SCHEMA = """
CREATE TABLE IF NOT EXISTS scheduler_jobs (
    outlet TEXT PRIMARY KEY,
    trigger TEXT NOT NULL,
    next_run_ms INTEGER,
    last_started_ms INTEGER,
    last_finished_ms INTEGER,
    last_outcome TEXT,
    updated_ms INTEGER NOT NULL
)
"""


@dataclass
class JobRecord:
    """What the daemon remembers about one outlet's job."""

    outlet: str
    trigger: str
    next_run_ms: int | None
    last_started_ms: int | None
    last_finished_ms: int | None
    last_outcome: str | None


def ensure_schema(conn: Connection) -> None:
    """Create the scheduler's table, and `runs` which it reads."""
    ensure_state_schema(conn)
    if is_postgres(conn):  # processes starting together take turns (the schema lock)
        conn.executescript(JOBS_SCHEMA)
    else:
        conn.execute(JOBS_SCHEMA)


def load_jobs(conn: Connection) -> dict[str, JobRecord]:
    """Every stored job record, by outlet."""
    ensure_schema(conn)
    rows = conn.execute(
        "SELECT outlet, trigger, next_run_ms, last_started_ms, last_finished_ms, last_outcome"
        " FROM scheduler_jobs"
    ).fetchall()
    return {row[0]: JobRecord(*row) for row in rows}


class JobStateDB:
    """Short-lived connections per write: jobs run in worker threads, sqlite3 objects do not."""

    def __init__(self, path: str | Path) -> None:  # a SQLite file, or a PostgreSQL URL
        self.path = path
        conn = self._connect()
        try:
            ensure_schema(conn)
        finally:
            conn.close()

    def _connect(self) -> Connection:
        return open_connection(self.path)

    def load(self) -> dict[str, JobRecord]:
        """Every stored job record, by outlet."""
        conn = self._connect()
        try:
            return load_jobs(conn)
        finally:
            conn.close()

    def save_next_run(self, outlet: str, trigger: str, next_run_ms: int | None, now: int) -> None:
        """Remember when the outlet runs next (and with which trigger that was computed)."""
        conn = self._connect()
        try:
            conn.execute(
                "INSERT INTO scheduler_jobs (outlet, trigger, next_run_ms, updated_ms)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(outlet) DO UPDATE SET"
                " trigger=excluded.trigger, next_run_ms=excluded.next_run_ms,"
                " updated_ms=excluded.updated_ms",
                (outlet, trigger, next_run_ms, now),
            )
        finally:
            conn.close()

    def save_outcome(self, outlet: str, started_ms: int, finished_ms: int, outcome: str) -> None:
        """Remember how the last scheduled run of an outlet ended."""
        conn = self._connect()
        try:
            conn.execute(
                "UPDATE scheduler_jobs SET last_started_ms=?, last_finished_ms=?, last_outcome=?,"
                " updated_ms=? WHERE outlet=?",
                (started_ms, finished_ms, outcome, finished_ms, outlet),
            )
        finally:
            conn.close()

    def record_abandoned_run(
        self, outlet: str, started_ms: int, finished_ms: int, status: str
    ) -> None:
        """Mark the run of a crawl we had to stop (timeout/shutdown); add one if it wrote none."""
        conn = self._connect()
        try:
            RunLog(conn).abandon(outlet, started_ms, finished_ms, status)
        finally:
            conn.close()

    def earliest_allowed_ms(self, feed_urls: list[str]) -> int | None:
        """When the first of these feeds may be fetched again (None: one is allowed already)."""
        if not feed_urls:
            return None
        conn = self._connect()
        try:
            return FeedStateStore(conn).earliest_allowed_ms(feed_urls)
        finally:
            conn.close()
