"""What the cluster roles need from their shared state: leader election, crawl jobs, heartbeats.

`feedwatch run --role scheduler|worker` talks to this Protocol only; `scheduler/pgcluster.py`
implements it on PostgreSQL. The single-machine daemon (`--role all` on SQLite) does not use
it at all, so that path stays exactly as it was. docs/CLUSTER.md describes the roles.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

ROLES = ("all", "scheduler", "worker", "ingest")
# Crawl outcomes that close a job as done; any other (failed, timeout, exit N) marks it failed.
DONE_OUTCOMES = frozenset({"ok", "deferred"})


class ClusterUnavailable(RuntimeError):
    """The shared state cannot be reached right now (the caller waits and tries again)."""


@dataclass(frozen=True)
class Member:
    """One running role: who writes heartbeats and claims jobs."""

    role: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    # A pid is reused after a restart, and two containers may share host name and pid.
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def id(self) -> str:
        """Unique across the cluster and across restarts: host:pid:token."""
        return f"{self.host}:{self.pid}:{self.token}"


@dataclass(frozen=True)
class Job:
    """A crawl job a worker holds: one outlet, until its lease runs out."""

    id: int
    outlet: str
    attempts: int  # claims so far, this one included


@dataclass(frozen=True)
class MemberRow:
    """A heartbeat row, for `feedwatch status`."""

    role: str
    host: str
    pid: int
    started: datetime
    last_beat: datetime
    detail: str
    age_s: float  # seconds since the last beat, by the database's clock


@dataclass(frozen=True)
class JobCounts:
    """How many crawl jobs are in each state, for `feedwatch status`."""

    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0


class ClusterState(Protocol):
    """The coordination state shared by every role of a cluster."""

    def try_lead(self) -> bool:
        """Become (or stay) the one active scheduler; False while another one is."""

    def resign(self) -> None:
        """Give up leadership (a clean stop), so a standby takes over at once."""

    def load_schedule(self) -> dict[str, tuple[str, int | None]]:
        """outlet -> (trigger key, next run in epoch ms) as the last leader left them."""

    def save_next_run(self, outlet: str, trigger: str, next_run_ms: int | None) -> None:
        """Record an outlet's next run, for the leader that comes after this one."""

    def enqueue(self, outlet: str) -> bool:
        """Queue a crawl of the outlet; False when one is already queued or running."""

    def claim(self, worker: Member, lease: float, max_attempts: int) -> Job | None:
        """The oldest claimable job (queued, or its lease expired), leased to `worker`."""

    def renew(self, job: Job, worker: Member, lease: float) -> bool:
        """Extend the lease; False when the job is no longer this worker's."""

    def finish(self, job: Job, worker: Member, outcome: str) -> bool:
        """Mark the job done (DONE_OUTCOMES) or failed; False when another worker holds it now."""

    def release(self, job: Job, worker: Member) -> None:
        """Put an unfinished job back in the queue (the worker is stopping)."""

    def beat(self, member: Member, detail: str) -> None:
        """Write the member's heartbeat row (created on the first beat)."""

    def leave(self, member: Member) -> None:
        """Remove the member's heartbeat row (a clean stop)."""

    def members(self) -> list[MemberRow]:
        """Every role that wrote a heartbeat recently, oldest start first."""

    def job_counts(self) -> JobCounts:
        """Crawl jobs per state (finished ones are kept for a while)."""

    def close(self) -> None:
        """Close the connection(s)."""
