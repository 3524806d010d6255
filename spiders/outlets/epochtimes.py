"""大纪元 Epoch Times (epochtimes.com/gb): WordPress RSS feeds that carry the full article.

Outlet spec (`SPEC`): feeds `https://www.epochtimes.com/gb/nsc413.xml` (and nsc412/415/418/422/423/424/
993, nf4514), full text; articles on www.epochtimes.com. The mirror of the same articles is the
`gfwbreaker` outlet.

The feeds put the article HTML in a non-standard, un-namespaced `<content><![CDATA[…]]>` element
and a plain-text teaser in `<description>` (real feed: nsc413 of 2019-04-04, item
http://www.epochtimes.com/gb/19/4/3/n11161232.htm). feedparser 6 exposes that element as
`entry.content` (verbatim, minus surrounding blanks), so the body comes from it; should a
feedparser version stop doing so, `with_raw_contents` reads the element with lxml instead.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from spiders import feeds
from spiders.spec import DefaultFeed, OutletSpec
from store.urls import IdentityRule, OutletUrls


def raw_contents(body: bytes) -> dict[str, str]:
    """Map each item's <link> to the text of its un-namespaced <content> element, read with lxml."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError):
        return {}
    if root is None:
        return {}
    result: dict[str, str] = {}
    for item in root.iter("item"):
        link = (item.findtext("link") or "").strip()
        content = item.find("content")
        if link and content is not None and content.text:
            result[link] = content.text
    return result


def with_raw_contents(body: bytes, entries: list[Any]) -> list[Any]:
    """The entries, with `<content>` read by lxml for any entry feedparser gave none."""
    missing = [entry for entry in entries if not entry.get("content")]
    if missing:
        # Only the entries feedparser was given (a huge feed was cut to the first ones).
        contents = raw_contents(feeds.cap_entries(body, len(entries))[0])
        for entry in missing:
            value = contents.get((entry.get("link") or "").strip())
            if value:
                entry["content"] = [{"type": "text/html", "value": value.strip()}]
    return entries


_CHANNELS = (
    "nsc413",
    "nsc412",
    "nsc415",
    "nsc418",
    "nsc422",
    "nsc423",
    "nsc424",
    "nsc993",
    "nf4514",
)

SPEC = OutletSpec(
    kind="epochtimes",
    title="大纪元",
    domains=("epochtimes.com",),
    feeds=tuple(
        DefaultFeed(f"https://www.epochtimes.com/gb/{channel}.xml", full_text=True)
        for channel in _CHANNELS
    ),
    # Its intermediary, the gfw-breaker markdown mirror, is an outlet of its own (gfwbreaker).
    urls=OutletUrls(
        # https://www.epochtimes.com/gb/23/9/23/n14079761.htm (also b5/ and .html)
        identity=IdentityRule(
            "epochtimes.com", r"^/(?:[^?#]*/)?n(\d+)\.html?$", "https://epochtimes.com/n{0}"
        ),
        aliases=(("epochtimes.com.tw", "epochtimes.com"),),
    ),
    fix_entries=with_raw_contents,
    identity_examples=(
        ("https://www.epochtimes.com/gb/23/9/23/n14079761.htm", "https://epochtimes.com/n14079761"),
        ("http://www.epochtimes.com/b5/19/4/3/n11161232.html", "https://epochtimes.com/n11161232"),
    ),
)
