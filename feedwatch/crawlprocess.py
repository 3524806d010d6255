"""A Scrapy CrawlerProcess that says whether a signal stopped it, and stops promptly.

Scrapy's handlers: the first SIGINT/SIGTERM closes the spiders gracefully (pipelines flush, the
state is closed), a second one stops at once. `InterruptibleCrawlerProcess` remembers which
signal came, so the caller can record its runs as interrupted and raise `Interrupted`, and it
stops the reactor itself when the graceful close takes longer than `STOP_GRACE` seconds (a
download stalled on a slow server would otherwise hold the process until its timeout).
"""

from __future__ import annotations

import signal
from typing import Any

from scrapy.crawler import CrawlerProcess

from feedwatch.interrupts import Interrupted

STOP_GRACE = 5.0  # seconds a graceful close may take after the first signal


class InterruptibleCrawlerProcess(CrawlerProcess):
    """A CrawlerProcess that records the signal that stopped it and stops within STOP_GRACE."""

    interrupted_by: int | None = None

    def _signal_shutdown(self, signum: int, _: Any) -> None:
        from twisted.internet import reactor

        if self.interrupted_by is None:
            self.interrupted_by = signum
        super()._signal_shutdown(signum, _)
        reactor.callFromThread(reactor.callLater, STOP_GRACE, self._stop_reactor)

    def _signal_kill(self, signum: int, _: Any) -> None:
        if self.interrupted_by is None:
            self.interrupted_by = signum
        super()._signal_kill(signum, _)

    def start(self, stop_after_crawl: bool = True, install_signal_handlers: bool = True) -> None:
        """Run the crawl; afterwards the handlers from before are back (Scrapy's own, left
        installed, would make a later signal do nothing: the demo went on printing)."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            super().start(stop_after_crawl, install_signal_handlers)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def raise_if_interrupted(self, detail: str = "") -> None:
        """Raise `Interrupted` when a signal stopped the crawl."""
        if self.interrupted_by is not None:
            raise Interrupted(self.interrupted_by, detail)
