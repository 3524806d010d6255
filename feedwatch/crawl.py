"""Run one Scrapy crawl of some outlets and summarize it (feeds fetched, items new/seen, errors)."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from conf.schema import Config
from crawler import settings as default_settings
from crawler.pipelines import outcome_stats
from feedwatch import logsetup
from feedwatch.crawlprogress import CrawlWatcher, StatsView
from feedwatch.progress import ProgressReport
from ingest.handoff import IngestHandoff
from scheduler.locks import outlet_lock
from spiders.workers import close_shared_pool
from store.sqlite import open_storage
from store.storage import RunStorage

logger = logging.getLogger(__name__)


@dataclass
class OutletSummary:
    """What one outlet's crawl did, from its Scrapy stats."""

    outlet: str
    feeds: int = 0
    feed_errors: int = 0
    feeds_unchanged: int = 0  # 304, same body as last time, or deferred (Retry-After, backoff)
    articles: int = 0
    new: int = 0
    merged: int = 0
    revisions: int = 0
    upgraded: int = 0
    seen: int = 0
    unchanged: int = 0  # known entries with unchanged content: dropped before dedup, no write
    queued: int = 0  # stories put on the ingest queue
    to_daemon: bool = False  # the running daemon consumes them: outcomes not known here
    errors: int = 0
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.feed_errors == 0


def build_settings(
    config_path: Path,
    *,
    replay: Path | None = None,
    record: Path | None = None,
    log_level: str = "WARNING",
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Scrapy settings for a crawl driven by this config file."""
    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    settings.set("FEEDWATCH_CONFIG", str(config_path), priority="cmdline")
    settings.set("LOG_LEVEL", log_level, priority="cmdline")
    # The CLI's handler (timestamps, -q/-v, --log-file) already sits on the root logger.
    settings.set("LOG_INSTALL_ROOT_HANDLER", not logsetup.installed(), priority="cmdline")
    if replay is not None:
        settings.set("FEEDWATCH_REPLAY", str(replay), priority="cmdline")
    if record is not None:
        settings.set("FEEDWATCH_RECORD", str(record), priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


class CrawlSummaries(list[OutletSummary]):
    """The outlets' summaries, and the errors logged during the crawl that no outlet owns."""

    unattributed_errors: int = 0


class ErrorCounter(logging.Handler):
    """Counts ERROR records per outlet, by the spider Scrapy attaches to its records.

    Scrapy's own `log_count/ERROR` stat counts every error of the process in every crawler's
    stats: with five outlets in one process, one error showed on five lines and five times in
    the total.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.by_outlet: dict[str | None, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        spider = getattr(record, "spider", None)
        name = getattr(spider, "outlet_name", None) or getattr(spider, "name", None)
        self.by_outlet[name] = self.by_outlet.get(name, 0) + 1


def _summarize(outlet: str, stats: dict[str, Any], errors: int = 0) -> OutletSummary:
    def count(key: str) -> int:
        return int(stats.get(key, 0) or 0)

    return OutletSummary(
        outlet=outlet,
        feeds=count("feeds/fetched"),
        feed_errors=count("feeds/failed"),
        feeds_unchanged=count("httpstate/not_modified")
        + count("httpstate/unchanged")
        + count("httpstate/deferred"),
        articles=count("articles/fetched"),
        new=count("store/written"),
        merged=count("dedup/merged"),
        revisions=count("dedup/revision"),
        upgraded=count("store/upgraded"),
        seen=count("store/seen") + count("articles/skipped_seen"),
        unchanged=count("store/unchanged"),
        queued=count("store/queued"),
        errors=errors,
        stats=stats,
    )


def _progress_of(outlet: str, stats: StatsView) -> tuple[int, str]:
    """Feeds done (parsed, unchanged or failed) and a short detail, for the progress display."""
    s = _summarize(outlet, stats)  # type: ignore[arg-type]
    # Mid-crawl the stories are queued; the consumer settles them (new, reposts) beside.
    detail = f"pages {s.articles}, stories {s.queued} queued"
    if s.feed_errors:
        detail += f", {s.feed_errors} feeds failed"
    return s.feeds + s.feeds_unchanged + s.feed_errors, detail


def summarize_stats(outlet: str, stats: dict[str, Any]) -> OutletSummary:
    """What one outlet's crawl did, from its Scrapy stats (also read mid-crawl by progress)."""
    return _summarize(outlet, stats)


def run_crawl(
    config: Config,
    config_path: Path,
    outlets: list[str],
    settings: Settings,
    progress: ProgressReport | None = None,
) -> CrawlSummaries:
    """Crawl the named outlets in one Scrapy process and record a run per outlet.

    With `progress`, each outlet's feeds, pages and stories are shown while it runs.
    """
    storage = open_storage(config.state_db)
    runs = storage.runs
    with ExitStack() as locks:
        # A scheduled crawl of an outlet is skipped while a manual one holds its lock, and a
        # manual one waits for a scheduled one. Sorted, so two processes never deadlock.
        for name in sorted(outlets):
            locks.enter_context(outlet_lock(config.state_db.parent, name, wait=True))
        feeds = {name: len(config.outlets[name].feeds) for name in outlets}
        level = str(settings.get("LOG_LEVEL") or "WARNING")
        with IngestHandoff(config, config_path, log_level=level) as handoff:
            summaries = _crawl_locked(runs, outlets, settings, progress, feeds, handoff)
    storage.close()
    return summaries


def _crawl_locked(
    runs: RunStorage,
    outlets: list[str],
    settings: Settings,
    progress: ProgressReport | None = None,
    feeds: dict[str, int] | None = None,
    handoff: IngestHandoff | None = None,
) -> CrawlSummaries:
    run_ids = {name: runs.start(name) for name in outlets}
    if handoff is not None:
        settings = settings.copy()
        settings.setdict(handoff.settings, priority="cmdline")
        settings.set("FEEDWATCH_RUN_IDS", run_ids, priority="cmdline")
    process = CrawlerProcess(settings)
    crawlers = []
    for name in outlets:
        crawler = process.create_crawler(name)
        crawlers.append((name, crawler))
        process.crawl(crawler)
    counter = ErrorCounter()
    logging.getLogger().addHandler(counter)
    watcher = None
    if progress is not None:
        watcher = CrawlWatcher(progress, crawlers, feeds or {}, _progress_of)
        watcher.start()
    try:
        process.start()
    finally:
        if watcher is not None:
            watcher.stop()
        logging.getLogger().removeHandler(counter)
        close_shared_pool()
    # The crawl's half is done: wait until the consumer has settled every queued story.
    outcomes = handoff.finish() if handoff is not None else None
    summaries = CrawlSummaries()
    for name, crawler in crawlers:
        stats = dict(crawler.stats.get_stats()) if crawler.stats else {}
        if outcomes is not None:
            stats.update(outcome_stats(outcomes, name))
        summary = _summarize(name, stats, counter.by_outlet.pop(name, 0))
        summary.to_daemon = handoff is not None and handoff.to_daemon
        runs.finish(
            run_ids[name],
            status="ok" if summary.ok else "failed",
            feeds=summary.feeds,
            new_items=None if summary.to_daemon else summary.new,
            seen_items=summary.seen + summary.unchanged,
            errors=summary.errors + summary.feed_errors,
        )
        summaries.append(summary)
    summaries.unattributed_errors = sum(counter.by_outlet.values())
    return summaries


def format_summary(summaries: list[OutletSummary]) -> str:
    """One line per outlet, then a total."""
    lines = []
    for s in summaries:
        if s.to_daemon:
            stories = f"stories queued {s.queued} for the running daemon, {s.unchanged} unchanged"
        else:
            stories = (
                f"stories {s.new} new, {s.merged} reposts, {s.revisions} revisions"
                f" ({s.upgraded} upgraded), {s.seen} seen, {s.unchanged} unchanged"
            )
        lines.append(
            f"{s.outlet}: feeds {s.feeds} parsed, {s.feeds_unchanged} unchanged,"
            f" {s.feed_errors} failed; pages {s.articles}; {stories}; errors {s.errors}"
        )
    total_new = sum(s.new for s in summaries)
    # Each total is the sum of the column above; errors that no outlet owns are said as such.
    failed = sum(s.feed_errors for s in summaries)
    other = getattr(summaries, "unattributed_errors", 0)
    total_err = sum(s.errors for s in summaries) + other
    where = f" ({other} outside any outlet)" if other else ""
    if any(s.to_daemon for s in summaries):
        queued = sum(s.queued for s in summaries)
        done = f"{queued} queued for the running daemon"
    else:
        done = f"{total_new} new items"
    lines.append(f"total: {done}, {failed} feeds failed, {total_err} errors{where}")
    return "\n".join(lines)
