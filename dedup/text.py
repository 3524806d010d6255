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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from store.document import html_to_text  # the one HTML-to-text, shared with alerts and spiders

__all__ = [
    "GENERIC_BOILERPLATE",
    "Boilerplate",
    "html_to_text",
    "normalize_text",
    "register_boilerplate",
    "to_simplified",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Boilerplate:
    """Lines an outlet or an intermediary adds around article text: regex sources, matched
    case-insensitively on each normalized line (NFKC, Simplified, spaces collapsed)."""

    cut_rest: tuple[str, ...] = ()  # a whole line matching one ends the article text
    drop_lines: tuple[str, ...] = ()  # a line in which one is found is dropped


# Page furniture on any site: after a share line nothing is article text; markdown rules and
# copyright lines are never text. Outlets and intermediaries add theirs (their specs).
GENERIC_BOILERPLATE = Boilerplate(
    cut_rest=(r"分享\s*:?", "分享本文", r"分享到\s*:?", r"share\s*:?"),
    drop_lines=(
        r"^-{3,}$",  # markdown rules
        r"^={3,}$",
        r"^\s*(?:©|\(c\)|copyright\b|版权所有)",  # copyright lines
        "版权声明:",
    ),
)


@dataclass(frozen=True)
class _Compiled:
    cut_rest: re.Pattern[str]
    drop_line: re.Pattern[str]


_compiled: _Compiled | None = None


def register_boilerplate(rules: Iterable[Boilerplate]) -> None:
    """Install the outlets' and intermediaries' boilerplate beside the generic lines (replacing
    an earlier set). Called by `spiders.outlets`: dedup cannot import the spiders, and the text
    (so every fingerprint) must not depend on which modules a process happened to import."""
    global _compiled
    everything = (GENERIC_BOILERPLATE, *rules)
    cut = [p for b in everything for p in b.cut_rest]
    drop = [p for b in everything for p in b.drop_lines]
    _compiled = _Compiled(
        cut_rest=re.compile("^(?:" + "|".join(cut) + ")$", re.IGNORECASE),
        drop_line=re.compile("|".join(f"(?:{p})" for p in drop), re.IGNORECASE),
    )


def _boilerplate() -> _Compiled:
    if _compiled is None:
        raise RuntimeError(
            "boilerplate lines are not registered: import spiders.outlets before dedup.text"
        )
    return _compiled


# URLs are intermediary-specific (image proxies such as images.weserv.nl, mirror links).
_URL = re.compile(r"(?:https?:)?//[^\s<>\"'）)]+|\bimages\.weserv\.nl\S*", re.IGNORECASE)


def normalize_text(text: str) -> str:
    """Fold text for comparison: NFKC, Simplified script, boilerplate lines dropped, spaces collapsed.

    Paragraphs stay on separate lines ("\\n"); within a line every run of whitespace becomes
    one space (str.split() splits on the same whitespace as the regex \\s).
    """
    if not text:
        return ""
    boilerplate = _boilerplate()
    text = to_simplified(unicodedata.normalize("NFKC", text))
    kept: list[str] = []
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        if boilerplate.cut_rest.match(line):
            break
        if boilerplate.drop_line.search(line):
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
