"""A Scrapy CrawlerProcess that says whether a signal stopped it, and stops promptly.

Scrapy's own handlers are installed only once the reactor has started; before that, Python's
KeyboardInterrupt was raised inside the Deferreds that set the crawlers up, where Twisted logged
it as an "Unhandled error in Deferred" and carried on (the demo then finished and exited 0).
Twisted's handlers, in place while the reactor starts, stopped it as if the crawl had ended.
So this process installs its handlers as soon as it is created and runs the reactor without
Twisted's or Scrapy's: the first SIGINT/SIGTERM closes the spiders gracefully (pipelines
flush, the state is closed), a second one stops at once, and `interrupted_by` remembers the
signal, so the caller can record its runs as interrupted and raise `Interrupted`. The reactor
is stopped anyway `STOP_GRACE` seconds after the first signal: a download stalled on a slow
server would otherwise hold the graceful close until its timeout.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from feedwatch.interrupts import HANDLED_SIGNALS, Interrupted

STOP_GRACE = 5.0  # seconds a graceful close may take after the first signal


def _install(handler: Any) -> None:
    for sig in HANDLED_SIGNALS:
        if signal.getsignal(sig) != signal.SIG_IGN:  # ignored on purpose (nohup, a & job)
            signal.signal(sig, handler)


class InterruptibleCrawlerProcess(CrawlerProcess):
    """A CrawlerProcess that records the signal that stopped it and stops within STOP_GRACE."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.interrupted_by: int | None = None
        self._stopping = False  # the graceful stop has been asked of the reactor
        self._previous = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
        # From now on: a signal while the crawlers are being set up is queued for the reactor
        # (callFromThread works before it runs), never raised inside a Deferred.
        _install(self._signal_shutdown)

    def _signal_shutdown(self, signum: int, _: Any) -> None:
        if self.interrupted_by is None:
            self.interrupted_by = signum
        if "twisted.internet.reactor" not in sys.modules:
            # Too early: importing the reactor here would install Twisted's default one
            # before Scrapy installs its own. start() stops the crawl as soon as it can.
            return
        from twisted.internet import reactor

        self._stopping = True
        super()._signal_shutdown(signum, _)
        reactor.callFromThread(reactor.callLater, STOP_GRACE, self._stop_reactor)

    def _signal_kill(self, signum: int, _: Any) -> None:
        if self.interrupted_by is None:
            self.interrupted_by = signum
        super()._signal_kill(signum, _)

    def start(self, stop_after_crawl: bool = True, install_signal_handlers: bool = True) -> None:
        """Run the crawl with our handlers (installed in __init__), then restore the ones from
        before (Scrapy's, left installed, would make a later signal do nothing)."""
        try:
            if self.interrupted_by is not None and not self._stopping:
                self._signal_shutdown(self.interrupted_by, None)  # came before the reactor
            super().start(stop_after_crawl, install_signal_handlers=False)
        finally:
            self.restore_handlers()

    def restore_handlers(self) -> None:
        """Put back the handlers that were there before this process was created."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def raise_if_interrupted(self, detail: str = "") -> None:
        """Raise `Interrupted` when a signal stopped the crawl."""
        if self.interrupted_by is not None:
            raise Interrupted(self.interrupted_by, detail)
