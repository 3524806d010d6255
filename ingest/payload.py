"""A Story as queue payload text (JSON), and back.

JSON, not pickle: the state database is data, and reading a row must never run code. The body
document travels as its HTML with its visible text and length already computed (the crawl
side settled it), so the consumer does not parse it again to compare or alert.
"""

from __future__ import annotations

import json
from typing import Any

from ingest.story import Story
from store.document import Body
from store.format import StoredItem


def story_to_payload(story: Story) -> str:
    """The story as one JSON text."""
    body = story.body
    state = body.__getstate__() if body is not None and body.html == story.html else None
    return json.dumps(
        {
            "outlet": story.outlet,
            "canonical_url": story.canonical_url,
            "stored": [story.stored.ts, story.stored.title, story.stored.url, story.stored.body],
            "first_seen_ms": story.first_seen_ms,
            "guid": story.guid,
            "feed_url": story.feed_url,
            "full_text": story.full_text,
            # Empty when it is the stored body (feedx full text): not sent twice.
            "body_html": story.body_html if story.body_html != story.stored.body else "",
            "body": state if state is None else {"text": state["text"], "length": state["length"]},
            "digest": story.digest.hex() if story.digest is not None else None,
            "alerts": story.alerts,
            "partial_reason": story.partial_reason,
            # Only when False (a crawl's story, sanitized by the consumer): rows queued before
            # the field existed, and every other producer's, are sanitized.
            **({} if story.sanitized else {"sanitized": False}),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def story_from_payload(text: str) -> Story:
    """The story a payload holds; ValueError (with the reason) if it is not one."""
    try:
        raw: dict[str, Any] = json.loads(text)
        ts, title, url, stored_body = raw["stored"]
        story = Story(
            outlet=str(raw["outlet"]),
            canonical_url=str(raw["canonical_url"]),
            stored=StoredItem(int(ts), str(title), str(url), str(stored_body)),
            first_seen_ms=int(raw["first_seen_ms"]),
            guid=raw.get("guid"),
            feed_url=raw.get("feed_url"),
            full_text=bool(raw.get("full_text", True)),
            body_html=str(raw.get("body_html") or ""),
            digest=bytes.fromhex(raw["digest"]) if raw.get("digest") else None,
            alerts=bool(raw.get("alerts", True)),
            partial_reason=raw.get("partial_reason"),
            sanitized=bool(raw.get("sanitized", True)),
        )
        computed = raw.get("body")
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a queued story: {exc}") from exc
    if computed:
        body = Body.__new__(Body)
        body.__setstate__({"html": story.html, **computed})
        story.body = body
    return story
