"""Merged feeds out: Atom (RFC 4287) and JSON Feed 1.1, one entry per story, never per repost.

An entry's id is derived from the canonical URL of the story's first item (a UUID-5 URN), so it
stays the same however often the feed is rebuilt, and a repost arriving later changes the entry
(its `updated` time and its list of links) instead of adding one. Reposts appear as
`<link rel="related">` in Atom, as links in the content, and in JSON Feed under the
`_feedwatch` extension object (JSON Feed's rule for custom keys: a leading underscore).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from lxml import etree

from store.format import ItemFormatError
from store.imports import read_item_file
from web.index import StoryRow
from web.queries import StateReader
from web.render import safe_body_html, safe_url

logger = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "feedwatch"
DEFAULT_ENTRIES = 50


def story_uri(canonical_url: str) -> str:
    """The stable id of a story in every feed: a name-based UUID of its canonical URL."""
    return uuid.uuid5(uuid.NAMESPACE_URL, canonical_url).urn


def rfc3339(ms: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC timestamp (Atom dates, JSON Feed dates)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Repost:
    """Another URL that carried the story."""

    outlet: str
    url: str
    first_seen_ms: int


@dataclass(frozen=True)
class Entry:
    """One story as a feed entry."""

    story: StoryRow
    content_html: str
    reposts: list[Repost]
    rules: list[str]

    @property
    def id(self) -> str:
        return story_uri(self.story.canonical_url)


@dataclass(frozen=True)
class FeedMeta:
    """What describes the feed itself."""

    key: str  # "all", "outlet:rfi", "rule:korea": the feed's identity
    title: str
    self_url: str  # where this document is served (absolute)
    home_url: str  # the stories page it mirrors (absolute)
    entries: list[Entry] = field(default_factory=list)

    @property
    def id(self) -> str:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"feedwatch:feed:{self.key}").urn

    @property
    def updated_ms(self) -> int:
        """The newest change to any entry (0 for an empty feed)."""
        return max((e.story.updated_ms for e in self.entries), default=0)


def build_entries(
    stories: list[StoryRow], state: StateReader, rules: dict[int, list[str]]
) -> list[Entry]:
    """Entries for stories: their bodies (sanitized again) and every other URL that carried them."""
    entries = []
    for story in stories:
        reposts = [
            Repost(item.outlet, url, item.first_seen_ms)
            for item in state.story_items(story.id)
            if item.url != story.url and (url := safe_url(item.url))
        ]
        entries.append(Entry(story, _content(story), reposts, rules.get(story.id, [])))
    return entries


def _content(story: StoryRow) -> str:
    if not story.path:
        return ""
    try:
        return safe_body_html(read_item_file(story.path).body)
    except (OSError, ItemFormatError) as exc:
        logger.warning("feed: cannot read %s (%s); entry without content", story.path, exc)
        return ""


def _reposts_html(reposts: list[Repost]) -> str:
    if not reposts:
        return ""
    links = "".join(
        f'<li>{escape(r.outlet)}: <a href="{escape(r.url)}">{escape(r.url)}</a></li>'
        for r in reposts
    )
    return f"<hr><p>Also carried by:</p><ul>{links}</ul>"


def atom_feed(meta: FeedMeta) -> bytes:
    """The feed as an Atom 1.0 document (RFC 4287)."""
    nsmap = {None: ATOM_NS}

    def sub(
        parent: etree._Element, tag: str, text: str | None = None, **attrs: str
    ) -> etree._Element:
        el = etree.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    feed = etree.Element(f"{{{ATOM_NS}}}feed", nsmap=nsmap)
    sub(feed, "id", meta.id)
    sub(feed, "title", meta.title)
    sub(feed, "updated", rfc3339(meta.updated_ms))
    sub(feed, "link", rel="self", type="application/atom+xml", href=meta.self_url)
    sub(feed, "link", rel="alternate", type="text/html", href=meta.home_url)
    sub(sub(feed, "author"), "name", GENERATOR)
    sub(feed, "generator", GENERATOR)
    for entry in meta.entries:
        story = entry.story
        el = sub(feed, "entry")
        sub(el, "id", entry.id)
        sub(el, "title", story.title)
        sub(el, "published", rfc3339(story.ts))
        sub(el, "updated", rfc3339(story.updated_ms))
        sub(sub(el, "author"), "name", story.outlet)
        if link := safe_url(story.url):
            sub(el, "link", rel="alternate", type="text/html", href=link)
        for repost in entry.reposts:
            sub(el, "link", rel="related", type="text/html", href=repost.url, title=repost.outlet)
        for outlet in story.outlets:
            sub(el, "category", term=f"outlet:{outlet}")
        for rule in entry.rules:
            sub(el, "category", term=f"rule:{rule}")
        if story.summary:
            sub(el, "summary", story.summary)
        sub(el, "content", entry.content_html + _reposts_html(entry.reposts), type="html")
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True))


def json_feed(meta: FeedMeta) -> bytes:
    """The feed as a JSON Feed 1.1 document."""
    items = []
    for entry in meta.entries:
        story = entry.story
        item: dict[str, object] = {
            "id": entry.id,
            "title": story.title,
            "content_html": entry.content_html + _reposts_html(entry.reposts),
            "date_published": rfc3339(story.ts),
            "date_modified": rfc3339(story.updated_ms),
            "authors": [{"name": story.outlet}],
            "tags": [f"outlet:{o}" for o in story.outlets] + [f"rule:{r}" for r in entry.rules],
            "_feedwatch": {
                "story_id": story.id,
                "outlets": story.outlets,
                "reposts": [
                    {"outlet": r.outlet, "url": r.url, "first_seen": rfc3339(r.first_seen_ms)}
                    for r in entry.reposts
                ],
            },
        }
        if link := safe_url(story.url):
            item["url"] = link
        if story.summary:
            item["summary"] = story.summary
        items.append(item)
    doc = {
        "version": JSON_FEED_VERSION,
        "title": meta.title,
        "home_page_url": meta.home_url,
        "feed_url": meta.self_url,
        "authors": [{"name": GENERATOR}],
        "items": items,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


def etag_of(body: bytes) -> str:
    """A strong validator of a feed document: the SHA-256 of its bytes (first 32 hex digits)."""
    return hashlib.sha256(body).hexdigest()[:32]
