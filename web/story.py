"""One story with everything known about it: body, the URLs that carried it, dedup's reasons.

Shared by the story page and `feedwatch show`, so both say the same thing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import unquote

from conf.dedup import DedupConfig
from dedup.text import html_to_text
from store.format import ItemFormatError, StoredItem
from store.imports import read_item_file
from web.index import StoryRow
from web.queries import ItemRow, MemberRow, RuleMatch, StateReader
from web.render import safe_body_html

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Merge:
    """A dedup record of the story, with a sentence saying why it joined."""

    member: MemberRow
    explanation: str


@dataclass(frozen=True)
class StoryView:
    """What the story page and `feedwatch show` present."""

    story: StoryRow
    item: StoredItem | None  # the archive file, None when unreadable
    error: str | None  # why the file could not be read
    items: list[ItemRow]  # every URL that carried it, first first
    merges: list[Merge]
    rules: list[RuleMatch]

    @property
    def body_html(self) -> str:
        """The stored body, sanitized again for display."""
        return safe_body_html(self.item.body) if self.item else ""

    @property
    def body_text(self) -> str:
        """The stored body as readable text (one line per block)."""
        if self.item is None:
            return ""
        lines = (line.strip() for line in html_to_text(self.item.body).splitlines())
        return "\n".join(line for line in lines if line)


def load_story(story: StoryRow, state: StateReader, dedup: DedupConfig) -> StoryView:
    """Gather one story's file, items, dedup records and rule matches."""
    item: StoredItem | None = None
    error: str | None = None
    if story.path:
        try:
            item = read_item_file(story.path)
        except (OSError, ItemFormatError) as exc:
            error = f"{story.path}: {exc}"
            logger.warning("story %d: cannot read %s", story.id, error)
    else:
        error = "no archive file recorded for this story"
    merges = [Merge(m, explain(m, dedup)) for m in state.members(story.id)]
    return StoryView(
        story, item, error, state.story_items(story.id), merges, state.rule_matches(story.id)
    )


def explain(member: MemberRow, config: DedupConfig) -> str:
    """Why dedup filed an item under this story, from the scores it recorded."""
    if member.kind == "new":
        return "first seen: no stored story matched, so this item is the story"
    s = member.scores
    what = {
        "repost": "a repost of",
        "revision": "a revision (same URL, edited text) of",
        "duplicate": "the same text as",
    }.get(member.kind, f"{member.kind} of")
    parts = [f"{what} {unquote(member.matched_key) if member.matched_key else 'the story'}"]
    if "containment" in s:
        parts.append(
            f"shingle containment {s['containment']:.2f} (merges at ≥ {config.containment:.2f})"
        )
    if "jaccard" in s:
        parts.append(f"Jaccard {s['jaccard']:.2f}")
    if "hamming" in s:
        parts.append(f"simhash distance {int(s['hamming'])} (index route ≤ {config.simhash_k})")
    if "shared_anchors" in s:
        parts.append(f"{int(s['shared_anchors'])} shared anchors")
    return "; ".join(parts)
