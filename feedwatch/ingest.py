"""Ingest one story: exact dedup, near-duplicate dedup, archive write, state, alerts.

Shared by the Scrapy store pipeline (crawls, fetches) and by `feedwatch import`, so a story is
handled the same way whichever way it arrives. No Scrapy import here.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from alerts.service import AlertService, DeliveryReport, StoryRef
from feedwatch.config import Config
from store.archive import Archive
from store.format import StoredItem
from store.state import ItemState, SeenItem

logger = logging.getLogger(__name__)

OutcomeKind = Literal["new", "seen", "merged", "revision", "duplicate"]


@dataclass
class Story:
    """What the ingest step needs to know about one incoming story."""

    outlet: str
    canonical_url: str
    stored: StoredItem  # the item file as it would be written
    first_seen_ms: int
    guid: str | None = None
    full_text: bool = True
    body_html: str = ""  # the HTML before one-lining (for text extraction); defaults to stored.body


@dataclass
class Outcome:
    """What happened to a story."""

    kind: OutcomeKind
    path: Path | None = None
    story_id: int | None = None
    reasons: list[str] = field(default_factory=list)


class Ingestor:
    """Owns the archive, the items table and the dedup/alert services for one process."""

    def __init__(self, config: Config, conn: sqlite3.Connection) -> None:
        self.config = config
        self.conn = conn
        self.archive = Archive(config.archive_dir)
        self.items = ItemState(conn)
        self.alerts = AlertService(conn, config.alerts) if config.alerts.rules else None

    def ingest(self, story: Story) -> Outcome:
        """Store a new story once; report reposts, revisions and already-seen items."""
        # BEGIN IMMEDIATE serializes check-then-write across processes (daemon + manual fetch).
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            outcome = self._ingest_locked(story)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return outcome

    def _ingest_locked(self, story: Story) -> Outcome:
        seen = self.items.lookup(story.canonical_url, story.guid)
        if seen is not None:
            return Outcome("seen", Path(seen.path) if seen.path else None, seen.story_id)
        try:
            path = self.archive.write_new(story.stored, story.canonical_url)
        except FileExistsError:
            # A crash between the file write and the commit: the complete file is already there.
            path = self.archive.path_for(story.canonical_url, story.stored.ts)
            logger.info("recovered %s written by an interrupted run", path)
        row_id = self.items.record(
            SeenItem(
                canonical_url=story.canonical_url,
                outlet=story.outlet,
                url=story.stored.url,
                title=story.stored.title,
                ts=story.stored.ts,
                first_seen_ms=story.first_seen_ms,
                story_id=None,
                path=str(path),
            ),
            story.guid,
        )
        if self.alerts is not None:
            # Inside the transaction: the alert is queued if and only if the story is stored.
            self.alerts.on_new_story(
                StoryRef(
                    story_id=row_id,
                    title=story.stored.title,
                    url=story.stored.url,
                    body_html=story.body_html or story.stored.body,
                    outlet=story.outlet,
                    ts_ms=story.stored.ts,
                    path=str(path),
                )
            )
        return Outcome("new", path, row_id)

    def deliver_alerts(self) -> DeliveryReport | None:
        """Send queued alerts (outside any transaction: it talks to the network)."""
        return self.alerts.deliver_pending() if self.alerts is not None else None
