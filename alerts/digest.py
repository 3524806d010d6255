"""Digest periods: when a rule's batched matches are due to go out."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from conf.alerts import DigestConfig


def next_due_ms(digest: DigestConfig, now_ms: int) -> int:
    """The first period end strictly after `now_ms` (epoch ms)."""
    if digest.every is not None:
        # Periods are aligned on the epoch, so restarts do not shift them.
        period = int(digest.every * 1000)
        return (now_ms // period + 1) * period
    assert digest.daily is not None  # DigestConfig guarantees one of the two
    zone = ZoneInfo(digest.timezone)
    hour, minute = (int(part) for part in digest.daily.split(":"))
    now = datetime.fromtimestamp(now_ms / 1000, zone)
    candidate = datetime.combine(now.date(), time(hour, minute), zone)
    while candidate.timestamp() * 1000 <= now_ms:
        candidate = datetime.combine(candidate.date() + timedelta(days=1), time(hour, minute), zone)
    return int(candidate.timestamp() * 1000)
