"""Nothing new, nothing done: recognise a known entry whose content has not changed.

Many feed servers ignore conditional GET and restamp `<lastBuildDate>` on every request, so
every poll parses the whole feed again. An entry whose canonical URL is stored and whose
content digest equals the one recorded for it is dropped here, before sanitizing, dedup and
alert matching, and nothing is written for it. Only new or changed entries reach the ingest
step, which records each entry's digest (`ItemState.set_digest`) in the same transaction.

The digest covers what an item file is made of, normalized the way the file stores it: the
one-line title, the one-line body (as the source gave it, before sanitizing) and the published
time (not the first-seen time, which differs on every poll). Items stored before digests existed
have none: they take the full ingest path once and get one then.
"""

from __future__ import annotations

import hashlib
import sqlite3

from store.normalize import clean_title, one_line
from store.state import ItemState

DIGEST_SIZE = 16  # bytes of BLAKE2b: collisions are out of reach for any archive size


def entry_digest(title: str, body_html: str, published_ms: int | None) -> bytes:
    """The content digest of an entry: normalized title, body and published time."""
    h = hashlib.blake2b(digest_size=DIGEST_SIZE)
    h.update(clean_title(title).encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(one_line(body_html).encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(b"" if published_ms is None else str(published_ms).encode())
    return h.digest()


class UnchangedCheck:
    """Read-only check on its own state connection (the crawl thread's, not the writer's)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.items = ItemState(conn)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def is_unchanged(self, canonical_url: str, digest: bytes) -> bool:
        """Whether this canonical URL is stored with exactly this content digest."""
        return self.items.digest_of(canonical_url) == digest
