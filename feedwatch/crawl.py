"""Run one Scrapy crawl of some outlets and summarize it (feeds fetched, items new/seen, errors)."""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler
from scrapy.settings import Settings

from conf.schema import Config
from crawler import settings as default_settings
from crawler.pipelines import outcome_stats
from feedwatch import logsetup
from feedwatch.crawlprocess import InterruptibleCrawlerProcess
from feedwatch.crawlprogress import CrawlWatcher, StatsView
from feedwatch.interrupts import Interrupted
from feedwatch.progress import ProgressReport
from ingest.handoff import CLUSTER_WORKER_ENV, IngestHandoff
from scheduler.locks import outlet_lock
from spiders.workers import close_shared_pool
from store.backends import open_storage
from store.storage import RunStorage

logger = logging.getLogger(__name__)
CLUSTER_CONNECT_WAIT_S = 60.0  # a cluster worker's crawl waits this long for PostgreSQL


@dataclass
class OutletSummary:
    """What one outlet's crawl did, from its Scrapy stats."""

    outlet: str
    feeds: int = 0
    feed_errors: int = 0
    feeds_unchanged: int = 0  # 304, or the same body as last time
    feeds_deferred: int = 0  # not requested: Retry-After, max-age/ttl or failure backoff
    articles: int = 0
    pages_failed: int = 0  # article pages that failed (404, timeout, refused...)
    new: int = 0
    partial: int = 0  # of the new stories, stored from their feed summary (page retried later)
    completed: int = 0  # partial stories whose page worked this time: file upgraded in place
    no_body: int = 0  # of the new stories, with neither body nor summary (partial too)
    merged: int = 0
    revisions: int = 0
    upgraded: int = 0
    seen: int = 0
    unchanged: int = 0  # known entries with unchanged content: dropped before dedup, no write
    queued: int = 0  # stories put on the ingest queue
    to_daemon: bool = False  # the running daemon consumes them: outcomes not known here
    queued_for: str = "the running daemon"  # or a cluster's ingest role
    errors: int = 0
    interrupted: bool = False  # stopped by SIGINT/SIGTERM before it finished
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.feed_errors == 0 and not self.interrupted

    @property
    def status(self) -> str:
        """The run's status in the state: ok, failed, deferred or interrupted.

        "deferred": every feed was skipped because it asked us (or our backoff) to wait. It is
        not a success: `status` and the source-health check do not count it either way.
        """
        if self.interrupted:
            return "interrupted"
        if not self.ok:
            return "failed"
        if self.feeds_deferred and not (self.feeds or self.feeds_unchanged):
            return "deferred"
        return "ok"


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
        feeds_unchanged=count("httpstate/not_modified") + count("httpstate/unchanged"),
        feeds_deferred=count("httpstate/deferred"),
        articles=count("articles/fetched"),
        pages_failed=count("articles/failed"),
        new=count("store/written"),
        partial=count("store/partial"),
        completed=count("store/completed"),
        no_body=count("store/no_body"),
        merged=count("dedup/merged"),
        revisions=count("dedup/revision"),
        upgraded=count("store/upgraded"),
        seen=count("store/seen") + count("articles/skipped_seen"),
        unchanged=count("store/unchanged"),
        queued=count("store/queued"),
        errors=errors,
        interrupted=stats.get("finish_reason") == "shutdown",
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

    With `progress`, each outlet's feeds, pages and stories are shown while it runs. Raises
    `Interrupted` after recording the runs as "interrupted" when a signal stopped it.
    """
    if config.postgres_url is not None and os.environ.get(CLUSTER_WORKER_ENV):
        from store.postgres import wait_for_server

        wait_for_server(CLUSTER_CONNECT_WAIT_S)  # a server restarting: this crawl waits for it
    storage = open_storage(config.state_target)
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
    run_ids: dict[str, int] = {}
    try:
        for name in outlets:
            run_ids[name] = runs.start(name)
        if handoff is not None:
            settings = settings.copy()
            settings.setdict(handoff.settings, priority="cmdline")
            settings.set("FEEDWATCH_RUN_IDS", run_ids, priority="cmdline")
        process = InterruptibleCrawlerProcess(settings)  # its signal handlers from here on
    except (KeyboardInterrupt, Interrupted):
        _mark_interrupted(runs, run_ids)
        raise
    crawlers: list[tuple[str, Crawler]] = []
    counter = ErrorCounter()
    logging.getLogger().addHandler(counter)
    watcher = None
    try:
        for name in outlets:
            crawler = process.create_crawler(name)
            crawlers.append((name, crawler))
            process.crawl(crawler)
        if progress is not None:
            watcher = CrawlWatcher(progress, crawlers, feeds or {}, _progress_of)
            watcher.start()
        process.start()
    except (KeyboardInterrupt, Interrupted):
        _mark_interrupted(runs, run_ids)
        raise
    finally:
        process.restore_handlers()
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
        if handoff is not None:
            summary.queued_for = handoff.consumer
        if process.interrupted_by is not None:
            summary.interrupted = True  # even a spider that had closed: the run did not end
        runs.finish(
            run_ids[name],
            status=summary.status,
            feeds=summary.feeds,
            new_items=None if summary.to_daemon else summary.new,
            seen_items=summary.seen + summary.unchanged,
            errors=summary.errors + summary.feed_errors,
        )
        summaries.append(summary)
    summaries.unattributed_errors = sum(counter.by_outlet.values())
    stored = sum(s.new for s in summaries)
    process.raise_if_interrupted(f"{stored} new stories stored before the stop; runs recorded")
    return summaries


def _mark_interrupted(runs: RunStorage, run_ids: dict[str, int]) -> None:
    """A signal before Scrapy's handlers were in place: no run may stay "running"."""
    for run_id in run_ids.values():
        runs.finish(run_id, status="interrupted", feeds=0, new_items=0, seen_items=0, errors=0)


def format_summary(summaries: list[OutletSummary]) -> str:
    """One line per outlet, then a total."""
    lines = []
    for s in summaries:
        # The counts that are usually 0 are shown only when they are not.
        deferred = f", {s.feeds_deferred} deferred" if s.feeds_deferred else ""
        failed_pages = f", {s.pages_failed} failed" if s.pages_failed else ""
        partial = f" ({s.partial} from the feed summary only)" if s.partial else ""
        extra = f"; {s.completed} completed from their page" if s.completed else ""
        extra += f"; {s.no_body} without any body" if s.no_body else ""
        if s.to_daemon:
            stories = f"stories queued {s.queued} for {s.queued_for}, {s.unchanged} unchanged"
        else:
            stories = (
                f"stories {s.new} new{partial}, {s.merged} reposts, {s.revisions} revisions"
                f" ({s.upgraded} upgraded), {s.seen} seen, {s.unchanged} unchanged{extra}"
            )
        lines.append(
            f"{s.outlet}: feeds {s.feeds} parsed, {s.feeds_unchanged} unchanged,"
            f" {s.feed_errors} failed{deferred}; pages {s.articles}{failed_pages}; {stories};"
            f" errors {s.errors}"
        )
    total_new = sum(s.new for s in summaries)
    # Each total is the sum of the column above; errors that no outlet owns are said as such.
    failed = sum(s.feed_errors for s in summaries)
    other = getattr(summaries, "unattributed_errors", 0)
    total_err = sum(s.errors for s in summaries) + other
    where = f" ({other} outside any outlet)" if other else ""
    if any(s.to_daemon for s in summaries):
        queued = sum(s.queued for s in summaries)
        done = f"{queued} queued for {summaries[0].queued_for}"
    else:
        done = f"{total_new} new items"
    total = f"total: {done}, {failed} feeds failed, {total_err} errors{where}"
    total_partial = sum(s.partial for s in summaries)
    total_no_body = sum(s.no_body for s in summaries)
    if total_partial:
        total += f", {total_partial} stored from the feed summary (pages retried next crawls)"
    if total_no_body:
        total += f", {total_no_body} of them without any body"
    lines.append(total)
    return "\n".join(lines)
