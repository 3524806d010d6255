"""The leader's saved schedule never skips a due crawl when the leader dies before queueing it.

Found by the kill rounds (bench/cluster_kill_rounds.py): APScheduler moves a job's next run on
when it hands the job to its executor; the leader saved that next run before the crawl was
queued, and a leader killed in between left its successor a schedule that skipped the crawl
for a whole interval. The cluster state here is an in-memory stand-in for PostgreSQL's (the
ClusterState protocol), whose `enqueue` waits until the test lets it go.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from conf.schema import load_config
from scheduler.cluster import Member
from scheduler.roles import ClusterScheduler

INTERVAL_MS = 3600 * 1000


class SlowQueueState:
    """Leads at once; remembers saved next runs; `enqueue` blocks until `release` is set."""

    def __init__(self) -> None:
        self.saved: dict[str, int | None] = {}
        self.release = threading.Event()
        self.queued: list[str] = []

    def try_lead(self) -> bool:
        return True

    def resign(self) -> None:
        pass

    def load_schedule(self) -> dict[str, tuple[str, int | None]]:
        return {}

    def save_next_run(self, outlet: str, trigger: str, next_run_ms: int | None) -> None:
        self.saved[outlet] = next_run_ms

    def enqueue(self, outlet: str) -> bool:
        self.release.wait(10)
        self.queued.append(outlet)
        return True

    def beat(self, member: Member, detail: str) -> None:
        pass

    def leave(self, member: Member) -> None:
        pass


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def test_a_due_run_stays_saved_until_its_crawl_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "state_db: postgresql://fw@127.0.0.1:9/fw\noutlets:\n  one:\n"
        "    feeds: [{url: 'https://example.org/rss'}]\n    schedule: {every: 1h}\n",
        encoding="utf-8",
    )
    state = SlowQueueState()
    scheduler = ClusterScheduler(load_config(path), state, threading.Event())  # type: ignore[arg-type]
    started_ms = int(time.time() * 1000)
    scheduler.promote()
    try:
        assert scheduler.aps is not None
        # The first crawl is due now; APScheduler has handed it to a thread, where it waits.
        _wait_for(
            lambda: (
                scheduler.aps.get_job("one").next_run_time is not None  # type: ignore[union-attr]
                and scheduler.aps.get_job("one").next_run_time.timestamp() * 1000  # type: ignore[union-attr]
                > started_ms + INTERVAL_MS / 2
            )
        )
        scheduler.save_next_runs()
        due = state.saved["one"]
        assert due is not None and due <= int(time.time() * 1000), "a due run was saved as done"

        state.release.set()
        _wait_for(lambda: state.queued == ["one"])
        scheduler.save_next_runs()
        after = state.saved["one"]
        assert after is not None and after >= started_ms + INTERVAL_MS - 60_000
    finally:
        state.release.set()
        scheduler.demote()
