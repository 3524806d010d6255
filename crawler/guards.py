"""Outbound request guard: no article fetch leaves the outlet's domains or reaches a private address.

Links inside feeds are written by whoever controls the feed (or a compromised CMS, or a proxy). A
feed entry pointing at `http://169.254.169.254/` or `http://127.0.0.1:8080/admin` must not make the
crawler fetch it (server-side request forgery), and an article page that redirects to another
host must not escape the outlet's domains. `OutboundGuardMiddleware` is a downloader middleware:
every request, including the new request the RedirectMiddleware (order 600) builds for each
redirect, goes through `process_request` of every middleware again, so one check at order 60
sees redirects too.

Rules, in order:

1. A feed request (meta["feed"]) to the host AND port of its own configured URL passes: feeds
   are configured explicitly (tests serve them from 127.0.0.1). A redirect to another port of
   that host is judged by the rules below (a feed on 127.0.0.1:8001 must not reach :6379).
2. A host listed in the outlet's domains (config `domains` plus the outlet spec's `domains`)
   passes. Only config `domains` may also resolve to a private address (that is how a config
   allows a private host on purpose); a built-in domain's name must resolve public.
3. Otherwise a literal private, loopback, link-local, shared, multicast, reserved or unspecified
   IP address (also the legacy forms `127.1`, `0x7f000001`, `2130706433` and IPv4-mapped IPv6)
   or a `localhost` name is refused.
4. An article request (meta["article"]) to any host outside the outlet's domains is refused.

Host names are not resolved here (a name can be re-pointed between a check here and Twisted's
connect): `crawler.resolver.GuardedResolver`, Scrapy's TWISTED_DNS_RESOLVER, refuses private
answers at connect time. The hosts rules 1 and 2 allow by config (a feed's host and port, a
host within the config's `domains`) are registered in `POLICY`, the one list it consults.

A refused request fails with `RefusedRequest` (an `IgnoreRequest`), which the spider's errback
logs in one line; an article keeps its feed summary.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from spiders.exceptions import RefusedRequest
from spiders.feeds import host_allowed

__all__ = [
    "POLICY",
    "AddressPolicy",
    "OutboundGuardMiddleware",
    "RefusedRequest",
    "blocked_address_reason",
    "host_and_port",
]

logger = logging.getLogger(__name__)

_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# Digits, hex and dots only: the shapes inet_aton accepts (127.1, 0x7f.0.0.1, 2130706433).
_LEGACY_IPV4 = re.compile(r"^[0-9a-fA-Fx.]+$")


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


class AddressPolicy:
    """Which host names may resolve to private addresses in this process (one per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._any_port: set[str] = set()
        self._host_port: set[tuple[str, int]] = set()
        self._refused: dict[tuple[str, int], str] = {}

    @staticmethod
    def _key(host: str) -> str:
        return host.lower().rstrip(".").strip("[]")

    def allow(self, host: str, port: int | None = None) -> None:
        """Let `host` (on `port`, or on any port when None) resolve to any address."""
        with self._lock:
            if port is None:
                self._any_port.add(self._key(host))
            else:
                self._host_port.add((self._key(host), port))

    def allowed(self, host: str, port: int) -> bool:
        """Whether the config allows this host (and port) whatever it resolves to."""
        key = self._key(host)
        with self._lock:
            return key in self._any_port or (key, port) in self._host_port

    def refusal(self, host: str, port: int, addresses: Sequence[str]) -> str | None:
        """Why connecting to `host` at these addresses is refused, or None when it may go on."""
        if self.allowed(host, port):
            return None
        for address in addresses:
            reason = blocked_address_reason(address)
            if reason is not None:
                return f"it resolves to {address}, {reason}"
        return None

    def record_refusal(self, host: str, port: int, reason: str) -> bool:
        """Remember why a connection was refused; True the first time for this host and port."""
        key = (self._key(host), port)
        with self._lock:
            first = key not in self._refused
            self._refused[key] = reason
            return first

    def refused(self, host: str, port: int) -> str | None:
        """Why connections to this host and port were refused, or None."""
        with self._lock:
            return self._refused.get((self._key(host), port))


# Process-wide, as DNS resolution is: the guard of every crawl registers the hosts it allows by
# config, and crawler.resolver refuses private answers for every other name.
POLICY = AddressPolicy()

_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_and_port(url: str) -> tuple[str, int | None]:
    """The URL's host and port (the scheme's default port when none is written)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: never equal to a real one
        return (parts.hostname or "", -1)
    return (parts.hostname or "", port if port is not None else _DEFAULT_PORTS.get(parts.scheme))


def _same_host(url: str, other: str) -> bool:
    """Same host AND port: a redirect from a feed on 127.0.0.1:8001 to 127.0.0.1:6379 is not."""
    return host_and_port(url) == host_and_port(other)


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

    def _configured_domains(self) -> tuple[str, ...]:
        """The outlet's `domains` from config.yaml (not the spider's built-in ones)."""
        outlet: Any = getattr(getattr(self.crawler, "spider", None), "outlet", None)
        return tuple(getattr(outlet, "domains", None) or ())

    def process_request(self, request: Request) -> None:
        """Raise RefusedRequest for a request the rules above forbid; otherwise let it pass."""
        host, port = host_and_port(request.url)
        feed = request.meta.get("feed")
        feed_url = getattr(feed, "url", None)
        if feed_url and _same_host(request.url, feed_url):
            if port is not None:
                POLICY.allow(host, port)  # configured: may resolve to a private address
            return None
        domains = self._domains()
        if host_allowed(request.url, domains):
            if host_allowed(request.url, self._configured_domains()):
                POLICY.allow(host)  # listed in config.yaml; built-in domains must resolve public
            return None
        reason = blocked_address_reason(host)
        if reason is not None:
            self.stats.inc_value("guard/refused_address")
            raise RefusedRequest(f"refused {host}: {reason} outside the outlet's domains")
        if request.meta.get("article"):
            self.stats.inc_value("guard/refused_offsite")
            raise RefusedRequest(f"refused {host}: not one of the outlet's domains {list(domains)}")
        return None
