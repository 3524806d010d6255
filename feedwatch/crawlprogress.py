"""Shows a running crawl's progress per outlet, read from each crawler's stats.

A thread polls the stats (single dict lookups, safe while the reactor thread writes them)
instead of hooking into Scrapy signals: the display reads the same counters as the summary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from scrapy.crawler import Crawler

from feedwatch.progress import ProgressReport

POLL_SECONDS = 0.5


class StatsView:
    """Read-only `get` over a crawler's stats, one key at a time."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    def get(self, key: str, default: Any = None) -> Any:
        stats = self.crawler.stats
        return default if stats is None else stats.get_value(key, default)


class CrawlWatcher:
    """Polls crawlers and updates one progress task per outlet until stopped."""

    def __init__(
        self,
        progress: ProgressReport,
        crawlers: list[tuple[str, Crawler]],
        feeds: dict[str, int],
        describe: Callable[[str, StatsView], tuple[int, str]],
    ) -> None:
        self.progress = progress
        self.crawlers = crawlers
        self.describe = describe  # (outlet, stats) -> (feeds done, detail text)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crawl-progress", daemon=True)
        for name, _ in crawlers:
            progress.add(name, name, total=feeds.get(name), unit="feeds")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and show the final counts."""
        self._stop.set()
        self._thread.join()
        self.poll(final=True)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.poll()

    def poll(self, final: bool = False) -> None:
        for name, crawler in self.crawlers:
            view = StatsView(crawler)
            done_feeds, detail = self.describe(name, view)
            finished = final or view.get("finish_reason") is not None
            total = self.progress_total(name, done_feeds)
            self.progress.update(name, done_feeds, total=total, detail=detail, done=finished)

    def progress_total(self, name: str, done_feeds: int) -> int | None:
        # A mirror's index pages count as feeds too: never show more done than the total.
        task_total = self.progress._tasks[name].total
        return None if task_total is None else max(task_total, done_feeds)
