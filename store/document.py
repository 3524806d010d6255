"""One story body, parsed once: its HTML, its lxml tree, its visible text and how much text it has.

Every reader of a body takes what it needs from one `Body`: the sanitizer checks the tree, dedup
and alert rules read `text`, summary detection, dedup richness, the file upgrade and source
health all compare `text_length`. The tree is built on first use by `parse_html`, the only place
a story body is turned into a tree (a test counts its calls per stored item).

No Scrapy and no dedup import here: spiders, store, dedup and alerts all import this module.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from lxml import etree
from lxml import html as lxml_html

__all__ = ["Body", "html_to_text", "parse_html", "strip_controls", "text_length"]

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

# C0 and C1 control characters and DEL, except tab, line feed and carriage return (the body's
# lines are trimmed and joined by `store.normalize.one_line`). ESC (0x1b) and the C1 CSI/OSC
# (0x9b, 0x9d) start terminal escape sequences when someone prints a stored file.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """The text without C0/C1 control characters other than tab, line feed and carriage return."""
    return _CONTROLS.sub("", text) if _CONTROLS.search(text) else text


def parse_html(markup: str) -> tuple[etree._Element | None, bool]:
    """(the fragment's tree under one `<div>`, True when libxml2 stopped at its depth limit).

    None when there is nothing to parse or lxml cannot parse it. libxml2 reads 256 levels and
    drops the rest: the sanitizer treats such a body as dangerous (it could hide anything there).
    """
    if not markup or not markup.strip():
        return None, False
    parser = lxml_html.HTMLParser()
    try:
        root = lxml_html.fragment_fromstring(markup, create_parent="div", parser=parser)
    except (etree.ParserError, ValueError) as exc:
        logger.debug("unparsable HTML (%s)", exc)
        return None, False
    too_deep = any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log)
    return root, too_deep


def _walk(el: etree._Element, parts: list[str]) -> None:
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


def text_length(text: str) -> int:
    """How much text: its characters, whitespace not counted (the one measure of a body)."""
    # str.split() splits at exactly the characters str.isspace() names, in C: one pass.
    return sum(map(len, text.split()))


class Body:
    """A story body: the HTML as stored, its tree (parsed on first use), its text and length."""

    __slots__ = ("_length", "_parsed", "_text", "_too_deep", "_tree", "html")

    def __init__(self, html: str) -> None:
        self.html = html
        self._tree: etree._Element | None = None
        self._too_deep = False
        self._parsed = False
        self._text: str | None = None
        self._length: int | None = None

    def _parse(self) -> None:
        if not self._parsed:
            self._tree, self._too_deep = parse_html(self.html)
            self._parsed = True

    @property
    def tree(self) -> etree._Element | None:
        """The body's elements under one `<div>`; None when empty or unparsable."""
        self._parse()
        return self._tree

    @property
    def too_deep(self) -> bool:
        """True when the body nests deeper than lxml reads (its tree is incomplete)."""
        self._parse()
        return self._too_deep

    @property
    def text(self) -> str:
        """The visible text, one line per block element (script, style... dropped)."""
        if self._text is None:
            self._text = self._compute_text()
        return self._text

    def _compute_text(self) -> str:
        if "<" not in self.html and "&" not in self.html:
            return self.html.strip()  # plain text: what the parser would give, without it
        root = self.tree
        if root is None:
            return self.html.strip()  # unparsable: the markup is the best text there is
        parts: list[str] = []
        _walk(root, parts)
        return "".join(parts).strip()

    @property
    def text_length(self) -> int:
        """Characters of visible text, whitespace not counted."""
        if self._length is None:
            self._length = text_length(self.text)
        return self._length

    def settled(self) -> Body:
        """This body with its text computed and its tree released (to cross a process or a queue)."""
        _ = self.text_length
        self._tree = None
        return self

    def __getstate__(self) -> dict[str, Any]:
        # An lxml tree does not pickle: a body crosses to another process as its HTML and
        # whatever was computed already (nothing is parsed to send it).
        return {"html": self.html, "text": self._text, "length": self._length}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["html"])  # type: ignore[misc]
        self._text = state["text"]
        self._length = state["length"]

    def __repr__(self) -> str:
        return f"Body({self.html[:40]!r}..., {len(self.html)} chars)"


def html_to_text(markup: str) -> str:
    """The visible text of an HTML fragment or page, one line per block element."""
    return Body(markup).text
