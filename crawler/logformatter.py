"""Quieter Scrapy log lines: a dropped item is routine here (already stored, merged repost)."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Spider
from scrapy.http import Response
from scrapy.logformatter import LogFormatter, LogFormatterResult
from twisted.python.failure import Failure


class FeedwatchLogFormatter(LogFormatter):
    """Log drops in one short DEBUG line instead of a WARNING with the whole item."""

    def dropped(
        self,
        item: Any,
        exception: BaseException,
        response: Response | Failure | None,
        spider: Spider,
    ) -> LogFormatterResult:
        return {"level": logging.DEBUG, "msg": "dropped: %(reason)s", "args": {"reason": exception}}
