"""Text for comparison: HTML to plain text, then intermediaries' boilerplate removed and the
script folded (NFKC, Traditional to Simplified), so one article reads the same whichever
outlet, feed provider or mirror carried it.

Both functions are pure and never raise on bad input: garbage in gives (possibly empty) text out.
"""

from __future__ import annotations

import codecs
import logging
import re
import threading
import unicodedata

import numpy as np

from dedup import t2s
from dedup.nfkc import MULTI as NFKC_MULTI
from dedup.nfkc import nfkc
from dedup.nfkc import table as nfkc_table
from dedup.t2s import to_simplified, to_simplified_whole
from store.document import html_to_text  # the one HTML-to-text, shared with alerts and spiders

__all__ = ["html_to_text", "nfkc", "normalize_text", "normalize_text_reference", "to_simplified"]

logger = logging.getLogger(__name__)

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
# The line-start alternatives of _DROP_LINE behind a literal "\n" (searched in "\n" + text),
# which the regex engine finds with a fast scan.
_DROP_AT_LINE_START = re.compile(
    r"\n(?:#{1,6}[^\S\n]*(?:💥[^\S\n]*)?\[|-{3,}(?=\n|\Z)|={3,}(?=\n|\Z)"
    r"|[^\S\n]*(?:©|\(c\)|copyright\b|版权所有))",
    re.IGNORECASE,
)


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
    text, cats = _fold(text)
    # Each line space-collapsed and stripped as the reference does (str.split() splits on the
    # same whitespace as \s), empty lines dropped: from here on lines are joined by "\n" only.
    if bytes((_OTHER_SPACE,)) in cats:
        text = "\n".join([kept for raw in text.splitlines() if (kept := " ".join(raw.split()))])
    else:
        text = _collapse_spaces(text)
    if not text:
        return ""
    # The prefilters only decide whether to run an exact filter, so a superset is fine: `asc`
    # (the ASCII characters, lower-cased) is taken before the cut and the drops. A character
    # outside ASCII that sre's IGNORECASE matches to an ASCII letter (ſ, K, İ, ı) would be
    # missed by it: then asc is None and every filter runs.
    asc = None if bytes((_CASE_EXOTIC,)) in cats else text.encode("ascii", "ignore").lower()
    if _may_cut(text, asc):
        cut = _CUT_REST_M.search(text)
        if cut is not None:
            text = text[: cut.start()].rstrip("\n")
    text = _drop_lines(text, asc)
    if "//" in text or asc is None or b"weserv" in asc:
        text = _strip_urls(text, asc)
    return text


_WESERV = re.compile(r"weserv", re.IGNORECASE)


def _strip_urls(text: str, asc: bytes | None) -> str:
    """Remove `_URL` matches, re-collapsing only the lines that can hold one."""
    if asc is None:
        return _collapse_spaces(_URL_FAST.sub(" ", text))
    # A match holds "//" or (without case-exotic characters) an ASCII "weserv", and never
    # crosses a line break: the other lines stay as they are (collapsed already).
    hits = []
    at = text.find("//")
    while at >= 0:
        hits.append(at)
        at = text.find("//", at + 2)
    if b"weserv" in asc:
        hits += [m.start() for m in _WESERV.finditer(text)]
    parts: list[str] = []
    last = 0
    emptied = False
    for start in sorted({text.rfind("\n", 0, hit) + 1 for hit in hits}):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = " ".join(_URL_FAST.sub(" ", text[start:end]).split())
        emptied = emptied or not line
        parts.append(text[last:start])
        parts.append(line)
        last = end
    parts.append(text[last:])
    text = "".join(parts)
    return "\n".join(filter(None, text.split("\n"))) if emptied else text


def _collapse_spaces(text: str) -> str:
    """Collapse and strip lines, drop empty ones, in text whose only whitespace is " " and "\\n"."""
    # Then splitlines() (a slow per-character scan) splits where split("\n") does, and a line
    # without a space needs no change.
    lines = filter(None, text.split("\n"))
    if " " not in text:
        return "\n".join(lines)
    return "\n".join(
        [kept for raw in lines if (kept := " ".join(raw.split()) if " " in raw else raw)]
    )


# What the later steps need to know of a character, one category per code point, of the
# character NFKC makes of it (categories never overlap: t2s keys are CJK).
_T2S_KEY = 1  # occurs in an OpenCC key, changed by none
_T2S_CHANGED = 2  # changed by some OpenCC key
_OTHER_SPACE = 3  # whitespace or line break other than " " and "\n" (tab, CR, U+2028, ...)
_CASE_EXOTIC = 4  # non-ASCII, yet IGNORECASE-equal to an ASCII letter (a test checks the list)
_NFKC_MULTI = 5  # NFKC makes several characters of it
_EXOTIC_CHARS = "\u0130\u0131\u017f\u212a"  # İ ı ſ K
_CATEGORY_SHIFT = 24  # above the 21 bits of a code point
_fold_table: np.ndarray | None = None
_fold_lock = threading.Lock()


def _categories() -> np.ndarray:
    """uint8 category of each code point as it is (not of its NFKC form)."""
    flags = t2s.flag_table()
    cats = np.zeros(0x110000, dtype=np.uint8)
    if flags is None:  # no run tables: any non-ASCII character sends the text to OpenCC whole
        cats[0x80:] = _T2S_CHANGED
    else:
        cats[(flags & t2s.KEY) != 0] = _T2S_KEY
        cats[(flags & t2s.CHANGED) != 0] = _T2S_CHANGED
    # str.isspace() holds for no code point above U+3000 (a test checks all).
    for cp in range(0x3001):
        if chr(cp).isspace() and cp not in (0x20, 0x0A):
            cats[cp] = _OTHER_SPACE
    for ch in _EXOTIC_CHARS:
        cats[ord(ch)] = _CASE_EXOTIC
    return cats


def _table() -> np.ndarray:
    """uint32 per code point: its NFKC code point | the category of that << 24 (built once)."""
    global _fold_table
    if _fold_table is None:
        with _fold_lock:
            if _fold_table is None:
                folded = nfkc_table().copy()
                multi = folded == NFKC_MULTI
                folded[multi] = np.arange(0x110000, dtype=np.uint32)[multi]
                cats = _categories()[folded]
                cats[multi] = _NFKC_MULTI
                _fold_table = folded | (cats.astype(np.uint32) << _CATEGORY_SHIFT)
    return _fold_table


def _look(text: str) -> tuple[np.ndarray, np.ndarray, bytes] | None:
    """(code points, their NFKC code points, the categories as bytes); None for surrogates."""
    try:
        cps = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    except UnicodeEncodeError:
        return None
    entries = _table()[cps]
    top = entries.view(np.uint8)[3::4]  # the category byte of each little-endian entry
    cats = top.tobytes()
    top[:] = 0
    return cps, entries, cats


def _fold(text: str) -> tuple[str, bytes]:
    """NFKC then t2s of `text` (one table lookup), and the categories of the NFKC text.

    OpenCC's keys and values are CJK only: the t2s step changes no category but the t2s ones.
    """
    looked = _look(text)
    if looked is None:  # lone surrogates: t2s raises as the reference does
        return to_simplified(nfkc(text)), _ALL_CATEGORIES
    _, mapped, cats = looked
    folded = None
    if bytes((_NFKC_MULTI,)) not in cats:
        # Per-character NFKC: exact when the result is normalized (see dedup.nfkc).
        folded = codecs.utf_32_le_decode(mapped.data, None, True)[0]
        if not unicodedata.is_normalized("NFKC", folded):
            folded = None
    if folded is None:  # multi-character forms ("…") or composition: fold, then look again
        folded = nfkc(text)
        looked = _look(folded)
        if looked is None or not np.array_equal(looked[0], looked[1]):
            return to_simplified(folded), _ALL_CATEGORIES  # not expected: NFKC text is stable
        cats = looked[2]
    changed = bytes((_T2S_CHANGED,))
    count = cats.count(changed)
    if count:
        at = cats.find(changed)
        positions: list[int] = []
        while at >= 0 and len(positions) <= t2s.MAX_RUNS:
            positions.append(at)
            at = cats.find(changed, at + 1)
        folded = t2s.convert_changed(folded, positions)
    return folded, cats


_ALL_CATEGORIES = bytes(range(_NFKC_MULTI + 1))


def _may_cut(text: str, asc: bytes | None) -> bool:
    """False only when no line can match `_CUT_REST_M` (each alternative has a literal part)."""
    return (
        asc is None
        or b"share" in asc
        or "分享" in text
        or "手机上长按" in text
        or (b"rss" in asc and "获取更多" in text)
    )


# The other alternatives of _DROP_LINE, each found by a fast literal scan: the link list after
# "](", "gfw-breaker" and the plain literals. No pattern crosses a line break.
_DROP_LINK = re.compile(r"\]\((?:https?:)?[^)\n]*\)[^\S\n]*(?:&nbsp;|\|)", re.IGNORECASE)
_DROP_GFW = re.compile(r"gfw-breaker", re.IGNORECASE)
_DROP_LITERALS = ("(需翻墙", "版权声明:")


def _drop_lines(text: str, asc: bytes | None) -> str:
    """Remove every line holding a `_DROP_LINE` match (each alternative searched apart)."""
    hits = [m.start() for m in _DROP_AT_LINE_START.finditer("\n" + text)]  # = its line's start
    if "](" in text:
        hits += [m.start() for m in _DROP_LINK.finditer(text)]
    if asc is None or b"gfw-breaker" in asc:
        hits += [m.start() for m in _DROP_GFW.finditer(text)]
    for literal in _DROP_LITERALS:
        at = text.find(literal)
        while at >= 0:
            hits.append(at)
            at = text.find(literal, at + 1)
    if not hits:
        return text
    kept: list[str] = []
    last = 0
    for start in sorted({text.rfind("\n", 0, hit) + 1 for hit in hits}):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        kept.append(text[last:start])
        last = end
    kept.append(text[last:])
    return "".join(kept).rstrip("\n")


def normalize_text_reference(text: str) -> str:
    """The straightforward line-by-line `normalize_text` (its specification, for tests)."""
    if not text:
        return ""
    text = to_simplified_whole(unicodedata.normalize("NFKC", text))
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
