"""Why a request ends without a response: raised by the crawl runtime, read by the spiders."""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest


class RefusedRequest(IgnoreRequest):
    """A request the outbound guard refused (private address or host outside the domains)."""


class AlreadyStored(IgnoreRequest):
    """An article request dropped because its story is already stored (not a failure)."""
