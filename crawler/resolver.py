"""DNS resolution that refuses private answers: the outbound guard's check at connect time.

`crawler.guards.OutboundGuardMiddleware` judges a request by its URL, so it cannot know what a
host name resolves to. A feed link to `http://intranet.example.com/` whose DNS answer is
`10.0.0.5` (or a name that answers a public address first and `127.0.0.1` a second later: DNS
rebinding) would reach the private network. This resolver is Scrapy's `TWISTED_DNS_RESOLVER`:
Twisted's `HostnameEndpoint` asks it for the addresses it then connects to, so the addresses
checked here are exactly the ones connected to; nothing can change in between.

A name whose answer holds any private, loopback, link-local, shared, multicast, reserved or
unspecified address (`guards.blocked_address_reason`) yields no address, so the connection fails
with a DNS lookup error, which `RefusedAddressMiddleware` turns into a `RefusedRequest` naming
the address (not retried; the spider logs it in one line; an article keeps its feed summary).
Allowed by config, and so resolved as they are:

- a configured feed's own host and port (the guard registers each feed request it passes;
  `feedwatch fetch URL` counts the URL as configured), so tests and local feeds keep working;
- a host within an outlet's configured `domains` (any port): how a config allows a private host;
- the hosts of the proxies in the environment (`http_proxy`...): Scrapy connects to those.

The answers are cached as Scrapy's `CachingHostnameResolver` does; the check runs on every
resolution, cached or not. With `FEEDWATCH_GUARD_ENABLED` off nothing is refused.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.exceptions import CannotResolveHostError, NotConfigured
from scrapy.resolver import CachingHostnameResolver
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import (
    IAddress,
    IHostResolution,
    IResolutionReceiver,
)
from zope.interface import implementer

from crawler.guards import POLICY, AddressPolicy, RefusedRequest, host_and_port

__all__ = ["GuardedResolver", "RefusedAddressMiddleware"]

logger = logging.getLogger(__name__)


def _allow_environment_proxies(policy: AddressPolicy) -> None:
    """Scrapy's HttpProxyMiddleware connects to these: a proxy on 10.x is the user's choice."""
    for url in urllib.request.getproxies().values():
        host = urlsplit(url).hostname
        if host:
            policy.allow(host)


@implementer(IResolutionReceiver)
class _CheckingReceiver:
    """Holds the addresses back until the answer is complete, then passes all of them or none."""

    def __init__(self, receiver: Any, host: str, port: int, policy: AddressPolicy) -> None:
        self.receiver = receiver
        self.host = host
        self.port = port
        self.policy = policy
        self.addresses: list[IAddress] = []

    def resolutionBegan(self, resolution: IHostResolution) -> None:  # noqa: N802 - Twisted API
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:  # noqa: N802 - Twisted API
        self.addresses.append(address)

    def resolutionComplete(self) -> None:  # noqa: N802 - Twisted API
        hosts = [str(getattr(address, "host", "")) for address in self.addresses]
        reason = self.policy.refusal(self.host, self.port, hosts)
        if reason is None:
            for address in self.addresses:
                self.receiver.addressResolved(address)
        elif self.policy.record_refusal(self.host, self.port, reason):
            # The request's own line comes from RefusedAddressMiddleware and the spider.
            logger.info("refused to connect to %s:%d: %s", self.host, self.port, reason)
        self.receiver.resolutionComplete()


class GuardedResolver(CachingHostnameResolver):
    """Scrapy's caching hostname resolver, refusing private answers for hosts not allowed."""

    def __init__(self, reactor: Any, cache_size: int, enforce: bool = True) -> None:
        super().__init__(reactor, cache_size)
        self.enforce = enforce
        self.policy = POLICY
        _allow_environment_proxies(self.policy)

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        # Scrapy passes the CrawlerProcess here: process-wide settings.
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(reactor, cache_size, settings.getbool("FEEDWATCH_GUARD_ENABLED", True))

    def resolveHostName(  # noqa: N802 - Twisted API
        self,
        resolutionReceiver: IResolutionReceiver,  # noqa: N803 - Twisted API
        hostName: str,  # noqa: N803
        portNumber: int = 0,  # noqa: N803
        addressTypes: Sequence[type[IAddress]] | None = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> IHostResolution:
        """Resolve as Scrapy does; the answer reaches the connecting endpoint only if allowed."""
        receiver: Any = resolutionReceiver
        if self.enforce:
            receiver = _CheckingReceiver(resolutionReceiver, hostName, portNumber, self.policy)
        return super().resolveHostName(
            receiver, hostName, portNumber, addressTypes, transportSemantics
        )


class RefusedAddressMiddleware:
    """Turn the failed lookup of a refused name into RefusedRequest: one clear line, no retry.

    A downloader middleware placed after RetryMiddleware (order 940 > 550), so it sees the
    exception first: the name is not looked up twice more, and the spider's errback names the
    address and why it was refused, as for a refusal by the guard itself.
    """

    def __init__(self, crawler: Any) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Any) -> RefusedAddressMiddleware:
        if not crawler.settings.getbool("FEEDWATCH_GUARD_ENABLED", True):
            raise NotConfigured("FEEDWATCH_GUARD_ENABLED is off")
        return cls(crawler)

    def process_exception(self, request: Request, exception: Exception) -> None:
        """Raise RefusedRequest when the lookup failed because GuardedResolver refused it."""
        if not isinstance(exception, (CannotResolveHostError, DNSLookupError)):
            return None
        host, port = host_and_port(request.url)
        reason = POLICY.refused(host, port) if port is not None else None
        if reason is None:
            return None  # a real DNS failure: retried and reported as before
        self.stats.inc_value("guard/refused_resolved")
        raise RefusedRequest(f"refused {host}:{port}: {reason}, not allowed by the config")
