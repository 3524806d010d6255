"""Outbound request guard: no article fetch leaves the outlet's domains or reaches a private address.

Links inside feeds are written by whoever controls the feed (or a compromised CMS, or a proxy). A
feed entry pointing at `http://169.254.169.254/` or `http://127.0.0.1:8080/admin` must not make the
crawler fetch it (server-side request forgery), and an article page that redirects to another
host must not escape the outlet's domains. `OutboundGuardMiddleware` is a downloader middleware:
every request, including the new request the RedirectMiddleware (order 600) builds for each
redirect, goes through `process_request` of every middleware again, so one check at order 60
sees redirects too.

Rules, in order:

1. A feed request (meta["feed"]) to the host of its own configured URL passes: feeds are
   configured explicitly (tests serve them from 127.0.0.1).
2. A host listed in the outlet's domains (config `domains` plus the spider's `default_domains`)
   passes, whatever its address: that is how a config allows a private host on purpose.
3. Otherwise a literal private, loopback, link-local, shared, multicast, reserved or unspecified
   IP address (also the legacy forms `127.1`, `0x7f000001`, `2130706433` and IPv4-mapped IPv6)
   or a `localhost` name is refused.
4. An article request (meta["article"]) to any host outside the outlet's domains is refused.

Host names are not resolved (resolving would need DNS in tests and replays, and a name can be
re-pointed between our check and Twisted's connect anyway): a public name that resolves to a
private address is not caught here; see docs/RELIABILITY.md.

A refused request fails with `RefusedRequest` (an `IgnoreRequest`), which the spider's errback
logs in one line; an article keeps its feed summary.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured

from spiders.feeds import host_allowed

__all__ = ["OutboundGuardMiddleware", "RefusedRequest", "blocked_address_reason"]

logger = logging.getLogger(__name__)

_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# Digits, hex and dots only: the shapes inet_aton accepts (127.1, 0x7f.0.0.1, 2130706433).
_LEGACY_IPV4 = re.compile(r"^[0-9a-fA-Fx.]+$")


class RefusedRequest(IgnoreRequest):
    """A request the outbound guard refused (private address or host outside the domains)."""


def _parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a host string denotes literally (no DNS), or None for a name."""
    text = host.strip("[]").split("%", 1)[0]  # IPv6 brackets and zone ids
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(text) and any(c.isdigit() for c in text):
        try:
            # inet_aton parses the legacy forms getaddrinfo would accept; it never queries DNS.
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def blocked_address_reason(host: str) -> str | None:
    """Why a host must not be fetched from links in feeds ("loopback address", ...), or None."""
    host = host.lower().rstrip(".")
    if not host:
        return "empty host"
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return "a localhost name"
    ip = _parse_ip(host)
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attribute, label in (
        ("is_loopback", "loopback"),
        ("is_private", "private"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, attribute):
            return f"a {label} address"
    if not ip.is_global:
        return "a non-global address"  # e.g. 100.64.0.0/10 carrier-grade NAT
    return None


def _same_host(url: str, other: str) -> bool:
    return (urlsplit(url).hostname or "") == (urlsplit(other).hostname or "")


class OutboundGuardMiddleware:
    """Refuse article/page requests to private addresses or outside the outlet's domains."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> OutboundGuardMiddleware:
        if not crawler.settings.getbool("FEEDWATCH_GUARD_ENABLED", True):
            raise NotConfigured("FEEDWATCH_GUARD_ENABLED is off")
        return cls(crawler)

    def _domains(self) -> tuple[str, ...]:
        spider: Any = getattr(self.crawler, "spider", None)
        article_domains = getattr(spider, "article_domains", None)
        return tuple(article_domains()) if callable(article_domains) else ()

    def process_request(self, request: Request) -> None:
        """Raise RefusedRequest for a request the rules above forbid; otherwise let it pass."""
        feed = request.meta.get("feed")
        feed_url = getattr(feed, "url", None)
        if feed_url and _same_host(request.url, feed_url):
            return None
        domains = self._domains()
        if host_allowed(request.url, domains):
            return None
        host = urlsplit(request.url).hostname or ""
        reason = blocked_address_reason(host)
        if reason is not None:
            self.stats.inc_value("guard/refused_address")
            raise RefusedRequest(f"refused {host}: {reason} outside the outlet's domains")
        if request.meta.get("article"):
            self.stats.inc_value("guard/refused_offsite")
            raise RefusedRequest(f"refused {host}: not one of the outlet's domains {list(domains)}")
        return None
