"""A Story: what the ingest step needs to know about one incoming story.

Its own module, so that producers (the crawl's store pipeline, the queue payload) can build one
without importing the ingest step itself (dedup, numpy, alerts): the crawl process stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

from store.document import Body
from store.format import StoredItem


@dataclass
class Story:
    """What the ingest step needs to know about one incoming story."""

    outlet: str
    canonical_url: str
    stored: StoredItem  # the item file as it would be written
    first_seen_ms: int
    guid: str | None = None
    feed_url: str | None = None  # the feed that gave the GUID: its scope
    full_text: bool = True
    body_html: str = ""  # the HTML before one-lining (for text extraction); defaults to stored.body
    # Why the body is only the feed summary (the article page failed or gave nothing); None
    # when the body is what it should be. A partial story is stored and its page retried.
    partial_reason: str | None = None
    body: Body | None = None  # body_html parsed (by the crawl pipeline), when already done
    digest: bytes | None = None  # content digest (store/unchanged.py), recorded once ingested
    alerts: bool = True  # False for imports of old stories: recorded, never alerted
    # False: the body is as the feed or page gave it, and stored.body is that body rendered;
    # the consumer sanitizes it (`ingest.settle.sanitized_story`) before anything reads it.
    sanitized: bool = True

    @property
    def html(self) -> str:
        return self.body_html or self.stored.body

    def document(self) -> Body:
        """The story's one body document: dedup, alerts and the upgrade check all read it."""
        if self.body is None or self.body.html != self.html:
            self.body = Body(self.html)
        return self.body
