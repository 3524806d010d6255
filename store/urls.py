"""URL serialization (WHATWG, by the ada parser) and canonical URLs, the identity key for exact dedup.

`serialize_url` is what goes into an item file; `canonical_url` is what two captures of the same
article share (see docs/FORMAT.md, "Canonical URLs"). Neither ever raises: garbage in gives a
best-effort string out, and `is_http_url` says whether the result is usable.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

import ada_url

__all__ = [
    "GENERIC_TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "IdentityRule",
    "MirrorRule",
    "OutletUrls",
    "canonical_url",
    "is_http_url",
    "is_mirror_url",
    "register_outlet_urls",
    "serialize_url",
    "strip_tracking",
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

# Query parameters that only say where a click came from, on any site; they never select
# content. An outlet's own tracking parameters come with its spec (`OutletUrls.tracking`).
GENERIC_TRACKING_PARAMS = frozenset(
    {
        "fbclid",  # Facebook
        "gclid",  # Google Ads
        "dclid",  # Google display ads
        "msclkid",  # Microsoft Ads
        "yclid",  # Yandex
        "igshid",  # Instagram
        "mc_cid",  # Mailchimp
        "mc_eid",  # Mailchimp
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


@dataclass(frozen=True)
class IdentityRule:
    """One outlet's article identity: URLs on `host` whose path matches `path` are one article.

    `path` is a regex on the normalized path (also tried on `path?query`: some slugs end in a
    real "?"); `canonical` is the identity URL, `{0}` standing for the pattern's first group
    (the outlet's article id), so slug, language path and section changes map to one identity.
    """

    host: str  # after www./m. stripping and host aliases
    path: str
    canonical: str

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        """The compiled `path` regex."""
        return re.compile(self.path)


@dataclass(frozen=True)
class MirrorRule:
    """Pages on a matching host and path mirror another outlet's article, never are one: their
    identity comes from the page's 原文链接 line (see store.imports.parse_mirror_page)."""

    hosts: str  # regex, full match of the host
    paths: str  # regex, searched in the path


@dataclass(frozen=True)
class OutletUrls:
    """What the store needs of one outlet's URLs, declared in its spider module's spec."""

    identity: IdentityRule | None = None
    aliases: tuple[tuple[str, str], ...] = ()  # (other host, the outlet's host), after www./m.
    tracking: tuple[str, ...] = ()  # query parameters that only track clicks
    mirror: MirrorRule | None = None


@dataclass(frozen=True)
class _Rules:
    """The registered outlets' URL knowledge, merged."""

    identity: tuple[IdentityRule, ...]
    aliases: dict[str, str]
    tracking: frozenset[str]
    mirrors: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...]


_rules: _Rules | None = None


def register_outlet_urls(outlets: Iterable[OutletUrls]) -> None:
    """Install the outlets' URL rules (replacing any earlier set: registering twice is harmless).

    Called by `spiders.outlets` when it collects the outlet specs; the store cannot import the
    spiders, and canonical URLs must not depend on which modules a process happened to import.
    """
    global _rules
    outlets = tuple(outlets)
    _rules = _Rules(
        identity=tuple(o.identity for o in outlets if o.identity is not None),
        aliases={alias: host for o in outlets for alias, host in o.aliases},
        tracking=GENERIC_TRACKING_PARAMS | {p.lower() for o in outlets for p in o.tracking},
        mirrors=tuple(
            (re.compile(o.mirror.hosts), re.compile(o.mirror.paths))
            for o in outlets
            if o.mirror is not None
        ),
    )


def _registered() -> _Rules:
    """The registered rules; a process that computes identities without them is a bug."""
    if _rules is None:
        raise RuntimeError(
            "outlet URL rules are not registered: import spiders.outlets before using store.urls"
        )
    return _rules


def _normalize_pct(text: str) -> str:
    """Uppercase percent-escapes and decode the ones that stand for unreserved characters."""

    def fix(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    return _PCT_RE.sub(fix, text)


def _is_tracking(key: str, tracking: frozenset[str]) -> bool:
    low = unquote(key).lower()
    return low in tracking or low.startswith(TRACKING_PREFIXES)


def strip_tracking(url: str) -> str:
    """The URL without tracking parameters (utm_*, the outlets' own); unchanged if it has none."""
    base, sep, rest = url.partition("?")
    if not sep:
        return url
    query, hash_sep, fragment = rest.partition("#")
    parts = query.split("&")
    tracking = _registered().tracking
    kept = [p for p in parts if not (p and "=" in p and _is_tracking(p.split("=", 1)[0], tracking))]
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
    return any(
        hosts.fullmatch(host) and paths.search(path) for hosts, paths in _registered().mirrors
    )


def canonical_url(url: str) -> str:
    """Identity key of an article URL for exact dedup (docs/FORMAT.md); never raises."""
    s = serialize_url(url)
    m = re.match(
        r"^(https?)://(?:[^@/]*@)?([^/:?#]*|\[[^\]]*\])(?::(\d+))?([^?#]*)(?:\?([^#]*))?", s
    )
    if not m:
        return s
    rules = _registered()
    scheme, host, port, path, query = m.groups()
    host = host.rstrip(".")
    for prefix in ("www.", "m."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    host = rules.aliases.get(host, host)
    # http and https are one identity; an explicit port survives unless it is a default one.
    if port in ("80", "443") or (scheme == "http" and port == "80"):
        port = None
    path = _normalize_pct(re.sub(r"/{2,}", "/", path or "/"))
    pairs = []
    for part in (query or "").split("&"):
        if not part:
            continue
        key = part.split("=", 1)[0]
        if _is_tracking(key, rules.tracking):
            continue
        pairs.append(_normalize_pct(part))
    for rule in rules.identity:
        if host == rule.host:
            hit = rule.pattern.match(path) or (query and rule.pattern.match(f"{path}?{query}"))
            if hit:
                return rule.canonical.format(*hit.groups())
    out = f"https://{host}" + (f":{port}" if port else "") + path
    if pairs:
        out += "?" + "&".join(sorted(pairs))
    return out
