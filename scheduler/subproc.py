"""Run one crawl as a child process with a hard timeout, and stop it politely, then firmly.

Each crawl gets its own process group (`start_new_session`), so a timeout or a shutdown reaches
everything the crawl started. Stopping sends SIGTERM first (Scrapy then closes the spider and
the store pipeline finishes or abandons its atomic writes), and SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass
class CrawlResult:
    """How one crawl subprocess ended."""

    outlet: str
    returncode: int | None  # None when it had to be killed
    timed_out: bool
    stopped: bool  # ended because the daemon is shutting down
    started_ms: int
    finished_ms: int

    @property
    def outcome(self) -> str:
        """ok / failed / timeout / stopped / exit N."""
        if self.stopped:
            return "stopped"
        if self.timed_out:
            return "timeout"
        if self.returncode == 0:
            return "ok"
        if self.returncode == 1:
            return "failed"
        return f"exit {self.returncode}"


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, sig)


class CrawlSupervisor:
    """Starts crawl subprocesses, enforces their timeout, and stops them all on shutdown."""

    def __init__(self, kill_grace: float = 30.0) -> None:
        self.kill_grace = kill_grace
        self._lock = threading.Lock()
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = threading.Event()
        self._signalled: set[int] = set()  # pids stop_all sent SIGTERM to

    def running(self) -> list[str]:
        """Outlets whose crawl is running now."""
        with self._lock:
            return sorted(self._running)

    def _terminate(self, proc: subprocess.Popen[bytes]) -> int | None:
        """SIGTERM the group, wait the grace period, then SIGKILL; the exit code if it obeyed."""
        _signal_group(proc, signal.SIGTERM)
        try:
            return proc.wait(self.kill_grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
            return None

    def run(
        self,
        outlet: str,
        command: Sequence[str],
        timeout: float,
        env: dict[str, str] | None = None,
    ) -> CrawlResult:
        """Run `command` to completion or until `timeout` seconds; never raises on its failure."""
        started = int(time.time() * 1000)
        if self._stopping.is_set():
            return CrawlResult(outlet, None, False, True, started, started)
        try:
            proc = subprocess.Popen(
                list(command), start_new_session=True, env=env, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            logger.error("cannot start crawl of %s: %s", outlet, exc)
            return CrawlResult(outlet, 127, False, False, started, int(time.time() * 1000))
        with self._lock:
            self._running[outlet] = proc
        timed_out = False
        try:
            try:
                returncode: int | None = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                logger.error("crawl of %s timed out after %.0f s; stopping it", outlet, timeout)
                returncode = self._terminate(proc)
        finally:
            with self._lock:
                self._running.pop(outlet, None)
        # Interrupted by shutdown, whatever its exit code: its run did not get to finish.
        stopped = proc.pid in self._signalled and not timed_out
        return CrawlResult(outlet, returncode, timed_out, stopped, started, int(time.time() * 1000))

    def terminate(self, outlet: str) -> None:
        """Stop one outlet's crawl (TERM, grace, KILL) without waiting for it here."""
        with self._lock:
            proc = self._running.get(outlet)
        if proc is not None:
            threading.Thread(target=self._terminate, args=(proc,), daemon=True).start()

    def stop_all(self) -> None:
        """Refuse new crawls; SIGTERM the running ones, SIGKILL those still there after grace."""
        self._stopping.set()
        with self._lock:
            procs = dict(self._running)
        for outlet, proc in procs.items():
            logger.info("stopping the running crawl of %s (pid %d)", outlet, proc.pid)
            self._signalled.add(proc.pid)
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace
        for outlet, proc in procs.items():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning(
                    "crawl of %s ignored SIGTERM for %.0f s; killing it", outlet, self.kill_grace
                )
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
