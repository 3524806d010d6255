"""URL serialization (WHATWG, by the ada parser) and canonical URLs, the identity key for exact dedup.

`serialize_url` is what goes into an item file; `canonical_url` is what two captures of the same
article share (see docs/FORMAT.md, "Canonical URLs"). Neither ever raises: garbage in gives a
best-effort string out, and `is_http_url` says whether the result is usable.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from urllib.parse import unquote

import ada_url

__all__ = [
    "OUTLET_RULES",
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonical_url",
    "is_http_url",
    "is_mirror_url",
    "serialize_url",
]

_PCT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))


def serialize_url(url: str) -> str:
    """Serialize `url` with the WHATWG URL parser (ada); idempotent and never raises.

    What the parser refuses (no scheme, an invalid host, ...) is stripped and percent-encoded
    (controls, space, non-ASCII) and parsed once more; `is_http_url` rejects what stays refused.
    """
    text = str(url)
    href = _parse(text)
    if href is not None:
        return href
    safe = _best_effort(text)
    return _parse(safe) or safe  # the encoded form may parse (a space in an opaque host)


def _parse(text: str) -> str | None:
    try:
        return str(ada_url.URL(text).href)
    except (ValueError, TypeError, UnicodeError):
        return None


def _best_effort(text: str) -> str:
    """A URL-safe form of text that is no URL: trimmed, tabs/newlines dropped, the rest encoded."""
    text = text.strip(_C0_AND_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    out: list[str] = []
    for ch in text:
        if ord(ch) <= 0x20 or ord(ch) >= 0x7F:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
        else:
            out.append(ch)
    return "".join(out)


def is_http_url(url: str) -> bool:
    """True when `url` serializes to an absolute http(s) URL with a plausible host."""
    s = serialize_url(url)
    m = re.match(r"^https?://(?:[^@/]*@)?([^/:?#]+|\[[0-9a-f:.]+\])(?::\d+)?(?:[/?#]|$)", s)
    if not m:
        return False
    host = m.group(1)
    return host.startswith("[") or bool(re.fullmatch(r"[a-z0-9\-]+(\.[a-z0-9\-]+)*", host))


# --- canonical URLs ------------------------------------------------------------------------

# Query parameters that only say where a click came from; they never select content.
TRACKING_PARAMS = frozenset(
    {
        "maca",  # DW RSS: ?maca=chi-rss-chi-all-1127-rdf
        "fbclid",  # Facebook
        "gclid",  # Google Ads
        "dclid",  # Google display ads
        "msclkid",  # Microsoft Ads
        "yclid",  # Yandex
        "igshid",  # Instagram
        "mc_cid",  # Mailchimp
        "mc_eid",  # Mailchimp
        "xtor",  # AT Internet (RFI, France Médias Monde)
        "ref",  # generic referrer tag
        "ref_src",  # Twitter
        "spm",  # Alibaba
        "share",  # share buttons
        "from",  # WeChat / Chinese share links
        "isappinstalled",  # WeChat
        "ocid",  # Microsoft
        "cmpid",  # campaign id
        "ito",  # campaign id
        "s_cid",  # Adobe campaign
        "_ga",  # Google Analytics cross-domain
    }
)
# Prefixes of tracking parameter families.
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_", "hsa_", "_hs")

# Hosts that are the same outlet under another name (after www./m. stripping).
HOST_ALIASES = {"dw.de": "dw.com", "epochtimes.com.tw": "epochtimes.com"}

# Hosts whose pages are mirrors of another outlet's article, never the article itself: their
# canonical identity comes from the page's 原文链接 line (see store.imports.parse_mirror_page).
_MIRROR_HOST_RE = re.compile(
    r"^(?:gfw-breaker\.win|[a-z0-9\-]+\.github\.io|github\.com|raw\.githubusercontent\.com)$"
)
_MIRROR_PATH_RE = re.compile(r"/pages/[^/]+/n\d+\.md|gfw-breaker|banned-news|epoch-news|mh-news")

OutletRule = tuple[str, "re.Pattern[str]", Callable[["re.Match[str]"], str]]

# One row per outlet: (host after normalization, pattern on the normalized path, builder).
# Rules key on the outlet's article id, so slug, language path and section changes all map to
# one identity. Examples are real URLs from the corpus.
OUTLET_RULES: tuple[OutletRule, ...] = (
    # DW: https://www.dw.com/zh/<slug>/a-67150547, http://www.dw.de/<slug>/a-18317568?maca=…
    # Some DW slugs end in a real "?" (…美国?/a-55281475): the rules also see path + query.
    ("dw.com", re.compile(r"^/(?:[^#]*/)?a-(\d+)(?:/|$)"), lambda m: f"https://dw.com/a-{m[1]}"),
    # Epoch Times: https://www.epochtimes.com/gb/23/9/23/n14079761.htm (also b5/ and .html)
    (
        "epochtimes.com",
        re.compile(r"^/(?:[^?#]*/)?n(\d+)\.html?$"),
        lambda m: f"https://epochtimes.com/n{m[1]}",
    ),
    # VOA: https://www.voachinese.com/a/<slug>/7856214.html and /a/7856214.html
    (
        "voachinese.com",
        re.compile(r"^/a/(?:[^/?#]+/)?(\d+)\.html$"),
        lambda m: f"https://voachinese.com/a/{m[1]}",
    ),
)


def _normalize_pct(text: str) -> str:
    """Uppercase percent-escapes and decode the ones that stand for unreserved characters."""

    def fix(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    return _PCT_RE.sub(fix, text)


def _is_tracking(key: str) -> bool:
    low = unquote(key).lower()
    return low in TRACKING_PARAMS or low.startswith(TRACKING_PREFIXES)


def strip_tracking(url: str) -> str:
    """The URL without tracking parameters (utm_*, DW's maca, ...); unchanged if it has none."""
    base, sep, rest = url.partition("?")
    if not sep:
        return url
    query, hash_sep, fragment = rest.partition("#")
    parts = query.split("&")
    kept = [p for p in parts if not (p and "=" in p and _is_tracking(p.split("=", 1)[0]))]
    if len(kept) == len(parts):
        return url
    out = base + ("?" + "&".join(kept) if any(kept) else "")
    return out + (hash_sep + fragment if hash_sep else "")


def is_mirror_url(url: str) -> bool:
    """True for gfw-breaker mirror page URLs, which are not the article's identity."""
    m = re.match(r"^https?://([^/:?#]+)[^/?#]*(/[^?#]*)?", serialize_url(url))
    if not m:
        return False
    host, path = m.group(1), m.group(2) or ""
    return bool(_MIRROR_HOST_RE.match(host) and _MIRROR_PATH_RE.search(path))


def canonical_url(url: str) -> str:
    """Identity key of an article URL for exact dedup (docs/FORMAT.md); never raises."""
    s = serialize_url(url)
    m = re.match(
        r"^(https?)://(?:[^@/]*@)?([^/:?#]*|\[[^\]]*\])(?::(\d+))?([^?#]*)(?:\?([^#]*))?", s
    )
    if not m:
        return s
    scheme, host, port, path, query = m.groups()
    host = host.rstrip(".")
    for prefix in ("www.", "m."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    host = HOST_ALIASES.get(host, host)
    # http and https are one identity; an explicit port survives unless it is a default one.
    if port in ("80", "443") or (scheme == "http" and port == "80"):
        port = None
    path = _normalize_pct(re.sub(r"/{2,}", "/", path or "/"))
    pairs = []
    for part in (query or "").split("&"):
        if not part:
            continue
        key = part.split("=", 1)[0]
        if _is_tracking(key):
            continue
        pairs.append(_normalize_pct(part))
    for rule_host, pattern, build in OUTLET_RULES:
        if host == rule_host:
            hit = pattern.match(path) or (query and pattern.match(f"{path}?{query}"))
            if hit:
                return build(hit)
    out = f"https://{host}" + (f":{port}" if port else "") + path
    if pairs:
        out += "?" + "&".join(sorted(pairs))
    return out
