"""Stable alert ids: the same alert, re-sent, carries the same id, so a receiver can drop it.

Derived from what the alert is about, not from a database row number: a match is its rule and
the story's canonical URL, a digest its rule and period. The id survives a re-send after a
crash, a restart, and a state database rebuilt from the archive (row ids would start again at
1 and collide with ids a receiver has already seen).
"""

from __future__ import annotations

import hashlib

__all__ = ["alert_id_for"]

PREFIX = "fw-"


def alert_id_for(*parts: str) -> str:
    """`fw-` and 20 hex digits of the SHA-256 of the parts (NUL-separated, so never ambiguous)."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()
    return PREFIX + digest[:20]
