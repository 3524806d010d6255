"""The `cluster` section: leases, heartbeats and polling of the roles over PostgreSQL.

Read only when `state_db` is a `postgresql://` URL (docs/CLUSTER.md); a single machine on
SQLite ignores it.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from conf.base import StrictModel, parse_duration

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(value: object) -> bool:
    """True for a libpq connection URL (the only form `state_db` takes besides a path)."""
    return isinstance(value, str) and value.strip().lower().startswith(POSTGRES_SCHEMES)


def redact_password(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def check_postgres_url(url: str) -> str:
    """The URL as given, or ValueError with libpq's reason when it cannot be parsed."""
    from psycopg import conninfo  # parsing only: no connection is made
    from psycopg.errors import ProgrammingError

    try:
        conninfo.conninfo_to_dict(url.strip())
    except ProgrammingError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "cannot be parsed"
        raise ValueError(f"not a valid PostgreSQL URL: {reason}") from None
    return url.strip()


class ClusterConfig(StrictModel):
    """How the scheduler, worker and ingest roles coordinate through PostgreSQL."""

    # A worker's claim on a crawl job; renewed every third of it while the crawl runs, so a
    # dead worker's job is claimable again after at most this long.
    lease: float = 60.0
    heartbeat: float = 10.0  # how often every role writes its heartbeat row
    poll: float = 2.0  # idle workers look for jobs, standby schedulers for the lock, this often
    max_attempts: int = Field(3, ge=1, le=100)  # claims of one job before it counts as failed
    # The whole state is in PostgreSQL; this names only this machine's folder for its own
    # files: the per-outlet crawl locks and the read view's index (`<stem>.web.sqlite3`).
    local_state_db: Path = Path("state/feedwatch.sqlite3")

    @field_validator("lease", "heartbeat", "poll", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("lease")
    @classmethod
    def _lease(cls, value: float) -> float:
        if value < 3:
            raise ValueError("a lease shorter than 3 s would expire between two renewals")
        return value

    @field_validator("heartbeat", "poll")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value < 0.1:
            raise ValueError("use 0.1 s or more")
        return value
