"""Run one Scrapy crawl of some outlets and summarize it (feeds fetched, items new/seen, errors)."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from feedwatch import settings as default_settings
from feedwatch.config import Config
from feedwatch.workers import close_shared_pool
from scheduler.locks import outlet_lock
from store.state import RunLog, open_state

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
    if replay is not None:
        settings.set("FEEDWATCH_REPLAY", str(replay), priority="cmdline")
    if record is not None:
        settings.set("FEEDWATCH_RECORD", str(record), priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


def _summarize(outlet: str, stats: dict[str, Any]) -> OutletSummary:
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
        errors=count("log_count/ERROR"),
        stats=stats,
    )


def run_crawl(
    config: Config, config_path: Path, outlets: list[str], settings: Settings
) -> list[OutletSummary]:
    """Crawl the named outlets in one Scrapy process and record a run per outlet."""
    conn = open_state(config.state_db)
    runs = RunLog(conn)
    with ExitStack() as locks:
        # A scheduled crawl of an outlet is skipped while a manual one holds its lock, and a
        # manual one waits for a scheduled one. Sorted, so two processes never deadlock.
        for name in sorted(outlets):
            locks.enter_context(outlet_lock(config.state_db.parent, name, wait=True))
        summaries = _crawl_locked(conn, runs, outlets, settings)
    conn.close()
    return summaries


def _crawl_locked(
    conn: sqlite3.Connection, runs: RunLog, outlets: list[str], settings: Settings
) -> list[OutletSummary]:
    process = CrawlerProcess(settings)
    crawlers = []
    run_ids = {}
    for name in outlets:
        run_ids[name] = runs.start(name)
        crawler = process.create_crawler(name)
        crawlers.append((name, crawler))
        process.crawl(crawler)
    try:
        process.start()
    finally:
        close_shared_pool()
    summaries = []
    for name, crawler in crawlers:
        summary = _summarize(name, crawler.stats.get_stats() if crawler.stats else {})
        runs.finish(
            run_ids[name],
            status="ok" if summary.ok else "failed",
            feeds=summary.feeds,
            new_items=summary.new,
            seen_items=summary.seen + summary.unchanged,
            errors=summary.errors + summary.feed_errors,
        )
        summaries.append(summary)
    return summaries


def format_summary(summaries: list[OutletSummary]) -> str:
    """One line per outlet, then a total."""
    lines = []
    for s in summaries:
        lines.append(
            f"{s.outlet}: feeds {s.feeds} parsed, {s.feeds_unchanged} unchanged,"
            f" {s.feed_errors} failed; pages {s.articles};"
            f" stories {s.new} new, {s.merged} reposts, {s.revisions} revisions"
            f" ({s.upgraded} upgraded), {s.seen} seen, {s.unchanged} unchanged;"
            f" errors {s.errors}"
        )
    total_new = sum(s.new for s in summaries)
    total_err = sum(s.errors + s.feed_errors for s in summaries)
    lines.append(f"total: {total_new} new items, {total_err} errors")
    return "\n".join(lines)
