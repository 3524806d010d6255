"""spiders.workers: extraction in worker processes, storing on one ordered thread."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from spiders.workers import SerialThread, WorkerPool

REPO = Path(__file__).resolve().parent.parent


def _exit_unless_in(pid: int) -> int:
    """Kill the calling worker process; in process `pid` itself, return its pid."""
    if os.getpid() != pid:
        os._exit(3)
    return pid


def test_a_call_runs_in_another_process_and_inline_without_workers() -> None:
    async def both() -> tuple[int, int]:
        pool, inline = WorkerPool(1), WorkerPool(0)
        try:
            return await pool.run(os.getpid), await inline.run(os.getpid)
        finally:
            pool.close()

    in_worker, in_place = asyncio.run(both())
    assert in_worker != os.getpid() and in_place == os.getpid()


def test_a_dead_worker_costs_one_inline_call_and_the_next_call_gets_a_new_pool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def calls() -> tuple[int, int]:
        pool = WorkerPool(1)
        try:
            after_crash = await pool.run(_exit_unless_in, os.getpid())
            return after_crash, await pool.run(os.getpid)
        finally:
            pool.close()

    with caplog.at_level(logging.WARNING, logger="spiders.workers"):
        after_crash, next_call = asyncio.run(calls())
    assert after_crash == os.getpid()  # retried inline
    assert next_call != os.getpid()  # a fresh worker
    assert [r.message for r in caplog.records if "worker process died" in r.message] != []


def test_a_script_without_a_main_guard_does_not_run_again_in_the_workers(tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, os
            from spiders.workers import WorkerPool
            print("script ran", flush=True)
            pool = WorkerPool(2)
            pid = asyncio.run(pool.run(os.getpid))
            pool.close()
            print("worker pid differs:", pid != os.getpid())
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["script ran", "worker pid differs: True"]


def test_serial_thread_runs_calls_in_order_off_the_event_loop_thread() -> None:
    seen: list[tuple[int, str]] = []

    def record(i: int) -> int:
        seen.append((i, threading.current_thread().name))
        return i

    async def many() -> list[int]:
        thread = SerialThread("test-store")
        try:
            return list(await asyncio.gather(*(thread.run(record, i) for i in range(50))))
        finally:
            thread.close()

    assert asyncio.run(many()) == list(range(50))
    assert [i for i, _ in seen] == list(range(50))
    assert {name for _, name in seen} != {threading.current_thread().name}
    assert len({name for _, name in seen}) == 1
