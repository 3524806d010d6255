"""Text for comparison: HTML to plain text, then intermediaries' boilerplate removed and the
script folded (NFKC, Traditional to Simplified), so one article reads the same whichever
outlet, feed provider or mirror carried it.

Both functions are pure and never raise on bad input: garbage in gives (possibly empty) text out.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from typing import Any

from store.document import html_to_text  # the one HTML-to-text, shared with alerts and spiders

__all__ = ["html_to_text", "normalize_text", "to_simplified"]

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


def normalize_text(text: str) -> str:
    """Fold text for comparison: NFKC, Simplified script, boilerplate lines dropped, spaces collapsed.

    Paragraphs stay on separate lines ("\\n"); within a line every run of whitespace becomes
    one space (str.split() splits on the same whitespace as the regex \\s).
    """
    if not text:
        return ""
    text = to_simplified(unicodedata.normalize("NFKC", text))
    kept: list[str] = []
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        if _CUT_REST.match(line):
            break
        if _DROP_LINE.search(line):
            continue
        line = " ".join(_URL.sub(" ", line).split())
        if line:
            kept.append(line)
    return "\n".join(kept)


@functools.cache
def _converter() -> Any:
    """OpenCC's Traditional-to-Simplified converter, built once (loading its dictionaries)."""
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """OpenCC t2s of `text`: both script editions of a story compare equal."""
    return str(_converter().convert(text)) if text else ""
