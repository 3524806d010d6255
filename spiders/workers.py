"""Work taken off the Scrapy thread: a process pool for parsing, a thread for storing.

Scrapy runs every callback and pipeline on one thread, so parsing a 200 KB feed or a 120 KB
article page blocks the downloads of every other request. Parsing feeds (feedparser),
extracting article pages and sanitizing bodies are pure functions of their input, so they run
in worker processes while the crawl process keeps fetching and storing; `await pool.run(fn,
*args)` from an async callback or pipeline. With 0 workers (or no asyncio reactor) the function
runs inline, with the same result; that is the default (`http.extract_workers: 0`): on 2 CPUs
the workers gained no wall time and cost 4-16 % more CPU (docs/BENCHMARKS.md).

Workers are started with "spawn" (forking a process that runs Twisted threads is unsafe) once
per crawl process, when the first spider starts. A worker that dies (a crash in a parser on
hostile input) breaks the pool: that call is retried inline, logged in one line, and the next
call gets a fresh pool.

Storing waits on the disk (each item file is fsynced before its row commits), so the store
pipeline runs its whole ingest step on one `SerialThread`: calls run one at a time in the order
they were made, the state database connection never leaves that thread, and the crawl fetches
and parses while a file is being synced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import sys
import types
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class WorkerPool:
    """Runs picklable module-level functions in worker processes, or inline with 0 workers."""

    def __init__(self, workers: int) -> None:
        self.workers = max(0, workers)
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn")
            )
            with _main_module_hidden():
                # Each submit starts a worker while none is idle: start them all in here.
                for _ in range(self.workers):
                    executor.submit(int)
            self._executor = executor
        return self._executor

    def start(self) -> None:
        """Start the workers now, so that they import while the crawl starts up."""
        if self.workers and loop_running():
            self._pool()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` in a worker process; inline when there are no workers or the pool broke."""
        if not self.workers or not loop_running():
            return fn(*args)
        try:
            return await asyncio.wrap_future(self._pool().submit(fn, *args))
        except BrokenProcessPool as exc:
            logger.warning("worker process died (%s); running %s inline", exc, fn.__name__)
            self._discard()
            return fn(*args)

    def _discard(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def close(self) -> None:
        """Stop the workers (they are idle: the crawl is over)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start processes without telling them the parent's __main__.

    A spawned process imports the parent's main script first. Workers only run functions of
    importable modules, and a script that calls feedwatch without an `if __name__ == "__main__"`
    guard would otherwise run again, crawl included, in every worker.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def loop_running() -> bool:
    """Whether this thread runs an asyncio event loop now (a crawl's reactor), so awaiting
    work from it does not stop it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_shared: WorkerPool | None = None


def shared_pool(workers: int) -> WorkerPool:
    """The process's pool (every outlet's crawler shares it), created on first use."""
    global _shared
    if _shared is None or _shared.workers != max(0, workers):
        if _shared is not None:
            _shared.close()
        _shared = WorkerPool(workers)
    return _shared


def close_shared_pool() -> None:
    """Stop the shared pool's workers, if any were started."""
    global _shared
    if _shared is not None:
        _shared.close()
        _shared = None


class SerialThread:
    """One thread that runs calls in the order they were made."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)

    def call(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` on the thread, waiting for it (for set-up and tear-down)."""
        return self._executor.submit(fn, *args).result()

    def submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        """Queue `fn(*args)` on the thread without waiting for it."""
        return self._executor.submit(fn, *args)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` on the thread, awaited from the event loop."""
        future = self._executor.submit(fn, *args)
        if not loop_running():
            return future.result()
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Finish the calls already made, then stop the thread."""
        self._executor.shutdown(wait=True)
