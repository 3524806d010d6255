"""Match watch rules against a story's visible text, whatever its script (Simplified/Traditional).

Title and body go through dedup's own normalization (HTML to text with boilerplate removed, NFKC,
OpenCC Traditional-to-Simplified, case folding), and so do the rule's terms, so a rule written in
either script matches text in either. Only visible text is searched: tags, attributes and URLs
(also URLs written out in the text) are removed first, so a term never matches inside a link.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

from conf.alerts import WatchRule
from dedup.text import normalize_text
from store.document import html_to_text

# Written-out links in visible text ("获取更多RSS：https://feedx.best/...", "www.dw.com").
_URL_IN_TEXT = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'，。、；）)]+")
_ASCII_WORD = re.compile(r"[0-9a-z]")


@dataclass(frozen=True)
class MatchResult:
    """Whether a rule matched, and the reasons (what was found where, or what was missing)."""

    matched: bool
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoryText:
    """A story's searchable text per field, normalized once and shared by every rule."""

    title: str
    body: str

    def field(self, name: str) -> str:
        """The normalized text of `title` or `body`."""
        return self.title if name == "title" else self.body


@functools.cache
def _simplified(text: str) -> str:
    import opencc

    return opencc.OpenCC("t2s").convert(text)


def normalize_for_match(text: str) -> str:
    """Plain text to the form rules are matched against (also applied to the terms)."""
    text = _URL_IN_TEXT.sub(" ", text)
    return normalize_text(text).casefold()


def prepare_story(title: str, body_html: str, *, body_text: str | None = None) -> StoryText:
    """Normalize a story's title (plain text) and body (HTML, or its text when known) for matching."""
    # Titles can carry entities or stray tags from feeds; html_to_text keeps only the text.
    return StoryText(
        title=normalize_for_match(html_to_text(title)),
        body=normalize_for_match(html_to_text(body_html) if body_text is None else body_text),
    )


def _find(term: str, text: str) -> int:
    """Where the normalized term occurs in text; ASCII words must not be part of longer words."""
    start = text.find(term)
    if not _ASCII_WORD.match(term[:1]) and not _ASCII_WORD.match(term[-1:]):
        return start
    while start >= 0:
        before = text[start - 1 : start]
        after = text[start + len(term) : start + len(term) + 1]
        head_ok = not (_ASCII_WORD.match(term[:1]) and _ASCII_WORD.match(before))
        tail_ok = not (_ASCII_WORD.match(term[-1:]) and _ASCII_WORD.match(after))
        if head_ok and tail_ok:
            return start
        start = text.find(term, start + 1)
    return -1


class RuleMatcher:
    """A rule with its terms and regex normalized and compiled once."""

    def __init__(self, rule: WatchRule) -> None:
        self.rule = rule
        self.all = [(term, normalize_for_match(term)) for term in rule.all]
        self.any = [(term, normalize_for_match(term)) for term in rule.any]
        self.none = [(term, normalize_for_match(term)) for term in rule.none]
        self.regex = None
        if rule.regex is not None:
            # Same script and width as the text; the pattern's syntax is ASCII and survives both.
            pattern = _simplified(unicodedata.normalize("NFKC", rule.regex))
            self.regex = re.compile(pattern, re.IGNORECASE)

    def _where(self, normalized: str, text: StoryText) -> str | None:
        if not normalized:
            return None
        for name in self.rule.fields:
            if _find(normalized, text.field(name)) >= 0:
                return name
        return None

    def match(self, text: StoryText, outlet: str) -> MatchResult:
        """Apply the rule to prepared text; reasons explain a match or the first failed test."""
        if not self.rule.outlets.allows(outlet):
            return MatchResult(False, [f"outlet {outlet!r} is excluded by the rule's outlets"])
        reasons: list[str] = []
        for term, normalized in self.all:
            where = self._where(normalized, text)
            if where is None:
                return MatchResult(False, [f"all: {term!r} not found"])
            reasons.append(f"all: {term!r} in {where}")
        if self.any:
            hits = [(term, self._where(normalized, text)) for term, normalized in self.any]
            found = [(term, where) for term, where in hits if where is not None]
            if not found:
                listed = ", ".join(repr(term) for term, _ in self.any)
                return MatchResult(False, [f"any: none of {listed} found"])
            reasons += [f"any: {term!r} in {where}" for term, where in found]
        for term, normalized in self.none:
            where = self._where(normalized, text)
            if where is not None:
                return MatchResult(False, [f"none: {term!r} found in {where}"])
        if self.regex is not None:
            hit = next(
                (
                    (name, m)
                    for name in self.rule.fields
                    if (m := self.regex.search(text.field(name)))
                ),
                None,
            )
            if hit is None:
                return MatchResult(False, [f"regex /{self.rule.regex}/ did not match"])
            reasons.append(f"regex /{self.rule.regex}/ matched {hit[1].group(0)!r} in {hit[0]}")
        return MatchResult(True, reasons)


def match_rule(rule: WatchRule, title: str, body_html: str, outlet: str) -> MatchResult:
    """Whether one rule matches one story, and why (convenience wrapper over RuleMatcher)."""
    return RuleMatcher(rule).match(prepare_story(title, body_html), outlet)
