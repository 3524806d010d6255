"""Make stored item bodies safe to open in a browser, without touching bodies that already are.

The archive is read by people in browsers and by tools that render the body HTML, and feeds are
written by whoever controls them. `sanitize_body` removes what can run code: scripts, event
handler attributes, `javascript:`/`vbscript:`/`data:` URLs, iframes, objects, embeds, forms,
`<style>`, SVG/MathML islands, and CSS that can load or evaluate anything.

Byte-exactness: a real feedx entry must be stored byte for byte as the real item, so a body is
only rewritten when `find_danger` finds something dangerous in it (checked at the element and
attribute level on the lxml tree, plus a few raw-text patterns for markup lxml and browsers
parse differently). A dangerous body is rewritten as a whole by nh3 (ammonia, the html5ever
parser browsers' parsing rules are based on) with the allowlist below; the result is checked to
be free of danger, so `sanitize_body` is idempotent.

Policy (docs/RELIABILITY.md): the tags the seeds use (div, p, img, a, strong, em, b, i, small,
br, figure, figcaption, h2-h4, lists, blockquote, tables, ...); attributes href/src/alt/title/
width/height/class, table spans, and `style` restricted to a few layout/colour properties whose
values are plain words, numbers, lengths or colours (no parentheses, no escapes), because
old browsers ran `expression()` and `url(javascript:)` from CSS.
"""

from __future__ import annotations

import html
import re

import nh3
from lxml import etree
from lxml import html as lxml_html

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "find_danger",
    "safe_style",
    "sanitize_body",
    "strip_control_chars",
]

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "div", "em",
        "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol",
        "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td",
        "tfoot", "th", "thead", "time", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"class", "style", "title", "lang", "dir"},
    "a": {"href", "target"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "time": {"datetime"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Elements whose content is dropped with them (their text is code or raw markup, not prose).
_DROP_WITH_CONTENT = {"script", "style", "iframe", "noscript", "noembed", "noframes", "xmp",
                      "template", "object", "applet", "svg", "math"}  # fmt: skip

# Elements that can run code, load a document or submit data: any one makes a body dangerous.
DANGEROUS_TAGS = frozenset(
    {
        "applet", "base", "basefont", "bgsound", "button", "embed", "form", "frame", "frameset",
        "iframe", "import", "input", "isindex", "keygen", "link", "math", "meta", "noembed",
        "noframes", "noscript", "object", "param", "plaintext", "portal", "script", "select",
        "style", "svg", "template", "textarea", "xml", "xmp",
    }
)  # fmt: skip
# Attributes that take code or load a document whatever their value looks like.
_DANGEROUS_ATTRIBUTES = frozenset({"srcdoc", "formaction", "action", "xlink:href", "dynsrc",
                                   "lowsrc", "background", "codebase", "data"})  # fmt: skip
_BAD_SCHEME = re.compile(r"^(?:javascript|vbscript|livescript|data):", re.IGNORECASE)
# Every control character and space: browsers ignore them inside a URL scheme ("jav\tascript:").
_URL_JUNK = re.compile(r"[\x00-\x20\x7f-\x9f]+")
_RAW_TAG = re.compile(r"<\s*/?\s*(?:" + "|".join(sorted(DANGEROUS_TAGS)) + r")\b", re.IGNORECASE)
_RAW_EVENT = re.compile(r"[\s\"'/]on[a-z]+\s*=", re.IGNORECASE)
_RAW_SCRIPT_URL = re.compile(r"(?:java|vb|live)script:", re.IGNORECASE)
_TAG_TEXT = re.compile(r"<[^>]*>?")

SAFE_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "text-align", "vertical-align", "font-weight", "font-style",
        "font-size", "text-decoration", "width", "height", "max-width", "float", "clear",
        "margin", "margin-top", "margin-bottom", "margin-left", "margin-right",
        "padding", "padding-top", "padding-bottom", "padding-left", "padding-right",
        "border", "line-height", "text-indent",
    }
)  # fmt: skip
# Plain words, numbers, lengths, percentages, #colours, rgb()/hsl(): nothing that calls or loads.
_COLOUR_FUNCTION = re.compile(r"(?:rgba?|hsla?)\([\d\s.,%/]*\)", re.IGNORECASE)
_SAFE_STYLE_VALUE = re.compile(r"^[#\w\s.,%-]*$")
# What makes inline CSS active: any other function call (url(), expression(), image-set()),
# escapes and comments that hide such words, IE behaviors, Mozilla bindings.
_CSS_DANGER = re.compile(r"[(\\@<]|/\*|expression|javascript|vbscript|behavior|binding", re.I)


def safe_style(value: str) -> str | None:
    """The style declarations that can do no harm, joined as "prop: value; ..."; None if none."""
    kept = []
    for declaration in value.split(";"):
        if not declaration.strip():
            continue
        prop, sep, val = declaration.partition(":")
        prop, val = prop.strip().lower(), val.strip()
        if (
            sep
            and prop in SAFE_STYLE_PROPERTIES
            and _SAFE_STYLE_VALUE.match(_COLOUR_FUNCTION.sub("0", val))
        ):
            kept.append(f"{prop}: {val}")
    return "; ".join(kept) or None


def _style_is_safe(value: str) -> bool:
    """False when a style attribute can call or load anything (expression(), url(), bindings)."""
    inert = _COLOUR_FUNCTION.sub("", value)
    return not _CSS_DANGER.search(inert)


def _attribute_danger(tag: str, name: str, value: str) -> str | None:
    name = name.lower()
    if name.startswith("on"):
        return f"event handler {name} on <{tag}>"
    if name in _DANGEROUS_ATTRIBUTES:
        return f"attribute {name} on <{tag}>"
    if _BAD_SCHEME.match(_URL_JUNK.sub("", value)):
        return f"{_URL_JUNK.sub('', value).split(':', 1)[0].lower()}: URL in {name} on <{tag}>"
    if name == "style" and not _style_is_safe(value):
        return f"unsafe style on <{tag}>"
    return None


def _tree_danger(body: str) -> str | None:
    """The first dangerous element or attribute lxml finds in the body, or None."""
    try:
        root = lxml_html.fragment_fromstring(body, create_parent="div")
    except (etree.ParserError, ValueError):
        return "markup lxml cannot parse"
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions are never rendered
        tag = element.tag.lower()
        if tag in DANGEROUS_TAGS:
            return f"<{tag}> element"
        for name, value in element.attrib.items():
            reason = _attribute_danger(tag, str(name), str(value))
            if reason:
                return reason
    return None


def find_danger(body: str) -> str | None:
    """Why a body is dangerous ("<script> element", "event handler onerror on <img>"), or None."""
    if "<" not in body:
        return None  # no markup at all (entities alone cannot make an element)
    # Raw-text triggers first: they catch markup that lxml (libxml2) and browsers (html5) parse
    # differently, e.g. <svg>/<noscript> mutation tricks; a false alarm only costs a rewrite.
    match = _RAW_TAG.search(body)
    if match:
        return f"{match.group(0).lstrip('<').strip().lstrip('/').strip().lower()} markup"
    if _RAW_EVENT.search(body):
        return "event handler markup"
    for tag_text in _TAG_TEXT.findall(body):
        if _RAW_SCRIPT_URL.search(_URL_JUNK.sub("", html.unescape(tag_text))):
            return "script URL in markup"
    return _tree_danger(body)


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    """nh3 attribute hook: drop unsafe CSS declarations (nh3 keeps `width: expression(...)`)."""
    if name == "style":
        return safe_style(value)
    return value


def _clean(body: str) -> str:
    return nh3.clean(
        body,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_filter_attribute,
        url_schemes=set(URL_SCHEMES),
        strip_comments=True,
        link_rel="noopener noreferrer",
    )


def sanitize_body(body: str) -> str:
    """The body unchanged when nothing in it is dangerous, else rewritten by nh3's allowlist."""
    if find_danger(body) is None:
        return body
    cleaned = _clean(body)
    if _tree_danger(cleaned) is not None:
        # Cannot happen with this allowlist; if it ever does, keep the text and no markup.
        return nh3.clean(cleaned, tags=set())
    return cleaned


# C0/C1 controls that are neither line breaks (clean_title turns those into spaces) nor tabs:
# BEL, BS, ESC (terminal escape sequences when someone `cat`s an item), NUL, DEL, ...
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")


def strip_control_chars(text: str) -> str:
    """The text without control characters that only a terminal or a parser would act on."""
    return _CONTROL.sub("", text)
