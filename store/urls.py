"""URL serialization (WHATWG) and canonical URLs, the identity key for exact dedup.

`serialize_url` is what goes into an item file; `canonical_url` is what two captures of the same
article share (see docs/FORMAT.md, "Canonical URLs"). Neither ever raises: garbage in gives a
best-effort string out, and `is_http_url` says whether the result is usable.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from urllib.parse import unquote

import idna

__all__ = [
    "OUTLET_RULES",
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonical_url",
    "is_http_url",
    "is_mirror_url",
    "serialize_url",
]

_SPECIAL_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21"}
_SPECIAL = set(_SPECIAL_PORTS) | {"file"}

# WHATWG percent-encode sets (https://url.spec.whatwg.org/#percent-encoded-bytes), on top of
# the C0 control set (< 0x20, 0x7F and everything non-ASCII).
_FRAGMENT_SET = frozenset(' "<>`')
_QUERY_SET = frozenset(' "#<>')
_SPECIAL_QUERY_SET = _QUERY_SET | {"'"}
_PATH_SET = _QUERY_SET | frozenset("?`{}")
_USERINFO_SET = _PATH_SET | frozenset("/:;=@[\\]^|")

_HEX = frozenset(string.hexdigits)
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.DOTALL)
_PCT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")


def _encode(text: str, extra: frozenset[str]) -> str:
    """Percent-encode `text` with a WHATWG set; existing %XX (and lone %) are left as they are."""
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code >= 0x7F or ch in extra:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
        else:
            out.append(ch)
    return "".join(out)


def _serialize_host(host: str) -> str:
    """Lowercase, percent-decode and IDNA-encode a host; best effort on invalid names."""
    if host.startswith("["):  # IPv6 literal: keep as typed, lowercased
        return host.lower()
    decoded = unquote(host).rstrip(".") if "%" in host else host
    if decoded.isascii():
        return decoded.lower()
    try:
        return idna.encode(decoded, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        # Not a valid IDN: keep something readable and URL-safe rather than failing.
        return _encode(decoded.lower(), frozenset(" "))


def _resolve_dots(segments: list[str]) -> list[str]:
    """Apply WHATWG single-dot and double-dot path segment rules."""
    out: list[str] = []
    for i, seg in enumerate(segments):
        low = seg.lower()
        last = i == len(segments) - 1
        if low in ("..", ".%2e", "%2e.", "%2e%2e"):
            if out:
                out.pop()
            if last:
                out.append("")
        elif low in (".", "%2e"):
            if last:
                out.append("")
        else:
            out.append(seg)
    return out


def serialize_url(url: str) -> str:
    """Serialize `url` as the WHATWG URL serializer would; idempotent and never raises."""
    try:
        return _serialize(url)
    except Exception:  # contract: never raise on garbage input, return a best effort
        return _encode(str(url).strip(), frozenset(" "))


def _serialize(url: str) -> str:
    text = url.strip("".join(chr(c) for c in range(0x21)))
    text = text.replace("\t", "").replace("\n", "").replace("\r", "")
    m = _SCHEME_RE.match(text)
    if not m:
        return _encode(text, frozenset(" "))
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme not in _SPECIAL:
        # Opaque or non-special URL: only the C0 control set applies (plus space for safety).
        return f"{scheme}:{_encode(rest, frozenset(' '))}"
    rest = rest.replace("\\", "/")
    rest = rest.lstrip("/")
    fragment: str | None = None
    if "#" in rest:
        rest, fragment = rest.split("#", 1)
    query: str | None = None
    if "?" in rest:
        rest, query = rest.split("?", 1)
    authority, slash, path = rest.partition("/")
    path = slash + path
    userinfo = ""
    if "@" in authority:
        creds, authority = authority.rsplit("@", 1)
        user, _, password = creds.partition(":")
        userinfo = _encode(user, _USERINFO_SET)
        if password:
            userinfo += ":" + _encode(password, _USERINFO_SET)
        if userinfo:
            userinfo += "@"
    host, port = authority, ""
    port_match = re.match(r"^(.*?):(\d*)$", authority)
    if port_match and not authority.endswith("]"):
        host, port = port_match.group(1), port_match.group(2)
    if port:
        port = port.lstrip("0") or "0"
        if port == _SPECIAL_PORTS.get(scheme):
            port = ""
    out = f"{scheme}://{userinfo}{_serialize_host(host)}"
    if port:
        out += ":" + port
    segments = _resolve_dots(path.split("/")[1:]) if path else [""]
    out += "/" + "/".join(_encode(s, _PATH_SET) for s in segments)
    if query is not None:
        out += "?" + _encode(query, _SPECIAL_QUERY_SET)
    if fragment is not None:
        out += "#" + _encode(fragment, _FRAGMENT_SET)
    return out


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
