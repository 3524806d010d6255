"""Faults across a cluster on a real PostgreSQL: roles killed, the server restarted.

Each role is a real `feedwatch run --role ...` process crawling a local feed site
(tests/cluster_harness.py). What must hold: every entry of every feed is stored, exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_harness import REPO, Cluster, feed_links, wait_for
from servers.feedserver import FeedServer

from scheduler.pgcluster import PgCluster

pytestmark = pytest.mark.slow  # role processes, subprocess crawls, leases running out


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def assert_every_entry_stored_once(cluster: Cluster) -> None:
    # A worker's job is done when its crawl has queued its stories; the ingest role settles them.
    wait_for("the ingest queue to empty", lambda: cluster.queued() == 0, 60, cluster.logs)
    expected = sorted(link for feed in cluster.feeds for link in feed_links(feed))
    stored = sorted(cluster.stored_urls())
    assert stored == expected, cluster.logs()  # none lost, none doubled
    archived = cluster.archive_urls()
    assert len(archived) == len(set(archived)), cluster.logs()
    # The whole state is in PostgreSQL: no role made a SQLite file.
    assert not list(cluster.workdir.rglob("*.sqlite3*")), list(cluster.workdir.rglob("*"))


def crawl_processes(config: Path) -> list[int]:
    """Pids of `feedwatch crawl` processes started for this config."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"crawl" in argv and str(config).encode() in argv:
            pids.append(int(proc.name))
    return pids


def test_a_worker_killed_mid_crawl_hands_its_job_on_after_the_lease(
    tmp_path: Path, pg_url: str, server: FeedServer
) -> None:
    cluster = Cluster(tmp_path, pg_url, server, outlets=1, lease=3)
    server.set_fault("/o0.xml", stall=8, times=1)  # the first crawl hangs on its feed
    state = PgCluster(pg_url)
    try:
        assert state.enqueue("o0")
    finally:
        state.close()
    try:
        cluster.start("i1", "ingest")
        cluster.start("w1", "worker")
        wait_for("w1 to claim the job", lambda: cluster.jobs()[0][2] == "running", 30, cluster.logs)
        wait_for(
            "w1's crawl to request the feed", lambda: server.requests["/o0.xml"], 30, cluster.logs
        )
        cluster.kill("w1")
        # Its crawl does not outlive it (the kernel's parent-death signal).
        wait_for("w1's crawl to end", lambda: not crawl_processes(cluster.config), 30, cluster.logs)
        killed_at = time.monotonic()
        cluster.start("w2", "worker")
        wait_for("the job to be done", lambda: cluster.jobs()[0][2] == "done", 60, cluster.logs)
        taken_after = time.monotonic() - killed_at
        [(_, outlet, status, attempts, worker, _)] = cluster.jobs()
        assert (outlet, status, attempts) == ("o0", "done", 2)
        assert f":{cluster.procs['w2'].pid}:" in worker  # the second worker finished it
        assert taken_after < 3 + 20  # the lease, then one crawl of a small feed
        assert_every_entry_stored_once(cluster)
    finally:
        codes = cluster.stop_all()
    assert codes["w2"] == 0, cluster.logs()


def status(cluster: Cluster) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedwatch", "status", "--config", str(cluster.config)],
        cwd=cluster.workdir,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def leader_pid(cluster: Cluster) -> int | None:
    leaders = [
        pid for role, pid, detail, age in cluster.members() if detail == "leader" and age < 3
    ]
    return leaders[0] if len(leaders) == 1 else None


def test_a_killed_scheduler_is_replaced_within_one_interval(
    tmp_path: Path, pg_url: str, server: FeedServer
) -> None:
    cluster = Cluster(tmp_path, pg_url, server, outlets=2, lease=10)
    interval = 60.0
    try:
        s1 = cluster.start("s1", "scheduler")
        wait_for("s1 to lead", lambda: leader_pid(cluster) == s1.pid, 30, cluster.logs)
        s2 = cluster.start("s2", "scheduler")
        cluster.start("i1", "ingest")
        cluster.start("w1", "worker")
        wait_for(
            "the first crawls",
            lambda: [j[2] for j in cluster.jobs()] == ["done", "done"],
            60,
            cluster.logs,
        )
        first_queued = min(j[5] for j in cluster.jobs())
        assert leader_pid(cluster) == s1.pid  # s2 waited as a standby
        cluster.kill("s1")
        killed = time.monotonic()
        wait_for("s2 to take over", lambda: leader_pid(cluster) == s2.pid, 10, cluster.logs)
        print(f"\ns2 leads {time.monotonic() - killed:.1f} s after s1 was killed")
        # The schedule s1 saved is kept: the next crawls come on time, not at once, not never.
        wait_for("the second crawls", lambda: len(cluster.jobs()) == 4, interval + 20, cluster.logs)
        second_queued = min(j[5] for j in cluster.jobs()[2:])
        gap = (second_queued - first_queued).total_seconds()
        assert interval - 2 <= gap <= interval + 5, gap
        wait_for(
            "the second crawls to finish",
            lambda: all(j[2] == "done" for j in cluster.jobs()),
            60,
            cluster.logs,
        )
        report = status(cluster)
        assert report.returncode == 1, report.stdout  # s1 is silent: the cluster is unhealthy
        assert f"pid {s2.pid}: leader" in report.stdout
        assert f"pid {s1.pid}: leader" in report.stdout and "SILENT (gone?)" in report.stdout
        assert "worker" in report.stdout
        assert_every_entry_stored_once(cluster)  # the second crawls found nothing new
    finally:
        codes = cluster.stop_all()
    assert codes["s2"] == 0 and codes["w1"] == 0, cluster.logs()


PG_CLUSTER_ENV = "FEEDWATCH_TEST_PG_CLUSTER"  # "15 main": the server .ci/run started


def test_roles_reconnect_and_carry_on_after_postgresql_restarts(
    tmp_path: Path, pg_url: str, server: FeedServer
) -> None:
    pg_cluster = os.environ.get(PG_CLUSTER_ENV, "").split()
    if len(pg_cluster) != 2:
        pytest.skip(f"needs {PG_CLUSTER_ENV}='VERSION NAME' of a server this test may restart")
    cluster = Cluster(tmp_path, pg_url, server, outlets=4, lease=20)
    for name in cluster.outlets[:2]:
        server.set_fault(f"/{name}.xml", stall=4, times=1)  # crawls running at the restart
    try:
        cluster.start("s1", "scheduler")
        cluster.start("i1", "ingest")
        w1, w2 = cluster.start("w1", "worker"), cluster.start("w2", "worker")
        wait_for(
            "two crawls in progress",
            lambda: [j[2] for j in cluster.jobs()].count("running") == 2,
            60,
            cluster.logs,
        )
        restart = subprocess.run(
            ["pg_ctlcluster", *pg_cluster, "restart", "-m", "fast"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert restart.returncode == 0, restart.stderr
        restarted = time.monotonic()

        def carried_on() -> bool:
            jobs, members = cluster.jobs(), cluster.members()
            fresh = [m for m in members if m[3] < 2]
            return (
                len(jobs) == 4
                and all(j[2] == "done" for j in jobs)
                and len(fresh) == 4
                and any(m[2] == "leader" for m in fresh)
            )

        wait_for("every role to carry on", carried_on, 90, cluster.logs)
        print(f"\nevery job done, every role beating {time.monotonic() - restarted:.1f} s after")
        assert all(j[3] == 1 for j in cluster.jobs())  # no lease ran out: nothing crawled twice
        assert {w1.pid, w2.pid} <= {m[1] for m in cluster.members()}
        assert "reconnected to PostgreSQL" in cluster.logs()
        assert_every_entry_stored_once(cluster)
    finally:
        codes = cluster.stop_all()
    assert set(codes.values()) == {0}, cluster.logs()


def test_role_all_on_postgresql_is_a_scheduler_a_worker_and_an_ingest_in_one_process(
    tmp_path: Path, pg_url: str, server: FeedServer
) -> None:
    cluster = Cluster(tmp_path, pg_url, server, outlets=2, lease=10)
    try:
        both = cluster.start("all", "all")
        wait_for(
            "both crawls",
            lambda: [j[2] for j in cluster.jobs()] == ["done", "done"],
            60,
            cluster.logs,
        )
        roles = sorted((role, pid, detail) for role, pid, detail, _ in cluster.members())
        assert roles == [
            ("ingest", both.pid, "consuming"),
            ("scheduler", both.pid, "leader"),
            ("worker", both.pid, "idle"),
        ]
        assert_every_entry_stored_once(cluster)
    finally:
        codes = cluster.stop_all()
    assert codes["all"] == 0, cluster.logs()
    assert cluster.members() == []  # a clean stop removes its heartbeat rows


def test_a_killed_ingest_consumer_is_replaced_by_its_standby_and_nothing_is_lost(
    tmp_path: Path, pg_url: str, server: FeedServer
) -> None:
    cluster = Cluster(tmp_path, pg_url, server, outlets=4, lease=10)
    try:
        i1 = cluster.start("i1", "ingest")

        def consuming() -> list[int]:
            return [
                pid
                for _, pid, detail, age in cluster.members()
                if detail == "consuming" and age < 3
            ]

        wait_for("i1 to consume", lambda: consuming() == [i1.pid], 30, cluster.logs)
        i2 = cluster.start("i2", "ingest")
        wait_for(
            "i2 to wait as a standby",
            lambda: ("ingest", i2.pid, "standby") in [m[:3] for m in cluster.members()],
            30,
            cluster.logs,
        )
        cluster.start("s1", "scheduler")
        cluster.start("w1", "worker")
        # Killed as soon as it has stored something: the crawls are still queueing.
        wait_for("i1 to store something", lambda: cluster.stored_urls(), 60, cluster.logs)
        cluster.kill("i1")
        killed = time.monotonic()
        wait_for("i2 to take over", lambda: consuming() == [i2.pid], 15, cluster.logs)
        print(f"\ni2 consumes {time.monotonic() - killed:.1f} s after i1 was killed")
        wait_for(
            "every crawl",
            lambda: len(cluster.jobs()) == 4 and all(j[2] == "done" for j in cluster.jobs()),
            60,
            cluster.logs,
        )
        assert_every_entry_stored_once(cluster)
        report = status(cluster)  # every role with its host; i1 silent, i2 consuming
        host = os.uname().nodename
        assert f"ingest    {host} pid {i2.pid}: consuming" in report.stdout, report.stdout
        assert f"pid {i1.pid}: consuming" in report.stdout and "SILENT" in report.stdout
        assert f"ingest consumer, pid {i2.pid} on {host}, last heartbeat" in report.stdout
    finally:
        codes = cluster.stop_all()
    assert codes["i2"] == 0, cluster.logs()


def test_without_an_ingest_role_a_workers_stories_wait_in_the_queue(
    tmp_path: Path, pg_url: str, server: FeedServer
) -> None:
    cluster = Cluster(tmp_path, pg_url, server, outlets=1, lease=10)
    try:
        cluster.start("s1", "scheduler")
        cluster.start("w1", "worker")
        wait_for("the crawl", lambda: [j[2] for j in cluster.jobs()] == ["done"], 60, cluster.logs)
        assert cluster.stored_urls() == []  # queued, not stored: no consumer of its own
        assert cluster.queued() == len(feed_links(cluster.feeds[0])) + 1  # + its end marker
        assert "none running now: they wait in the queue" in cluster.logs()
        report = status(cluster)
        assert report.returncode == 1 and "no active ingest role" in report.stdout
        cluster.start("i1", "ingest")  # they are stored as soon as one runs
        assert_every_entry_stored_once(cluster)
    finally:
        codes = cluster.stop_all()
    assert set(codes.values()) == {0}, cluster.logs()
