"""What `feedwatch demo` prints once the crawl is over: stories per outlet, merges, edits, alerts.

Read from the crawl summaries, the state database and the alert channels' JSONL files; nothing
here changes state.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass

from rich import box
from rich.table import Table

from conf.schema import Config
from dedup.text import to_simplified
from feedwatch.crawl import OutletSummary
from store.sqlite import SQLiteState


@dataclass
class Merge:
    """One repost or edit and the story it joined."""

    kind: str  # repost | revision
    outlet: str
    title: str
    story_outlet: str
    story_title: str
    changed: str = ""  # for an edit: "title", "text" or "title and text"

    @property
    def how(self) -> str:
        """Why this is worth showing: across outlets, across scripts, or an edit."""
        if self.kind == "revision":
            return f"edited after publication: {self.changed or 'same URL'} changed"
        if to_simplified(self.title) != self.title:
            return "Traditional edition"
        if self.outlet != self.story_outlet:
            return "across outlets"
        return "same outlet, another URL"


def alerts_by_outlet(config: Config) -> Counter[str]:
    """Rule matches delivered to the JSONL channels, per outlet."""
    counts: Counter[str] = Counter()
    for channel in config.alerts.channels.values():
        if channel.kind != "jsonl" or channel.path is None or not channel.path.exists():
            continue
        for line in channel.path.read_text(encoding="utf-8").splitlines():
            alert = json.loads(line)
            if alert.get("kind") == "match":
                counts[str(alert.get("outlet", ""))] += 1
    return counts


def outlet_table(
    config: Config, summaries: list[OutletSummary], alerts: Counter[str], stored: int
) -> Table:
    """One row per outlet: feeds, pages, stories stored, reposts merged, edits, copies seen
    (feedx twins of a story already stored), alerts."""
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title=f"{stored} stories stored in {config.archive_dir}, reposts merged into them",
    )
    table.add_column("outlet", no_wrap=True)
    for name in ("feeds", "pages", "stories", "reposts", "edits", "seen", "alerts"):
        table.add_column(name, justify="right", no_wrap=True)
    for s in summaries:
        feeds = f"{s.feeds}" + (f" ({s.feed_errors} failed)" if s.feed_errors else "")
        table.add_row(
            s.outlet,
            feeds,
            str(s.articles),
            str(s.new),
            str(s.merged),
            str(s.revisions),
            str(s.seen),
            str(alerts[s.outlet]),
        )
    table.add_section()
    table.add_row(
        "total",
        str(sum(s.feeds for s in summaries)),
        str(sum(s.articles for s in summaries)),
        str(sum(s.new for s in summaries)),
        str(sum(s.merged for s in summaries)),
        str(sum(s.revisions for s in summaries)),
        str(sum(s.seen for s in summaries)),
        str(sum(alerts.values())),
    )
    return table


def merges(conn: sqlite3.Connection) -> list[Merge]:
    """Every repost and edit recorded, with the story it belongs to (its first stored copy)."""
    rows = SQLiteState.on(conn).dedup.merges()
    found = [
        Merge(kind, outlet, title, story_outlet, story_title, _changed(bool(t), bool(x)))
        for kind, outlet, title, story_outlet, story_title, t, x in rows
    ]
    # The most telling first: across scripts and outlets, then same-outlet reposts.
    rank = {"Traditional edition": 0, "across outlets": 1}
    return sorted(found, key=lambda m: (m.kind, rank.get(m.how, 2)))


def _changed(title: bool, text: bool) -> str:
    return " and ".join(what for what, yes in (("title", title), ("text", text)) if yes)
