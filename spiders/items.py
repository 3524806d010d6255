"""The item that flows from spiders through the pipelines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from store.document import Body
from store.format import StoredItem


@dataclass
class FeedEntry:
    """One story as a spider found it, before normalization.

    Spiders fill the first block; pipelines fill the rest.
    """

    outlet: str  # outlet name from config.yaml (e.g. "rfi", "feedx_rfi")
    title: str
    url: str  # absolute article URL as the source gave it
    body_html: str  # full article HTML, or the feed's summary when full_text is False
    published: datetime | None = None  # timezone-aware; None when the source gives no date
    guid: str | None = None
    feed_url: str = ""  # the feed (or page) this entry came from
    full_text: bool = True  # False when body_html is only a summary
    body: Body | None = None  # body_html parsed, when something measured it (kept if unchanged)

    # Filled by the normalize pipeline.
    canonical_url: str = ""
    ts: int = 0  # epoch milliseconds written into the item file
    first_seen: int = 0  # epoch milliseconds
    stored: StoredItem | None = None  # the item file's fields
    partial: str | None = None  # why the body is only the feed summary (None: it is whole)
    digest: bytes | None = None  # of the entry's content, for the unchanged check
    # False: `stored.body` renders the body as it came; the ingest consumer sanitizes it.
    sanitized: bool = False
    # Filled by the store pipeline.
    story_id: int | None = None
    path: str = ""
