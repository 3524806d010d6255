"""Turn a fetched entry (title, URL, HTML, times) into the fields of an item file.

The shapes here are the ones real feedx/duty-machine items show: the body is the source HTML
with every line trimmed and the lines joined with no separator; the title is one trimmed line
whose inner runs of spaces (ASCII, U+3000, U+00A0) are kept, as the real items keep them.
"""

from __future__ import annotations

import re

from store.document import strip_controls
from store.format import StoredItem
from store.sanitize import strip_control_chars
from store.urls import serialize_url

__all__ = ["JS_WHITESPACE", "clean_title", "one_line", "stored_body", "to_stored_item", "trim"]

# The whitespace JavaScript's String.prototype.trim() removes: the items were produced by a JS
# pipeline, so we trim exactly this set (Python's str.strip() also strips \x1c-\x1f and \x85,
# and does not strip U+FEFF).
JS_WHITESPACE = (
    "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Every character str.splitlines() breaks at: a title must stay one line for any reader.
_BREAK_WITH_SPACE = re.compile(
    r"[ \t]*(?:\r\n|[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029])[ \t\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]*"
)


def trim(text: str) -> str:
    """Trim like JavaScript's String.prototype.trim()."""
    return text.strip(JS_WHITESPACE)


def one_line(html: str) -> str:
    """Every line of `html` trimmed and joined with no separator (the stored body shape)."""
    return "".join(trim(line) for line in _LINE_BREAK.split(html))


def clean_title(title: str) -> str:
    """One trimmed line: each line break (with the blanks around it) becomes one space."""
    return trim(_BREAK_WITH_SPACE.sub(" ", trim(title)))


def stored_body(body_html: str) -> str:
    """The body line of an item file: control characters removed, lines trimmed and joined."""
    return one_line(strip_controls(body_html))


def _safe_link_url(url: str) -> str:
    """Serialize the URL and escape what would break the `[title](url)` line on parsing."""
    # parse_item splits the link line at the last "](": a URL must not contain it. Control
    # characters are percent-encoded by the serializer except where it gives up (a host):
    # those are removed, so that printing the file cannot run an escape sequence.
    return strip_controls(serialize_url(url)).replace("](", "]%28")


def to_stored_item(
    title: str, url: str, body_html: str, published_ms: int | None, first_seen_ms: int
) -> StoredItem:
    """Build a StoredItem: ts is the published time unless missing/non-positive/future, then first seen."""
    if published_ms is None or published_ms <= 0 or published_ms > first_seen_ms:
        ts = first_seen_ms
    else:
        ts = published_ms
    if ts < 0:
        raise ValueError(f"first_seen_ms must be epoch milliseconds >= 0, got {first_seen_ms}")
    # Whoever calls this, no control character reaches a stored line (the crawl's normalize
    # pipeline removed them already; then these are no-ops).
    # Removed before trimming, so that normalizing a stored item again changes nothing.
    return StoredItem(
        ts=int(ts),
        title=clean_title(strip_control_chars(title)),
        url=_safe_link_url(url),
        body=stored_body(body_html),
    )
