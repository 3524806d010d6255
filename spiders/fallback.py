"""Article body extraction with trafilatura, for outlets without selectors (and as a fallback).

trafilatura only parses the HTML string it is given: we never call its `fetch_url`, and pass no
`url` to `extract` so that no URL/domain library (courlan, tldextract) is consulted; tests run it
with sockets disabled. Its XML output is converted to the seeds' shape: a date `<div>`, the lead
`<img>`, then `<p>`/`<h2>`/lists, with no attributes but `href`/`src`.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime

from lxml import etree

from spiders.html import date_div, img_tag
from spiders.items import FeedEntry
from store.document import text_length

logger = logging.getLogger(__name__)

# trafilatura XML element -> HTML element of the stored body.
_TAG_MAP = {
    "p": "p",
    "head": "h2",
    "list": "ul",
    "item": "li",
    "quote": "blockquote",
    "table": "table",
    "row": "tr",
    "cell": "td",
    "lb": "br",
    "code": "pre",
}
_HI_MAP = {"#b": "strong", "#i": "em", "#u": "u", "#t": "code", "#sub": "sub", "#sup": "sup"}
MIN_TEXT_CHARS = 40  # below this, what trafilatura found is not an article body


def format_date(published: datetime | None) -> str:
    """The seeds' date text (`DD/MM/YYYY - HH:MM`) of an aware datetime, or ''."""
    return published.strftime("%d/%m/%Y - %H:%M") if published else ""


def _convert(node: etree._Element) -> str:
    """HTML for one trafilatura XML node and its children (text escaped, tail excluded)."""
    tag = node.tag
    if tag == "graphic":
        return img_tag(node.get("src"))
    inner = html.escape(node.text or "", quote=False)
    for child in node:
        inner += _convert(child) + html.escape(child.tail or "", quote=False)
    if tag == "hi":
        name = _HI_MAP.get(node.get("rend", ""), "")
        return f"<{name}>{inner}</{name}>" if name else inner
    if tag == "ref":
        target = node.get("target")
        return f'<a href="{html.escape(target)}">{inner}</a>' if target else inner
    name = _TAG_MAP.get(tag) or ""
    if name == "br":
        return "<br>"
    if not name:
        return inner
    return f"<{name}>{inner}</{name}>"


def trafilatura_xml_to_html(xml: str, title: str = "") -> tuple[str, int]:
    """Seeds-shape HTML blocks from trafilatura's XML output, and how much text they hold."""
    try:
        root = etree.fromstring(xml.encode("utf-8"))
    except etree.XMLSyntaxError:
        return "", 0
    main = root.find("main")
    if main is None:
        return "", 0
    blocks: list[str] = []
    text_chars = 0
    for node in main:
        text = "".join(node.itertext()).strip()
        # The page title comes back as an h1 head; the item keeps it in its title line only.
        if node.tag == "head" and (node.get("rend") == "h1" or text == title.strip()):
            continue
        if node.tag != "graphic" and not text:
            continue
        text_chars += text_length(text)  # the one measure of how much text (store.document)
        blocks.append(_convert(node))
    return "".join(blocks), text_chars


def extract_with_trafilatura(
    page_html: str, url: str, entry: FeedEntry | None = None
) -> str | None:
    """The article body of an HTML page in the seeds' shape via trafilatura, or None."""
    import trafilatura  # imported lazily: it is slow to import and only some outlets need it

    if not page_html or not page_html.strip():
        return None
    title = entry.title if entry is not None else ""
    xml = trafilatura.extract(
        page_html,
        output_format="xml",
        include_images=True,
        include_tables=True,
        include_comments=False,
        include_links=False,
        with_metadata=False,
        favor_precision=True,
    )
    if not xml:
        logger.debug("trafilatura found no body in %s", url)
        return None
    blocks, text_chars = trafilatura_xml_to_html(xml, title)
    if text_chars < MIN_TEXT_CHARS:
        return None
    lead = ""
    if "<img " not in blocks[:300]:
        metadata = trafilatura.extract_metadata(page_html)
        lead = img_tag(metadata.image) if metadata is not None and metadata.image else ""
    published = entry.published if entry is not None else None
    return date_div(format_date(published)) + lead + blocks
