"""Stored bodies made safe to show: sanitized again at render, images turned into links.

Bodies were sanitized when stored (store/sanitize.py), but the archive is plain files that
anything can write, and an older version's policy may have been looser: every body is cleaned
again here by nh3 with a stricter allowlist (no `style`, no `img`, no `class`), just before it
is shown. Images become links (`[图片] alt`) so that opening a story loads nothing from the
outlets' servers (no tracking pixels) and the page's CSP can forbid remote images.
"""

from __future__ import annotations

import logging

import lxml.etree
import lxml.html
import nh3

logger = logging.getLogger(__name__)

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "div", "em", "figcaption",
    "figure", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "q", "s", "small",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr",
    "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "time": {"datetime"},
}
_SCHEMES = {"http", "https", "mailto"}
_DROP_WITH_CONTENT = {"script", "style", "iframe", "noscript", "object", "template", "svg", "math",
                      "textarea", "select", "xmp", "noembed", "noframes"}  # fmt: skip
IMAGE_LABEL = "[图片]"


def _images_to_links(html: str) -> str:
    """Replace each <img> by a link to its source labelled with its alt text."""
    if "<img" not in html.lower():
        return html
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return html  # nh3 still cleans it; the images are then dropped, not linked
    for img in list(root.iter("img")):
        src = (img.get("src") or "").strip()
        alt = (img.get("alt") or "").strip()
        link = lxml.html.Element("a", href=src) if src else lxml.html.Element("span")
        link.text = f"{IMAGE_LABEL} {alt}".strip()
        link.tail = img.tail
        parent = img.getparent()
        if parent is not None:
            parent.replace(img, link)
    inner = (root.text or "") + "".join(
        lxml.html.tostring(child, encoding="unicode") for child in root
    )
    return inner


def safe_body_html(body: str) -> str:
    """The body as HTML that can run nothing and load nothing: for pages and feed entries."""
    return nh3.clean(
        _images_to_links(body),
        tags=_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def safe_url(url: str) -> str | None:
    """The URL when it is http(s) (for links to originals and reposts), else None.

    Item URLs come from feeds and imported files: a `javascript:` or `data:` URL stored there
    must never become a link in a page or a feed.
    """
    from urllib.parse import urlsplit

    candidate = url.strip()
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return candidate
