"""Entries for the article pages of partial stories, so that a crawl retries them.

A partial story (stored from its feed summary, see `store.partial`) is retried by its outlet's
next crawls whether or not its feed still lists it or has changed: the spider asks for these
pages beside its feeds. Each entry carries the stored summary, so a page that fails again
leaves the file as it is and counts one more try.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from spiders.items import FeedEntry
from store.backends import open_connection
from store.format import ItemFormatError
from store.imports import read_item_file
from store.partial import PartialStories

logger = logging.getLogger(__name__)


def partial_retry_entries(state_db: str | Path, outlet: str) -> list[FeedEntry]:
    """One summary entry per partial story of `outlet` still worth another try."""
    conn = open_connection(state_db)
    try:
        due = PartialStories(conn).due(outlet)
    finally:
        conn.close()
    entries = []
    for partial in due:
        if not partial.path:
            continue
        try:
            item = read_item_file(Path(partial.path))
        except (OSError, ItemFormatError) as exc:
            logger.warning("cannot retry the page of %s: %s", partial.page_url, exc)
            continue
        entries.append(
            FeedEntry(
                outlet=outlet,
                title=item.title,
                url=partial.page_url,
                body_html=item.body,
                published=datetime.fromtimestamp(item.ts / 1000, UTC),
                feed_url=partial.page_url,
                full_text=False,
                partial=partial.last_error or "page not fetched yet",
            )
        )
    return entries
