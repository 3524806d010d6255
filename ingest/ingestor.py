"""Ingest one story: exact dedup, near-duplicate dedup, archive write, state, alerts.

Shared by the Scrapy store pipeline (crawls, fetches) and by `feedwatch import`, so a story is
handled the same way whichever way it arrives. No Scrapy import here.

Everything for one story happens in one `BEGIN IMMEDIATE` transaction: the check "is this story
known?" and the writes that follow cannot interleave with another process (the daemon and a
manual fetch), and the dedup record, the items row and the queued alerts commit together.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from alerts.service import AlertService, DeliveryReport, StoryRef
from conf.schema import Config
from dedup.engine import Decision, DedupEngine, Document
from ingest.settle import sanitized_story
from ingest.story import Story
from store.archive import Archive
from store.document import Body
from store.format import StoredItem, parse_item
from store.partial import PartialStories
from store.sqlite import SQLiteState
from store.sqlstore import SQLStore
from store.state import SeenItem
from store.storage import ItemStorage

logger = logging.getLogger(__name__)

OutcomeKind = Literal["new", "seen", "merged", "revision"]


@dataclass
class Outcome:
    """What happened to a story."""

    kind: OutcomeKind
    path: Path | None = None
    story_id: int | None = None
    upgraded: bool = False  # the story's file got this richer body
    reasons: list[str] = field(default_factory=list)
    partial: bool = False  # stored (or kept) with its feed summary only; its page is retried
    completed: bool = False  # a partial story whose page worked at last


_OUTCOME_OF_DECISION: dict[str, OutcomeKind] = {
    "new": "new",
    "repost": "merged",
    "revision": "revision",
    "duplicate": "seen",
}


class Ingestor:
    """Owns the archive, the items table and the dedup/alert services for one process."""

    def __init__(
        self, config: Config, state: SQLStore | sqlite3.Connection, *, alerts: bool = True
    ) -> None:
        self.config = config
        # Any store (SQLite or PostgreSQL); a bare SQLite connection for the older callers.
        self.state = SQLiteState.on(state) if isinstance(state, sqlite3.Connection) else state
        self.items: ItemStorage = self.state.items
        # Partial stories (stored from their feed summary) are not behind the interface yet.
        self.partials = PartialStories(self.state.connection)
        wanted = config.alerts.rules or config.alerts.health.notify
        self.alerts = AlertService(self.state, config.alerts) if alerts and wanted else None

    # The archive and the index are made on first use: a one-off consumer whose crawl queued no
    # story (every feed 304) then loads neither (at 10^6 stories: ~6 s and ~800 MB for the
    # index, ~1 s for the archive sweep; docs/BENCHMARKS.md section 7). The daemon warms them.
    @cached_property
    def archive(self) -> Archive:
        """The archive (made on first use: it sweeps stale temp files, a walk of every folder)."""
        return Archive(self.config.archive_dir)

    @cached_property
    def dedup(self) -> DedupEngine | None:
        """The dedup engine, its index loaded from the state on first use (None: dedup off)."""
        return DedupEngine(self.state, self.config.dedup) if self.config.dedup.enabled else None

    def warm(self) -> None:
        """Load the index and sweep the archive now, outside any transaction (a no-op after)."""
        _ = self.archive, self.dedup

    def ingest(self, story: Story) -> Outcome:
        """Store a new story once; record reposts and revisions against their story."""
        story = sanitized_story(story)  # nothing unsanitized is stored, whoever calls
        self.warm()  # before the transaction: the dedup tables' set-up commits
        with self.state.transaction():
            outcome = self._ingest_locked(story)
            if story.digest is not None:
                # The next poll of this same content stops at the unchanged check.
                self.items.set_digest(story.canonical_url, story.digest)
            return outcome

    def _ingest_locked(self, story: Story) -> Outcome:
        seen = self.items.lookup(
            story.canonical_url, story.guid, outlet=story.outlet, guid_scope=story.feed_url
        )
        if seen is not None and seen.canonical_url == story.canonical_url:
            partial = self.partials.get(story.canonical_url)
            if partial is not None:
                return self._retried_partial(story, seen, partial.tries)
        if self.dedup is None:
            if seen is not None:
                return Outcome("seen", _path(seen.path), seen.story_id)
            return self._store_new(story, story_id=None)

        doc = _document(story, seen)
        decision = self.dedup.classify(doc)
        if seen is not None and decision.kind == "new":
            # Known URL that dedup has no record of (e.g. dedup was switched on later).
            return Outcome("seen", _path(seen.path), seen.story_id, reasons=["known URL"])
        story_id = self.dedup.commit(doc, decision)
        if decision.kind == "new":
            return self._store_new(story, story_id)
        return self._record_repost(story, decision, story_id, known=seen is not None)

    def _store_new(self, story: Story, story_id: int | None) -> Outcome:
        try:
            path = self.archive.write_new(story.stored, story.canonical_url)
        except FileExistsError:
            # A crash between the file write and the commit: the complete file is already there.
            path = self.archive.path_for(story.canonical_url, story.stored.ts)
            logger.info("recovered %s written by an interrupted run", path)
        row_id = self._record_item(story, story_id, path)
        story_id = story_id if story_id is not None else row_id
        if story.partial_reason is not None:
            self.partials.mark(
                story.canonical_url, story.outlet, story.stored.url, story.partial_reason
            )
        if self.alerts is not None and story.alerts and self.config.alerts.rules:
            # Inside the transaction: the alert is queued if and only if the story is stored.
            self.alerts.on_new_story(
                StoryRef(
                    story_id=story_id,
                    title=story.stored.title,
                    url=story.stored.url,
                    body_html=story.html,
                    body_text=story.document().text,
                    outlet=story.outlet,
                    ts_ms=story.stored.ts,
                    path=str(path),
                )
            )
        return Outcome(
            "new",
            path,
            story_id,
            partial=story.partial_reason is not None,
            reasons=["no stored story matches"],
        )

    def _retried_partial(self, story: Story, seen: SeenItem, tries: int) -> Outcome:
        """A stored partial story came again: complete its file, or count one more try."""
        path = _path(seen.path)
        if story.partial_reason is not None:
            tries = self.partials.mark(
                story.canonical_url, story.outlet, story.stored.url, story.partial_reason
            )
            reason = f"page failed again ({story.partial_reason}; {tries} tries)"
            return Outcome("seen", path, seen.story_id, partial=True, reasons=[reason])
        # The page worked: its body replaces the summary in place (time, title, URL stay).
        upgraded = (
            path is not None
            and self.archive.exists(path)
            and self._upgrade(path, story.stored.body, story.document())
        )
        if upgraded and self.dedup is not None:
            # Index the page's text too (a revision of the story): reposts of the full
            # article must find it, not only its summary.
            doc = _document(story, seen)
            self.dedup.commit(doc, self.dedup.classify(doc))
        self.partials.clear(story.canonical_url)
        reason = f"page fetched after {tries} failed tries: body completed"
        return Outcome("seen", path, seen.story_id, upgraded, completed=True, reasons=[reason])

    def _record_repost(
        self, story: Story, decision: Decision, story_id: int, *, known: bool
    ) -> Outcome:
        path = self._story_path(story_id)
        if not known:
            self._record_item(story, story_id, path)
        upgraded = False
        if decision.richer_body and path is not None and self.archive.exists(path):
            upgraded = self._upgrade(path, story.stored.body, story.document())
        if self.alerts is not None and story.alerts and decision.kind == "repost":
            self.alerts.on_repost(story_id, story.outlet, story.stored.url)
        kind = _OUTCOME_OF_DECISION[decision.kind]
        return Outcome(kind, path, story_id, upgraded, decision.reasons)

    def _record_item(self, story: Story, story_id: int | None, path: Path | None) -> int:
        return self.items.record(
            SeenItem(
                canonical_url=story.canonical_url,
                outlet=story.outlet,
                url=story.stored.url,
                title=story.stored.title,
                ts=story.stored.ts,
                first_seen_ms=story.first_seen_ms,
                story_id=story_id,
                path=str(path) if path else None,
            ),
            story.guid,
            story.feed_url,
        )

    def _story_path(self, story_id: int) -> Path | None:
        return _path(self.items.story_path(story_id))

    def _upgrade(self, path: Path, body: str, document: Body) -> bool:
        """Give the story's file a richer body in place; its time, title and URL stay.

        Richer by the measure dedup used to call it richer (`Body.text_length`), so an upgrade
        dedup recorded is not refused here by another count.
        """
        current = parse_item(self.archive.read_bytes(path))  # a file of this batch too
        if document.text_length <= Body(current.body).text_length:
            return False
        self.archive.replace(path, StoredItem(current.ts, current.title, current.url, body))
        logger.info("upgraded %s with a richer body", path)
        return True

    def deliver_alerts(self) -> DeliveryReport | None:
        """Send queued alerts (outside any transaction: it talks to the network)."""
        return self.alerts.deliver_pending() if self.alerts is not None else None


def _document(story: Story, seen: SeenItem | None) -> Document:
    """The dedup engine's view of a story.

    Its key is its URL, which the items table holds for its canonical URL when no row is
    there yet (this step records it) or the row there has the same URL: then dedup does not
    store it a second time.
    """
    in_items = seen is None or (
        seen.canonical_url == story.canonical_url and seen.url == story.stored.url
    )
    return Document(
        key=story.stored.url,
        canonical_url=story.canonical_url,
        title=story.stored.title,
        body_html=story.html,
        outlet=story.outlet,
        seen_ms=story.first_seen_ms,
        full_text=story.full_text,
        body=story.document(),
        key_in_items=in_items,
    )


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None
