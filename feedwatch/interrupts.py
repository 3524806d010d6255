"""Ctrl-C and SIGTERM: stop promptly, say so in one line, exit 130 / 143.

Outside a crawl, SIGINT raises KeyboardInterrupt (Python's default) and SIGTERM raises
`Interrupted`, so `import` unwinds through its open transaction (rolled back, nothing half
stored) to the one place in `feedwatch.cli` that prints the line. During a crawl, Scrapy's own
handlers run instead (see `feedwatch.crawlprocess`). No Scrapy import here: every command
installs these handlers.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupted(Exception):
    """The command was stopped by a signal; `exit_code` is 128 + its number."""

    def __init__(self, signum: int, detail: str = "") -> None:
        message = f"interrupted by {signal.Signals(signum).name}"
        super().__init__(f"{message}; {detail}" if detail else message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install_handlers() -> None:
    """SIGINT raises KeyboardInterrupt and SIGTERM raises Interrupted (main thread only).

    A signal the process inherited as ignored (`nohup`, a background job of a script) stays
    ignored, as Python itself does for SIGINT.
    """
    for sig, handler in (
        (signal.SIGINT, signal.default_int_handler),
        (signal.SIGTERM, _raise_interrupted),
    ):
        if signal.getsignal(sig) != signal.SIG_IGN:
            signal.signal(sig, handler)


@contextmanager
def handlers_installed() -> Iterator[None]:
    """`install_handlers` for the duration of a command, the previous handlers restored after."""
    previous = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
    install_handlers()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
