"""The cluster part of `feedwatch status`: every role, where it runs, its last heartbeat."""

from __future__ import annotations

from datetime import datetime

from conf.cluster import redact_password
from conf.schema import Config
from scheduler.cluster import ClusterState, ClusterUnavailable

SILENT_BEATS = 3  # heartbeats missed before a member counts as gone


def cluster_report(state: ClusterState, config: Config) -> tuple[str, int]:
    """Lines for the cluster and an exit code: 1 when unreachable, nobody leads, or a role is silent."""
    where = redact_password(config.postgres_url or "")
    try:
        members = state.members()
        counts = state.job_counts()
        schedule = state.load_schedule()
    except ClusterUnavailable as exc:
        return f"cluster {where}: UNREACHABLE ({exc})", 1
    silent_after = SILENT_BEATS * config.cluster.heartbeat
    lines = [
        f"cluster {where}: {len(members)} role(s); crawl jobs: {counts.queued} queued,"
        f" {counts.running} running, {counts.done} done, {counts.failed} failed"
    ]
    problems: list[str] = []
    for m in members:
        silent = m.age_s > silent_after
        mark = " SILENT (gone?)" if silent else ""
        lines.append(
            f"  {m.role:<9} {m.host} pid {m.pid}: {m.detail}; up since"
            f" {m.started.astimezone().strftime('%Y-%m-%d %H:%M:%S %z')},"
            f" last heartbeat {m.age_s:.0f}s ago{mark}"
        )
        if silent:
            problems.append(f"{m.role} on {m.host} (pid {m.pid}) is silent")
    for name, outlet in config.outlets.items():
        if outlet.enabled:
            next_ms = schedule.get(name, ("", None))[1]
            when = (
                datetime.fromtimestamp(next_ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
                if next_ms
                else "not scheduled yet (no scheduler has led)"
            )
            lines.append(f"  next crawl of {name}: {when}")
    live = [m for m in members if m.age_s <= silent_after]
    if not any(m.role == "scheduler" and m.detail == "leader" for m in live):
        problems.append("no active scheduler")
    if not any(m.role == "worker" for m in live):
        problems.append("no live worker")
    if not any(m.role == "ingest" and m.detail == "consuming" for m in live):
        problems.append("no active ingest role (crawled stories wait in the queue)")
    if problems:
        lines.append("CLUSTER UNHEALTHY: " + "; ".join(problems))
        return "\n".join(lines), 1
    lines.append("cluster ok: one active scheduler, one active ingest role, every role heard from")
    return "\n".join(lines), 0
