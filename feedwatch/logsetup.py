"""Logging for the command line: one format with timestamps, -q/-v/--log-level, --log-file.

Our own loggers (feedwatch, spiders, store, dedup, alerts, scheduler) follow the chosen level.
Scrapy's and Twisted's INFO chatter (the settings dump, enabled middlewares, stats dumps) is
shown only at DEBUG: `-v` is for what feedwatch does, `--log-level DEBUG` for everything.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Third-party loggers whose records below WARNING are noise unless the user asks for DEBUG.
CHATTY = ("scrapy", "twisted", "py.warnings", "asyncio", "filelock", "trafilatura", "htmldate")


def level_from_flags(quiet: bool, verbose: int, log_level: str | None) -> int:
    """--log-level wins; then -q (errors only), -v (INFO), -vv (DEBUG); default WARNING."""
    if log_level:
        return int(logging.getLevelName(log_level.upper()))
    if quiet:
        return logging.ERROR
    if verbose >= 2:
        return logging.DEBUG
    if verbose == 1:
        return logging.INFO
    return logging.WARNING


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at emit time, so a live progress display that
    redirects stderr prints log lines above itself instead of tearing."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current sys.stderr


class _ChatterFilter(logging.Filter):
    """Drops third-party records below WARNING unless the handler shows DEBUG."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if self.level <= logging.DEBUG or record.levelno >= logging.WARNING:
            return True
        return not record.name.startswith(CHATTY)


_installed: list[logging.Handler] = []
_root_level: list[int] = []  # the root level before configure_logging, for restore_logging


def installed() -> bool:
    """Whether configure_logging() set up the root handlers (then Scrapy must not add its own)."""
    return bool(_installed)


def configure_logging(level: int, log_file: Path | None = None) -> None:
    """Install the console handler (and a file handler) on the root logger.

    Called again (tests call main() many times), it replaces the handlers it installed before.
    Scrapy is told not to install its own root handler (LOG_INSTALL_ROOT_HANDLER in crawl.py).
    """
    restore_logging()
    root = logging.getLogger()
    _root_level.append(root.level)
    formatter = logging.Formatter(LOG_FORMAT, DATE_FORMAT)
    handlers: list[logging.Handler] = [_CurrentStderrHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setLevel(level)
        handler.setFormatter(formatter)
        handler.addFilter(_ChatterFilter(level))
        root.addHandler(handler)
        _installed.append(handler)
    root.setLevel(level)


def restore_logging() -> None:
    """Remove what configure_logging installed (main() calls it on the way out, so a test or a
    program calling main() several times keeps its own logging)."""
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
        handler.close()
    _installed.clear()
    if _root_level:
        root.setLevel(_root_level.pop())
