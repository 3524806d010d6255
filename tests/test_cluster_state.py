"""The coordination state on a real PostgreSQL: election, leases, heartbeats (scheduler/pgcluster.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from scheduler.cluster import ClusterUnavailable, Member
from scheduler.pgcluster import PgCluster


@pytest.fixture
def clusters(pg_url: str) -> Iterator[list[PgCluster]]:
    """Three independent processes' worth of state (each its own connection)."""
    made = [PgCluster(pg_url) for _ in range(3)]
    yield made
    for cluster in made:
        cluster.close()


def test_one_leader_and_a_standby_takes_over_when_its_session_ends(
    clusters: list[PgCluster],
) -> None:
    first, second, _ = clusters
    assert first.try_lead() is True
    assert second.try_lead() is False
    assert first.try_lead() is True  # still the leader on the next check
    first.close()  # the process died: the server drops its session and the lock
    # The server ends the session a moment after the client hangs up (a standby polls anyway).
    deadline = time.monotonic() + 5
    while not second.try_lead() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert second.try_lead() is True
    first = PgCluster(first.url)
    assert first.try_lead() is False
    first.close()


def test_resign_hands_over_at_once(clusters: list[PgCluster]) -> None:
    first, second, _ = clusters
    assert first.try_lead()
    first.resign()
    assert second.try_lead()
    assert not first.try_lead()


def test_a_due_crawl_is_coalesced_while_one_is_open(clusters: list[PgCluster]) -> None:
    leader, worker_state, _ = clusters
    worker = Member("worker")
    assert leader.enqueue("rfi") is True
    assert leader.enqueue("rfi") is False  # queued already
    job = worker_state.claim(worker, lease=30, max_attempts=3)
    assert job is not None and job.outlet == "rfi" and job.attempts == 1
    assert leader.enqueue("rfi") is False  # running
    assert worker_state.finish(job, worker, "ok") is True
    assert leader.enqueue("rfi") is True  # done: the next one may be queued
    counts = leader.job_counts()
    assert (counts.queued, counts.running, counts.done) == (1, 0, 1)


def test_two_workers_never_claim_the_same_job(clusters: list[PgCluster]) -> None:
    leader, a_state, b_state = clusters
    for outlet in ("one", "two", "three"):
        leader.enqueue(outlet)
    a, b = Member("worker"), Member("worker")
    got = [a_state.claim(a, 30, 3), b_state.claim(b, 30, 3), a_state.claim(a, 30, 3)]
    assert sorted(job.outlet for job in got if job) == ["one", "three", "two"]
    assert b_state.claim(b, 30, 3) is None


def test_an_expired_lease_is_claimable_again_and_the_old_holder_loses_it(
    clusters: list[PgCluster],
) -> None:
    leader, a_state, b_state = clusters
    a, b = Member("worker"), Member("worker")
    leader.enqueue("rfi")
    first = a_state.claim(a, lease=1, max_attempts=3)
    assert first is not None
    assert b_state.claim(b, lease=1, max_attempts=3) is None  # leased to a
    assert a_state.renew(first, a, lease=1) is True
    time.sleep(1.3)  # a died: no renewal
    second = b_state.claim(b, lease=30, max_attempts=3)
    assert second is not None and second.id == first.id and second.attempts == 2
    assert a_state.renew(first, a, lease=30) is False  # a came back: the job is b's now
    assert a_state.finish(first, a, "ok") is False
    assert b_state.finish(second, b, "ok") is True


def test_a_job_that_keeps_losing_its_lease_fails_after_max_attempts(
    clusters: list[PgCluster],
) -> None:
    leader, state, _ = clusters
    leader.enqueue("poison")
    for attempt in (1, 2):
        job = state.claim(Member("worker"), lease=0.2, max_attempts=2)
        assert job is not None and job.attempts == attempt
        time.sleep(0.4)
    assert state.claim(Member("worker"), lease=0.2, max_attempts=2) is None
    assert state.job_counts().failed == 1


def test_a_stopping_worker_releases_its_job_for_the_next(clusters: list[PgCluster]) -> None:
    leader, a_state, b_state = clusters
    a, b = Member("worker"), Member("worker")
    leader.enqueue("rfi")
    job = a_state.claim(a, 60, 3)
    assert job is not None
    a_state.release(job, a)
    again = b_state.claim(b, 60, 3)
    assert again is not None and again.id == job.id and again.attempts == 1


def test_heartbeats_list_every_role_with_its_host_and_age(clusters: list[PgCluster]) -> None:
    state = clusters[0]
    scheduler, worker = Member("scheduler"), Member("worker", host="box2", pid=42)
    state.beat(scheduler, "leader")
    state.beat(worker, "idle")
    state.beat(worker, "crawling rfi (job 1)")
    rows = state.members()
    assert [(r.role, r.detail) for r in rows] == [
        ("scheduler", "leader"),
        ("worker", "crawling rfi (job 1)"),
    ]
    assert rows[1].host == "box2" and rows[1].pid == 42
    assert all(0 <= r.age_s < 5 for r in rows)
    state.leave(worker)
    assert [r.role for r in state.members()] == ["scheduler"]


def test_the_schedule_survives_the_leader(clusters: list[PgCluster]) -> None:
    first, second, _ = clusters
    first.save_next_run("rfi", "every=600 jitter=0", 1_700_000_000_000)
    first.save_next_run("rfi", "every=600 jitter=0", 1_700_000_600_000)
    assert second.load_schedule() == {"rfi": ("every=600 jitter=0", 1_700_000_600_000)}


def test_a_lost_server_is_one_clear_error_and_the_next_call_reconnects(pg_url: str) -> None:
    state = PgCluster(pg_url)
    try:
        assert state.try_lead()
        backend = state._run("pid", lambda conn: conn.execute("SELECT pg_backend_pid()").fetchone())
        with psycopg.connect(pg_url, autocommit=True) as admin:  # the server drops the session
            admin.execute("SELECT pg_terminate_backend(%s)", backend)
        with pytest.raises(ClusterUnavailable):
            state.try_lead()  # the session that held the lock is gone: not leader any more
        assert state.try_lead() is True  # reconnected, and the lock was free
    finally:
        state.close()


def test_an_unreachable_server_raises_cluster_unavailable() -> None:
    state = PgCluster("postgresql://nobody@127.0.0.1:9/none")
    with pytest.raises(ClusterUnavailable):
        state.beat(Member("worker"), "idle")


def test_a_failed_or_deferred_crawl_closes_its_job(clusters: list[PgCluster]) -> None:
    leader, state, _ = clusters
    worker = Member("worker")
    for outlet, outcome in (("a", "timeout"), ("b", "deferred"), ("c", "exit 3")):
        leader.enqueue(outlet)
        job = state.claim(worker, 30, 3)
        assert job is not None and job.outlet == outlet
        assert state.finish(job, worker, outcome)
    counts = leader.job_counts()
    assert (counts.done, counts.failed, counts.queued, counts.running) == (1, 2, 0, 0)
