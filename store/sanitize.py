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

from store.document import Body, strip_controls

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "find_danger",
    "limit_depth",
    "sanitize",
    "safe_style",
    "sanitize_body",
    "sanitized_document",
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


def _tree_danger(body: Body) -> str | None:
    """The first dangerous element or attribute lxml finds in the body, or None."""
    root = body.tree
    if root is None:
        return "markup lxml cannot parse"
    if body.too_deep:
        return "nesting deeper than lxml reads"
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


def find_danger(body: str | Body) -> str | None:
    """Why a body is dangerous ("<script> element", "event handler onerror on <img>"), or None."""
    doc = body if isinstance(body, Body) else Body(body)
    markup = doc.html
    if "<" not in markup:
        return None  # no markup at all (entities alone cannot make an element)
    # Raw-text triggers first: they catch markup that lxml (libxml2) and browsers (html5) parse
    # differently, e.g. <svg>/<noscript> mutation tricks; a false alarm only costs a rewrite.
    match = _RAW_TAG.search(markup)
    if match:
        return f"{match.group(0).lstrip('<').strip().lstrip('/').strip().lower()} markup"
    if _RAW_EVENT.search(markup):
        return "event handler markup"
    for tag_text in _TAG_TEXT.findall(markup):
        if _RAW_SCRIPT_URL.search(_URL_JUNK.sub("", html.unescape(tag_text))):
            return "script URL in markup"
    return _tree_danger(doc)


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


# html5ever (inside nh3) checks the stack of open elements for every tag: its cost grows with
# nesting depth times tags, so 1 MB of nested <div>s cost minutes. Browsers stop nesting at a
# depth (Blink: 512); we flatten beyond this one, which also stays under libxml2's limit (256),
# so lxml reads every element of a rewritten body. Real articles nest a few dozen levels.
MAX_DEPTH = 200
_TAG = re.compile(r"<(/?)([a-zA-Z][^\s/>]*)[^>]*>")
# Elements without content: they never open a level.
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"})  # fmt: skip


def limit_depth(body: str, max_depth: int = MAX_DEPTH) -> str:
    """The body with every tag nested deeper than `max_depth` removed (text kept), in linear time.

    A tag-level count, not an HTML parser: the result still goes through nh3, which decides what
    the markup means. A body that never nests deeper is returned as is.
    """
    stack: list[str] = []
    open_count: dict[str, int] = {}
    dropped: list[tuple[int, int]] = []
    excess = 0  # start tags dropped and not closed yet
    for match in _TAG.finditer(body):
        closing, name = match.group(1), match.group(2).lower()
        if name in _VOID or match.group(0).endswith("/>"):
            continue
        if not closing:
            if len(stack) >= max_depth:
                dropped.append(match.span())
                excess += 1
                continue
            stack.append(name)
            open_count[name] = open_count.get(name, 0) + 1
        elif excess:
            dropped.append(match.span())  # the end tag of a dropped element
            excess -= 1
        elif open_count.get(name):
            # Close up to the matching element, as a parser would (each push pops once).
            while True:
                top = stack.pop()
                open_count[top] -= 1
                if top == name:
                    break
    if not dropped:
        return body
    parts: list[str] = []
    last = 0
    for start, end in dropped:
        parts.append(body[last:start])
        last = end
    parts.append(body[last:])
    return "".join(parts)


def sanitize(body: Body) -> Body:
    """The body itself when nothing in it is dangerous, else a new one rewritten by nh3."""
    if find_danger(body) is None:
        return body
    cleaned = Body(_clean(limit_depth(body.html)))
    if _tree_danger(cleaned) is not None:
        # Cannot happen with this allowlist; if it ever does, keep the text and no markup.
        return Body(nh3.clean(cleaned.html, tags=set()))
    return cleaned


def sanitize_body(body: str) -> str:
    """The body unchanged when nothing in it is dangerous, else rewritten by nh3's allowlist."""
    return sanitize(Body(body)).html


def sanitized_document(body: str | Body) -> Body:
    """The story body with its control characters removed, made safe, its text computed.

    The one step from a body as the source gave it to the stored one (a `Body` the spider
    already parsed is reused). It may run in a worker process, so the result comes back
    settled: text and length, no tree.
    """
    doc = body if isinstance(body, Body) else Body(body)
    stripped = strip_controls(doc.html)
    if stripped is not doc.html:
        doc = Body(stripped)
    return sanitize(doc).settled()


# C0/C1 controls that are neither line breaks (clean_title turns those into spaces) nor tabs:
# BEL, BS, ESC (terminal escape sequences when someone `cat`s an item), NUL, DEL, ...
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")


def strip_control_chars(text: str) -> str:
    """The text without control characters that only a terminal or a parser would act on."""
    return _CONTROL.sub("", text)
