"""Feed parsing glue: feedparser on the downloaded bytes, and the fields a FeedEntry needs.

Scrapy does all HTTP; feedparser only parses `response.body`. We turn off feedparser's HTML
sanitizer and relative-URI rewriting (`sanitize_html=False, resolve_relative_uris=False`): both
re-serialize the entry HTML, and the item format requires the body exactly as the feed carries it
(rendering a feedx entry must give the bytes of the real stored item). With both off, feedparser
returns CDATA content verbatim except for surrounding whitespace, which the stored body's
line-trimming removes anyway (checked on every entry of the feedx and Epoch Times fixtures).
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from store.document import Body

logger = logging.getLogger(__name__)

# A body whose visible text is shorter than this is treated as a summary when a feed's
# full_text is "auto". Real summaries are far below it (DW RDF descriptions: 0-132 characters,
# Epoch Times <description>: ~100-150) and real full articles far above it (the shortest
# duty-machine RFI/DW/VOA items carry 1,000+ characters of text).
SUMMARY_MAX_CHARS = 400

# Headers that tell feedparser how to decode; never Content-Encoding (Scrapy already
# decompressed the body, and feedparser would try to gunzip it again).
_PASSED_HEADERS = ("content-type", "content-location", "content-language")


def response_headers(headers: Mapping[Any, Any]) -> dict[str, str]:
    """The decoding-relevant response headers as a lowercase str->str dict for feedparser."""
    result: dict[str, str] = {}
    for name in _PASSED_HEADERS:
        value = headers.get(name) or headers.get(name.title())
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if value:
            result[name] = str(value)
    return result


# A numeric character reference: feedparser's loose parser raises on one that names no
# character (a surrogate, or past U+10FFFF).
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def _valid_char_ref(match: re.Match[bytes]) -> bytes:
    hex_digits, decimal = match.groups()
    digits = (hex_digits or decimal).lstrip(b"0")
    too_long = len(digits) > (6 if hex_digits else 7)  # past U+10FFFF whatever the digits
    code = 0 if too_long or not digits else int(digits, 16 if hex_digits else 10)
    if too_long or code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return b"&#xFFFD;"
    return match.group(0)


def parse_feed(
    body: bytes, headers: Mapping[str, str], max_entries: int = 0
) -> feedparser.FeedParserDict:
    """Parse feed bytes with feedparser (never over HTTP), keeping entry HTML verbatim.

    With `max_entries`, only the first ones are parsed (`cap_entries`); `entries_in_feed` then
    says how many the document holds. Never raises: what feedparser cannot survive comes back
    as a bozo result with no entries.
    """
    total = None
    if max_entries > 0:
        body, total = cap_entries(body, max_entries)
    if b"&#" in body:
        body = _CHAR_REF.sub(_valid_char_ref, body)
    try:
        parsed = feedparser.parse(
            body,
            response_headers=dict(headers),
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # hostile input can still break feedparser's loose parser
        parsed = feedparser.FeedParserDict(bozo=1, bozo_exception=exc, entries=[], feed={})
    if total is not None:
        parsed["entries_in_feed"] = total
    return parsed


_XML_DECLARED = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)")
_HEADER_CHARSET = re.compile(r"charset=[\"']?([A-Za-z0-9._-]+)", re.IGNORECASE)


def charset_conflict(body: bytes, headers: Mapping[str, str]) -> str | None:
    """One line when the HTTP charset and the XML declaration disagree (a common server bug)."""
    header = _HEADER_CHARSET.search(headers.get("content-type", ""))
    declared = _XML_DECLARED.match(body[:200].lstrip(b"\xef\xbb\xbf"))
    if not header or not declared:
        return None
    http_charset, xml_charset = header.group(1).lower(), declared.group(1).decode("ascii").lower()
    if http_charset.replace("-", "") == xml_charset.replace("-", ""):
        return None
    return f"header says charset {http_charset}, the XML declares {xml_charset}"


def parse_feed_portable(
    body: bytes, headers: Mapping[str, str], max_entries: int = 0
) -> feedparser.FeedParserDict:
    """`parse_feed` whose result can come back from a worker process.

    A bozo exception may hold the parser's closed input and not pickle: it is replaced by its
    one-line reason (`bozo_reason` returns it as is).
    """
    parsed = parse_feed(body, headers, max_entries)
    if parsed.get("bozo_exception") is not None:
        parsed["bozo_exception"] = bozo_reason(parsed)
    return parsed


def bozo_reason(parsed: feedparser.FeedParserDict) -> str | None:
    """One line describing why feedparser flagged the feed, or None when it is well formed."""
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    if isinstance(exc, str):
        return exc  # already reduced by parse_feed_portable
    text = " ".join(str(exc).split()) if exc is not None else "unknown problem"
    return f"{type(exc).__name__}: {text}" if exc is not None else text


_ENTRY_START = re.compile(rb"<(?:item|entry|rss:item)[\s>/]")
_ENTRY_END = re.compile(rb"</(?:item|entry|rss:item)\s*>")
# What can hide a "<" in the feed's head: never read as a tag when finding the open elements.
_NOT_TAGS = re.compile(rb"<!\[CDATA\[.*?\]\]>|<!--.*?-->|<\?.*?\?>|<![^>]*>", re.S)
_HEAD_TAG = re.compile(rb"<(/?)([A-Za-z_][\w:.-]*)[^>]*?(/?)>")


def cap_entries(body: bytes, keep: int) -> tuple[bytes, int]:
    """(the feed cut after its first `keep` entries, its elements closed; how many it holds).

    feedparser builds every entry of a document, so a 100,000-entry feed cost seconds and
    hundreds of MB before the per-feed cap dropped all but a few. The document is returned
    as is when it has at most `keep` entries or its markup is not found in these bytes (a
    UTF-16 feed). Entries are found by their end tags, as `complete_entries` counts them.
    """
    total = len(_ENTRY_END.findall(body))
    first = _ENTRY_START.search(body)
    if total <= keep or first is None:
        return body, total
    ends = _ENTRY_END.finditer(body, first.start())
    cut = 0
    for _ in range(keep):
        cut = next(ends).end()
    # The elements open where the first entry starts (rss+channel, feed, rdf:RDF) close it.
    stack: list[bytes] = []
    for closing, name, empty in _HEAD_TAG.findall(_NOT_TAGS.sub(b"", body[: first.start()])):
        if empty:
            continue
        if not closing:
            stack.append(name)
        elif name in stack:
            del stack[len(stack) - 1 - stack[::-1].index(name) :]
    return body[:cut] + b"".join(b"</" + name + b">" for name in reversed(stack)), total


def complete_entries(body: bytes, parsed_count: int) -> int:
    """How many parsed entries were closed in the bytes (a cut feed's last entry is partial)."""
    closed = body.count(b"</item>") + body.count(b"</entry>") + body.count(b"</rss:item>")
    return min(closed, parsed_count)


def entry_published(entry: Mapping[str, Any]) -> datetime | None:
    """The entry's published (else updated) time as an aware UTC datetime, or None."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                # feedparser normalizes every date to a UTC struct_time.
                return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def entry_link(entry: Mapping[str, Any], base_url: str) -> str | None:
    """The entry's absolute article URL: its link, else a permalink GUID; None if it has none."""
    candidates = [entry.get("link")]
    candidates += [link.get("href") for link in entry.get("links") or [] if link.get("href")]
    candidates.append(entry.get("id"))  # RSS <guid> (isPermaLink) / Atom <id> may be the URL
    for candidate in candidates:
        if not candidate or not isinstance(candidate, str):
            continue
        url = urljoin(base_url, candidate.strip())
        if is_http_url(url):
            return url
    return None


def entry_body(entry: Mapping[str, Any]) -> str:
    """The entry's richest HTML: the longest content value, else its summary/description."""
    contents = [c.get("value") or "" for c in entry.get("content") or []]
    best = max(contents, key=len, default="")
    summary = entry.get("summary") or ""
    # Epoch Times: <content> holds the article, <description> a plain-text teaser.
    return best if len(best) >= len(summary) else summary


def looks_like_summary(body: str | Body) -> bool:
    """True when the body has less than SUMMARY_MAX_CHARS characters of text (`Body.text_length`)."""
    doc = body if isinstance(body, Body) else Body(body)
    return doc.text_length < SUMMARY_MAX_CHARS


def host_allowed(url: str, domains: list[str] | tuple[str, ...]) -> bool:
    """True when the URL's host is one of the domains or a subdomain of one."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    for domain in domains:
        domain = domain.lower().strip().lstrip(".").rstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False
