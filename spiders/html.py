"""HTML helpers shared by the article extractors: clean a body into the seeds' shape.

The stored body shape (see the seeds) is a date `<div>`, the lead `<img>`, then plain paragraphs:
no attributes except `href`/`src`/`alt`, no scripts, ads, share buttons or newsletter blocks.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from copy import deepcopy

from lxml import etree
from lxml import html as lxml_html

# Elements that never carry article text: dropped with their content.
JUNK_TAGS = frozenset(
    {"script", "style", "noscript", "iframe", "svg", "button", "form", "input", "nav", "aside"}
)
JUNK_TAGS |= {"template", "object", "embed", "select", "textarea", "link", "meta"}
# Attributes kept when cleaning; everything else (class, style, data-*) is layout noise.
KEPT_ATTRIBUTES = {"a": ("href",), "img": ("src", "alt")}
# Block elements kept in a body; anything else at the top level is dropped.
BODY_BLOCKS = frozenset(
    {"p", "h2", "h3", "h4", "blockquote", "ul", "ol", "table", "figure", "img", "pre"}
)


def clean_element(element: etree._Element, junk_xpath: str = "") -> etree._Element:
    """A cleaned deep copy: junk elements removed, only href/src/alt attributes kept."""
    # Copied in memory: the page was parsed once, its body is not serialized and parsed again.
    copy = deepcopy(element)
    copy.tail = None
    doomed = [e for e in copy.iter() if isinstance(e.tag, str) and e.tag in JUNK_TAGS]
    if junk_xpath:
        doomed += copy.xpath(junk_xpath)
    doomed += [e for e in copy.iter() if not isinstance(e.tag, str)]  # comments, PIs
    for node in doomed:
        if node is copy:
            continue
        if node.getparent() is not None:
            node.drop_tree()
    for node in copy.iter():
        if not isinstance(node.tag, str):
            continue
        kept = KEPT_ATTRIBUTES.get(node.tag, ())
        for name in list(node.attrib):
            if name not in kept:
                del node.attrib[name]
    return copy


def to_html(element: etree._Element) -> str:
    """Serialize an element as HTML on one line (each source line trimmed, joined)."""
    markup = lxml_html.tostring(element, encoding="unicode", with_tail=False)
    return "".join(line.strip() for line in markup.splitlines())


def has_text(element: etree._Element) -> bool:
    """True when the element has visible text or is an image."""
    if element.tag == "img" or element.xpath(".//img"):
        return True
    return bool(element.text_content().strip())


def join_blocks(blocks: Iterable[etree._Element]) -> str:
    """The blocks serialized one after another, empty ones skipped."""
    return "".join(to_html(block) for block in blocks if has_text(block))


def date_div(text: str) -> str:
    """The seeds' date line: `<div>DD/MM/YYYY - HH:MM</div>` (text escaped)."""
    return f"<div>{html.escape(text.strip(), quote=False)}</div>" if text.strip() else ""


def img_tag(src: str | None) -> str:
    """The seeds' lead image: `<img src="...">`, or nothing without a source."""
    return f'<img src="{html.escape(src, quote=True)}">' if src else ""


# A class token names junk when its block name (before any BEM "__") has one of these words as
# a dash/underscore-separated part: "m-block-ad", "o-self-promo", "share-bar", "newsletter".
_JUNK_WORDS = r"ad|ads|advert|advertisement|share|sharing|social|newsletter|promo|outbrain|taboola|related|subscribe"
JUNK_CLASS_XPATH = (
    ".//*[re:test(@class, '(^|\\s)([\\w-]*[-_])?(" + _JUNK_WORDS + r")([-_][\w-]*)?(\s|$)', 'i')]"
)
_XPATH_NS = {"re": "http://exslt.org/regular-expressions"}


def drop_junk(root: etree._Element, extra_xpath: str = "") -> None:
    """Remove ad/share/newsletter/promo blocks (by class words) and `extra_xpath` matches."""
    doomed = root.xpath(JUNK_CLASS_XPATH, namespaces=_XPATH_NS)
    if extra_xpath:
        doomed += root.xpath(extra_xpath, namespaces=_XPATH_NS)
    for node in doomed:
        if node is not root and node.getparent() is not None:
            node.drop_tree()


def body_blocks(container: etree._Element) -> list[etree._Element]:
    """The content blocks of a cleaned container, flattening layout `<div>`s and `<section>`s."""
    blocks: list[etree._Element] = []
    for child in container:
        if not isinstance(child.tag, str):
            continue
        if child.tag in BODY_BLOCKS:
            blocks.append(child)
        elif child.tag in ("div", "section", "span", "article", "picture"):
            blocks.extend(body_blocks(child))
    return blocks


def body_div(container: etree._Element, extra_junk_xpath: str = "") -> str:
    """`<div>` + the container's cleaned content blocks + `</div>`, or '' when it has no text."""
    drop_junk(container, extra_junk_xpath)
    cleaned = clean_element(container)
    blocks = [block for block in body_blocks(cleaned) if has_text(block)]
    text = "".join(block.text_content() for block in blocks).strip()
    if not text:
        return ""
    return "<div>" + "".join(to_html(block) for block in blocks) + "</div>"
