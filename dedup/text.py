"""Text for comparison: HTML to plain text, then intermediaries' boilerplate removed and the
script folded (NFKC, Traditional to Simplified), so one article reads the same whichever
outlet, feed provider or mirror carried it.

Both functions are pure and never raise on bad input: garbage in gives (possibly empty) text out.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata

import lxml.etree
import lxml.html

from dedup.nfkc import nfkc

__all__ = ["html_to_text", "nfkc", "normalize_text", "normalize_text_reference", "to_simplified"]

logger = logging.getLogger(__name__)

# Elements whose text is never article text.
_DROP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "iframe", "svg", "object", "embed", "head"}
)
# Elements that end a line of text: paragraphs stay apart so line filters can work on them.
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "br", "hr", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4",
        "h5", "h6", "table", "tr", "td", "th", "blockquote", "pre", "section", "article",
        "aside", "header", "footer", "figure", "figcaption", "main", "nav", "form", "body",
        "address", "center", "caption",
    }
)  # fmt: skip

# Everything after one of these lines is page furniture (share buttons, related links, the
# feedx footer, the mirror's share-this-page box), never article text.
_CUT_REST = re.compile(
    r"^(?:分享\s*:?|分享本文|分享到\s*:?|share\s*:?|获取更多rss\s*:?.*"
    r"|手机上长按并复制下列链接或二维码分享本文章.*)$",
    re.IGNORECASE,
)
# Single lines that intermediaries add: mirror navigation/counter/source lines, copyright.
_DROP_LINE = re.compile(
    r"(?:^#{1,6}\s*(?:💥\s*)?\[)"  # gfw-breaker markdown navigation bars
    r"|(?:\]\((?:https?:)?[^)]*\)\s*(?:&nbsp;|\|))"  # "[a](x) | [b](y)" link lists
    r"|gfw-breaker|\(需翻墙"  # mirror counter image, 原文链接(需翻墙) (after NFKC)
    r"|^-{3,}$|^={3,}$"  # markdown rules
    r"|^\s*(?:©|\(c\)|copyright\b|版权所有)"  # copyright lines
    r"|版权声明:",
    re.IGNORECASE,
)
# URLs are intermediary-specific (image proxies such as images.weserv.nl, mirror links).
_URL = re.compile(r"(?:https?:)?//[^\s<>\"'）)]+|\bimages\.weserv\.nl\S*", re.IGNORECASE)
# The same pattern behind a lookahead on every character a match can start with (under
# IGNORECASE "i" also matches "İ" and "ı"): the regex engine then skips ahead with a
# character-set scan instead of trying both alternatives at every position (3x faster).
_URL_FAST = re.compile(
    r"(?=[hH/iIİı])(?:(?:https?:)?//[^\s<>\"'）)]+|\bimages\.weserv\.nl\S*)", re.IGNORECASE
)
_SPACES = re.compile(r"[^\S\n]+")

# The same filters for the whole-text pass of normalize_text: one line per match, and no
# pattern may cross a line break (the reference applies them to single lines).
_CUT_REST_M = re.compile(
    r"^(?:分享[^\S\n]*:?|分享本文|分享到[^\S\n]*:?|share[^\S\n]*:?|获取更多rss[^\S\n]*:?.*"
    r"|手机上长按并复制下列链接或二维码分享本文章.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_DROP_LINE_M = re.compile(
    r"(?:^#{1,6}[^\S\n]*(?:💥[^\S\n]*)?\[)"
    r"|(?:\]\((?:https?:)?[^)\n]*\)[^\S\n]*(?:&nbsp;|\|))"
    r"|gfw-breaker|\(需翻墙"
    r"|^-{3,}$|^={3,}$"
    r"|^[^\S\n]*(?:©|\(c\)|copyright\b|版权所有)"
    r"|版权声明:",
    re.IGNORECASE | re.MULTILINE,
)
# The line-start alternatives of _DROP_LINE_M behind a literal "\n" (searched in "\n" + text),
# which the regex engine finds with a fast scan; only a prefilter.
_DROP_AT_LINE_START = re.compile(
    r"\n(?:#{1,6}[^\S\n]*(?:💥[^\S\n]*)?\[|-{3,}(?=\n|\Z)|={3,}(?=\n|\Z)"
    r"|[^\S\n]*(?:©|\(c\)|copyright\b|版权所有))",
    re.IGNORECASE,
)

_converter_lock = threading.Lock()
_converter = None


def _t2s():
    """The OpenCC Traditional-to-Simplified converter, built once on first use."""
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                import opencc  # imported lazily: building the converter loads dictionaries

                _converter = opencc.OpenCC("t2s")
    return _converter


def to_simplified(text: str) -> str:
    """Convert Traditional Chinese characters to Simplified (OpenCC t2s)."""
    if not text:
        return ""
    return _t2s().convert(text)


def html_to_text(html: str) -> str:
    """Extract the visible text of an HTML fragment or page, one line per block element."""
    if not html or not html.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError) as exc:
        logger.debug("html_to_text: unparsable HTML (%s), using it as text", exc)
        return html
    parts: list[str] = []
    _walk(root, parts)
    return "".join(parts).strip()


def _walk(el: lxml.html.HtmlElement, parts: list[str]) -> None:
    """Append the text of `el` and its children to `parts`, with newlines around blocks."""
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in _DROP_TAGS:
        return
    block = tag in _BLOCK_TAGS
    if block:
        parts.append("\n")
    if tag and el.text:
        parts.append(el.text)
    for child in el:
        _walk(child, parts)
        if child.tail:
            parts.append(child.tail)
    if block:
        parts.append("\n")


def normalize_text(text: str) -> str:
    """Fold text for comparison: NFKC, Simplified script, boilerplate lines dropped, spaces collapsed.

    Paragraphs stay on separate lines ("\\n"); within a line every run of whitespace becomes
    one space. Equal to `normalize_text_reference` on every input (tests check it); this version
    works on the whole text at once instead of line by line, and skips the filters whose
    literal parts do not occur (the regex engine scans slowly for patterns without a literal
    prefix; a substring test is a memchr).
    """
    if not text:
        return ""
    text = to_simplified(nfkc(text))
    # Each line space-collapsed and stripped as the reference does (str.split() splits on the
    # same whitespace as \s), empty lines dropped: from here on lines are joined by "\n" only.
    text = "\n".join([kept for raw in text.splitlines() if (kept := " ".join(raw.split()))])
    if not text:
        return ""
    # Prefilters on `lowered` only decide whether to run an exact filter, so a superset is
    # fine: it is taken before the cut and the drops.
    lowered = text.lower()
    if _may_cut(text, lowered):
        cut = _CUT_REST_M.search(text)
        if cut is not None:
            text = text[: cut.start()].rstrip("\n")
    if _may_drop(text, lowered):
        text = _drop_lines(text)
    # Case-insensitive literals: besides lower(), sre also matches "ſ" to "s" (checked by a test).
    if "//" in text or "weserv" in lowered or "ſ" in text:
        text = "\n".join(
            [
                kept
                for raw in _URL_FAST.sub(" ", text).split("\n")
                if (kept := " ".join(raw.split()))
            ]
        )
    return text


def _may_cut(text: str, lowered: str) -> bool:
    """False only when no line can match `_CUT_REST_M` (each alternative has a literal part)."""
    return (
        "分享" in text
        or "手机上长按" in text
        or "share" in lowered
        or "获取更多rss" in lowered
        or "ſ" in text
    )


def _may_drop(text: str, lowered: str) -> bool:
    """False only when no line can match `_DROP_LINE_M` (literal tests first: cheap)."""
    return (
        "](" in text
        or "(需翻墙" in text
        or "版权声明:" in text
        or "gfw-breaker" in lowered
        or _DROP_AT_LINE_START.search("\n" + text) is not None
    )


def _drop_lines(text: str) -> str:
    """Remove every line holding a `_DROP_LINE_M` match (found in one scan of the whole text)."""
    drop: list[tuple[int, int]] = []
    pos = 0
    while True:
        m = _DROP_LINE_M.search(text, pos)
        if m is None:
            break
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.start())
        end = len(text) if end < 0 else end + 1
        drop.append((start, end))
        pos = end
    if not drop:
        return text
    kept: list[str] = []
    last = 0
    for start, end in drop:
        kept.append(text[last:start])
        last = end
    kept.append(text[last:])
    return "".join(kept).rstrip("\n")


def normalize_text_reference(text: str) -> str:
    """The straightforward line-by-line `normalize_text` (its specification, for tests)."""
    if not text:
        return ""
    text = to_simplified(unicodedata.normalize("NFKC", text))
    kept: list[str] = []
    for raw in text.splitlines():
        line = _SPACES.sub(" ", raw).strip()
        if not line:
            continue
        if _CUT_REST.match(line):
            break
        if _DROP_LINE.search(line):
            continue
        line = _SPACES.sub(" ", _URL.sub(" ", line)).strip()
        if line:
            kept.append(line)
    return "\n".join(kept)
