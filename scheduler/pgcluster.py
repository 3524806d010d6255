"""The cluster's coordination state on PostgreSQL (psycopg 3): election, crawl jobs, heartbeats.

- Leader election: a session advisory lock (`pg_try_advisory_lock`). The server releases it
  when the holder's connection ends, however the holder died, so a standby takes over without
  any timeout of ours.
- Crawl jobs: a table claimed with `SELECT ... FOR UPDATE SKIP LOCKED` and a lease column
  (docs/CLUSTER.md says why this over a queue library). Leases are compared with the
  database's clock, so the machines' clocks never need to agree.
- Heartbeats: one row per running role.

Every statement runs in autocommit on one connection per process, reopened after a failure;
a failure surfaces as `ClusterUnavailable` and the caller waits and tries again. Reconnecting
loses the advisory lock, which is right: a restarted server has forgotten it anyway.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg.rows import TupleRow

from conf.cluster import redact_password
from scheduler.cluster import DONE_OUTCOMES, ClusterUnavailable, Job, JobCounts, Member, MemberRow
from store.pg import CONNECT_OPTIONS  # keepalives: a dead link noticed in ~25 s

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Advisory lock keys (class, object): the class is ours ("fw" + 1 or 2), the object is the hash
# of the schema the tables are in, so clusters in different schemas of one database (the
# tests, or several deployments) never take each other's lock.
LEADER_LOCK = 0x66770001  # held by the active scheduler for as long as its session lives
SCHEMA_LOCK = 0x66770002  # serializes CREATE TABLE IF NOT EXISTS of concurrent starts
KEEP_FINISHED_DAYS = 7  # finished jobs and silent members are deleted after this long

SCHEMA = """
CREATE TABLE IF NOT EXISTS cluster_jobs (
    id bigserial PRIMARY KEY,
    outlet text NOT NULL,
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed')),
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    worker text,
    lease_until timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    outcome text
);
-- At most one open job per outlet: a crawl due while the last one is queued or running is
-- coalesced into it, as the single daemon's max_instances=1 does.
CREATE UNIQUE INDEX IF NOT EXISTS cluster_jobs_one_open
    ON cluster_jobs (outlet) WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS cluster_jobs_open
    ON cluster_jobs (enqueued_at, id) WHERE status IN ('queued', 'running');
CREATE TABLE IF NOT EXISTS cluster_schedule (
    outlet text PRIMARY KEY,
    trigger text NOT NULL,
    next_run_ms bigint,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS cluster_members (
    id text PRIMARY KEY,
    role text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_beat timestamptz NOT NULL DEFAULT now(),
    detail text NOT NULL DEFAULT ''
);
"""

CLAIM = """
UPDATE cluster_jobs
   SET status = 'running', worker = %(worker)s, attempts = attempts + 1,
       lease_until = now() + make_interval(secs => %(lease)s),
       started_at = now(), finished_at = NULL
 WHERE id = (
       SELECT id FROM cluster_jobs
        WHERE status = 'queued'
           OR (status = 'running' AND lease_until < now() AND attempts < %(max)s)
        ORDER BY enqueued_at, id
        LIMIT 1
          FOR UPDATE SKIP LOCKED)
RETURNING id, outlet, attempts
"""

# A job whose lease ran out max_attempts times keeps killing its workers: stop handing it out.
GIVE_UP = """
UPDATE cluster_jobs
   SET status = 'failed', finished_at = now(),
       outcome = 'lease expired after ' || attempts || ' attempt(s)'
 WHERE status = 'running' AND lease_until < now() AND attempts >= %(max)s
"""


class PgCluster:
    """`ClusterState` on PostgreSQL; thread-safe (one connection, used under a lock)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[TupleRow] | None = None
        self._leader = False
        self._down_logged = False

    # -- the connection ------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[TupleRow]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.url, autocommit=True, **dict(CONNECT_OPTIONS, application_name="feedwatch")
            )
            with self._conn.transaction():
                self._conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (SCHEMA_LOCK,)
                )
                self._conn.execute(SCHEMA)
            if self._down_logged:
                logger.info("reconnected to PostgreSQL %s", redact_password(self.url))
                self._down_logged = False
        return self._conn

    def _run(self, what: str, work: Callable[[psycopg.Connection[TupleRow]], T]) -> T:
        """Run `work` on the connection; a lost or refused connection is ClusterUnavailable."""
        with self._lock:
            try:
                return work(self._connection())
            except psycopg.OperationalError as exc:
                self._drop()
                reason = (
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                )
                if not self._down_logged:  # one line per outage, not one per retry
                    logger.warning(
                        "PostgreSQL %s unreachable (%s): %s; retrying",
                        redact_password(self.url),
                        what,
                        reason,
                    )
                    self._down_logged = True
                raise ClusterUnavailable(reason) from None

    def _drop(self) -> None:
        if self._leader:
            logger.warning("lost the connection that held the scheduler lock: no longer leader")
        self._leader = False
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Close the connection (the server then releases a held leader lock)."""
        with self._lock:
            self._drop()

    # -- leader election -----------------------------------------------------------------

    def try_lead(self) -> bool:
        """Take the scheduler lock if free; when already held, check the session still is."""

        def work(conn: psycopg.Connection[TupleRow]) -> bool:
            if self._leader:
                conn.execute("SELECT 1")  # raises if the session that holds the lock is gone
                return True
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (LEADER_LOCK,)
            ).fetchone()
            self._leader = bool(row and row[0])
            return self._leader

        return self._run("election", work)

    def resign(self) -> None:
        """Release the scheduler lock, so a standby need not wait for this process to exit."""

        def work(conn: psycopg.Connection[TupleRow]) -> None:
            if self._leader:
                conn.execute(
                    "SELECT pg_advisory_unlock(%s, hashtext(current_schema()))", (LEADER_LOCK,)
                )
                self._leader = False

        self._run("resign", work)

    # -- the schedule --------------------------------------------------------------------

    def load_schedule(self) -> dict[str, tuple[str, int | None]]:
        def work(conn: psycopg.Connection[TupleRow]) -> dict[str, tuple[str, int | None]]:
            rows = conn.execute("SELECT outlet, trigger, next_run_ms FROM cluster_schedule")
            return {str(o): (str(t), None if n is None else int(n)) for o, t, n in rows}

        return self._run("load schedule", work)

    def save_next_run(self, outlet: str, trigger: str, next_run_ms: int | None) -> None:
        self._run(
            "save schedule",
            lambda conn: conn.execute(
                "INSERT INTO cluster_schedule (outlet, trigger, next_run_ms) VALUES (%s, %s, %s)"
                " ON CONFLICT (outlet) DO UPDATE SET trigger = excluded.trigger,"
                " next_run_ms = excluded.next_run_ms, updated_at = now()",
                (outlet, trigger, next_run_ms),
            ),
        )

    # -- crawl jobs ----------------------------------------------------------------------

    def enqueue(self, outlet: str) -> bool:
        def work(conn: psycopg.Connection[TupleRow]) -> bool:
            with conn.transaction():
                conn.execute(
                    "DELETE FROM cluster_jobs WHERE outlet = %s AND status IN ('done', 'failed')"
                    " AND finished_at < now() - make_interval(days => %s)",
                    (outlet, KEEP_FINISHED_DAYS),
                )
                row = conn.execute(
                    "INSERT INTO cluster_jobs (outlet) VALUES (%s) ON CONFLICT (outlet)"
                    " WHERE status IN ('queued', 'running') DO NOTHING RETURNING id",
                    (outlet,),
                ).fetchone()
            return row is not None

        return self._run("enqueue", work)

    def claim(self, worker: Member, lease: float, max_attempts: int) -> Job | None:
        def work(conn: psycopg.Connection[TupleRow]) -> Job | None:
            params = {"worker": worker.id, "lease": lease, "max": max_attempts}
            with conn.transaction():
                given_up = conn.execute(GIVE_UP, params).rowcount
                if given_up:
                    logger.warning(
                        "%d crawl job(s) failed: their lease expired too often", given_up
                    )
                row = conn.execute(CLAIM, params).fetchone()
            return None if row is None else Job(int(row[0]), str(row[1]), int(row[2]))

        return self._run("claim", work)

    def renew(self, job: Job, worker: Member, lease: float) -> bool:
        def work(conn: psycopg.Connection[TupleRow]) -> bool:
            cur = conn.execute(
                "UPDATE cluster_jobs SET lease_until = now() + make_interval(secs => %s)"
                " WHERE id = %s AND worker = %s AND status = 'running'",
                (lease, job.id, worker.id),
            )
            return cur.rowcount == 1

        return self._run("renew lease", work)

    def finish(self, job: Job, worker: Member, outcome: str) -> bool:
        def work(conn: psycopg.Connection[TupleRow]) -> bool:
            cur = conn.execute(
                "UPDATE cluster_jobs SET status = %s, outcome = %s, finished_at = now(),"
                " lease_until = NULL WHERE id = %s AND worker = %s AND status = 'running'",
                ("done" if outcome in DONE_OUTCOMES else "failed", outcome, job.id, worker.id),
            )
            return cur.rowcount == 1

        return self._run("finish job", work)

    def release(self, job: Job, worker: Member) -> None:
        self._run(
            "release job",
            lambda conn: conn.execute(
                "UPDATE cluster_jobs SET status = 'queued', worker = NULL, lease_until = NULL,"
                " attempts = greatest(attempts - 1, 0)"
                " WHERE id = %s AND worker = %s AND status = 'running'",
                (job.id, worker.id),
            ),
        )

    def job_counts(self) -> JobCounts:
        def work(conn: psycopg.Connection[TupleRow]) -> JobCounts:
            rows = conn.execute("SELECT status, count(*) FROM cluster_jobs GROUP BY status")
            return JobCounts(**{str(status): int(count) for status, count in rows})

        return self._run("count jobs", work)

    # -- heartbeats ----------------------------------------------------------------------

    def beat(self, member: Member, detail: str) -> None:
        def work(conn: psycopg.Connection[TupleRow]) -> None:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO cluster_members (id, role, host, pid, detail)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE"
                    " SET last_beat = now(), detail = excluded.detail",
                    (member.id, member.role, member.host, member.pid, detail),
                )
                conn.execute(
                    "DELETE FROM cluster_members WHERE last_beat < now() - make_interval(days => %s)",
                    (KEEP_FINISHED_DAYS,),
                )

        self._run("heartbeat", work)

    def leave(self, member: Member) -> None:
        self._run(
            "leave",
            lambda conn: conn.execute("DELETE FROM cluster_members WHERE id = %s", (member.id,)),
        )

    def members(self) -> list[MemberRow]:
        def work(conn: psycopg.Connection[TupleRow]) -> list[MemberRow]:
            rows = conn.execute(
                "SELECT role, host, pid, started_at, last_beat, detail,"
                " extract(epoch FROM now() - last_beat)::float8"
                " FROM cluster_members ORDER BY started_at, id"
            )
            return [MemberRow(r, h, int(p), s, b, str(d), float(a)) for r, h, p, s, b, d, a in rows]

        return self._run("members", work)
