"""`feedwatch status`: per-outlet health from the state DB, and an exit code for health checks."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime

from conf.schema import Config
from scheduler.jobstate import JobRecord, ensure_schema, load_jobs
from store.feeds import FeedState, FeedStateStore
from store.partial import PartialStories
from store.queue import IngestQueue
from store.sqlconn import Connection

# Outcomes that say nothing about the outlet's health: still going, stopped by a shutdown or
# a signal, or every feed deferred (Retry-After, backoff): they neither reset nor add failures.
NEUTRAL_STATUSES = {"running", "stopped", "interrupted", "deferred"}
OK_STATUSES = {"ok"}


@dataclass
class LastRun:
    """The newest row of `runs` for an outlet."""

    started_ms: int
    finished_ms: int | None
    status: str
    new_items: int
    errors: int


def _fmt_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


def _fmt_ago(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return ""
    delta = (ms - now_ms) / 1000
    word = "in" if delta >= 0 else "ago"
    seconds = abs(delta)
    if seconds < 120:
        span = f"{seconds:.0f}s"
    elif seconds < 7200:
        span = f"{seconds / 60:.0f}m"
    else:
        span = f"{seconds / 3600:.1f}h"
    return f" ({word} {span})" if word == "in" else f" ({span} ago)"


def last_run(conn: Connection, outlet: str) -> LastRun | None:
    """The outlet's most recent run, or None when it never ran."""
    row = conn.execute(
        "SELECT started_ms, finished_ms, status, new_items, errors FROM runs WHERE outlet=?"
        " ORDER BY started_ms DESC, id DESC LIMIT 1",
        (outlet,),
    ).fetchone()
    if row is None:
        return None
    return LastRun(row[0], row[1], str(row[2] or "?"), int(row[3] or 0), int(row[4] or 0))


def consecutive_failures(conn: Connection, outlet: str, limit: int = 1000) -> int:
    """Failed runs in a row, newest first, up to the last ok run (shutdown stops don't count)."""
    count = 0
    for (status,) in conn.execute(
        "SELECT status FROM runs WHERE outlet=? ORDER BY started_ms DESC, id DESC LIMIT ?",
        (outlet, limit),
    ):
        if status in NEUTRAL_STATUSES:
            continue
        if status in OK_STATUSES:
            break
        count += 1
    return count


def _feed_line(feed_url: str, state: FeedState | None, now_ms: int) -> str:
    if state is None:
        return f"    {feed_url}: never fetched"
    parts = [f"HTTP {state.last_status}" if state.last_status else "no response"]
    if state.etag:
        parts.append(f"ETag {state.etag}")
    if state.last_modified:
        parts.append(f"Last-Modified {state.last_modified}")
    if state.consecutive_failures:
        parts.append(f"{state.consecutive_failures} failure(s) in a row ({state.last_error})")
    if state.next_allowed_ms and state.next_allowed_ms > now_ms:
        parts.append(f"waiting until {_fmt_time(state.next_allowed_ms)}")
    return f"    {feed_url}: " + "; ".join(parts)


def _outlet_block(
    name: str,
    enabled: bool,
    run: LastRun | None,
    failures: int,
    job: JobRecord | None,
    feed_lines: list[str],
    now_ms: int,
    cluster: bool = False,
    partial: int = 0,
) -> list[str]:
    head = f"{name}{'' if enabled else ' (disabled)'}"
    lines = [head]
    if run is None:
        lines.append("  last run: never")
    else:
        took = (
            f"{(run.finished_ms - run.started_ms) / 1000:.1f}s"
            if run.finished_ms is not None
            else "still running"
        )
        lines.append(
            f"  last run: {_fmt_time(run.started_ms)}{_fmt_ago(run.started_ms, now_ms)},"
            f" {run.status}, took {took}, {run.new_items} new item(s), {run.errors} error(s)"
        )
    if job is None and cluster:
        pass  # a cluster's schedule is in PostgreSQL: the cluster part of the report lists it
    elif job is None or job.next_run_ms is None:
        lines.append("  next run: not scheduled (is `feedwatch run` running?)")
    else:
        late = (
            " (overdue: is `feedwatch run` running?)" if job.next_run_ms < now_ms - 60_000 else ""
        )
        lines.append(
            f"  next run: {_fmt_time(job.next_run_ms)}{_fmt_ago(job.next_run_ms, now_ms)}{late}"
        )
    lines.append(f"  consecutive failed runs: {failures}")
    if partial:
        lines.append(f"  stories with the feed summary only: {partial} (their pages are retried)")
    lines.extend(feed_lines)
    return lines


def _ingest_line(queue: IngestQueue, cluster: bool = False) -> str:
    """Stories waiting for the ingest consumer, and who consumes (in a cluster: where, and its
    last heartbeat by the server's clock)."""
    consumer = queue.consumer()
    who = f"{consumer[1]} consumer, pid {consumer[0]}" if consumer else "no consumer running"
    info = queue.consumer_info() if cluster and consumer else None
    if info is not None:
        who += f" on {info[2] or '?'}, last heartbeat {info[3] / 1000:.0f}s ago"
    elif cluster and consumer is None:
        who += ": start `feedwatch run --role ingest`; the crawls' stories wait"
    return f"ingest queue: {queue.pending()} waiting ({who})"


def status_report(config: Config, conn: Connection, max_failures: int) -> tuple[str, int]:
    """Text report per outlet and exit code: 1 when an enabled outlet failed max_failures runs in a row."""
    if max_failures < 1:
        return "--max-failures must be 1 or more", 2
    cluster = config.postgres_url is not None
    jobs: dict[str, JobRecord] = {}
    if isinstance(conn, sqlite3.Connection):  # the daemon's next runs (a cluster's: below)
        ensure_schema(conn)
        jobs = load_jobs(conn)
    feed_states = FeedStateStore(conn)
    partials = PartialStories(conn)
    now_ms = int(time.time() * 1000)
    lines: list[str] = []
    unhealthy: list[str] = []
    for name, outlet in config.outlets.items():
        failures = consecutive_failures(conn, name)
        if outlet.enabled and failures >= max_failures:
            unhealthy.append(name)
        feed_lines = [
            _feed_line(feed.url, feed_states.get(feed.url), now_ms) for feed in outlet.feeds
        ]
        lines.extend(
            _outlet_block(
                name,
                outlet.enabled,
                last_run(conn, name),
                failures,
                None if cluster else jobs.get(name),
                feed_lines,
                now_ms,
                cluster,
                partials.count(name),
            )
        )
    lines.append(_ingest_line(IngestQueue(conn), cluster))
    if unhealthy:
        lines.append(
            f"UNHEALTHY: {', '.join(unhealthy)} failed {max_failures} or more runs in a row"
        )
        return "\n".join(lines), 1
    lines.append("ok: no outlet failed" + f" {max_failures} runs in a row")
    return "\n".join(lines), 0
