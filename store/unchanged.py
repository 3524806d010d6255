"""Nothing new, nothing done: recognise a known entry whose content has not changed.

Many feed servers ignore conditional GET and restamp `<lastBuildDate>` on every request, so
every poll parses the whole feed again. An entry whose canonical URL is stored and whose
content digest equals the one recorded for it is dropped here, before sanitizing, dedup and
alert matching, and nothing is written for it. Only new or changed entries reach the ingest
step, which records each entry's digest (`ItemState.set_digest`) in the same transaction.

Two layers, cheapest first:

* `feed_digest`: the feed body's hash from its first entry on. A feed whose server only restamps
  the channel (`<lastBuildDate>`, `<pubDate>`, Atom `<updated>`) hashes the same, so the crawl
  skips it before parsing (crawler/httpstate.py, `httpstate/unchanged`).
* `entry_digest`: per entry, for feeds that did change (a new entry among known ones, or a
  server that varies something else on each request).

The entry digest covers what an item file is made of, normalized the way the file stores it: the
one-line title, the one-line body (as the source gave it, before sanitizing) and the published
time (not the first-seen time, which differs on every poll). Items stored before digests existed
have none: they take the full ingest path once and get one then.
"""

from __future__ import annotations

import hashlib
import logging
import re

from store.normalize import clean_title, one_line
from store.sqlconn import Connection
from store.state import ItemState

logger = logging.getLogger(__name__)

DIGEST_SIZE = 16  # bytes of BLAKE2b: collisions are out of reach for any archive size

# The first RSS <item> / Atom <entry> start tag, any namespace prefix (not RDF's <items>).
_FIRST_ENTRY = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]")


def feed_digest(body: bytes, *, skip_header: bool = True) -> str:
    """SHA-256 (hex) of the feed from its first entry on, or of the whole body if it has none.

    What comes before the first entry is channel metadata that no stored item is made of;
    servers restamp it on every request. `skip_header=False` hashes the whole body.
    """
    match = _FIRST_ENTRY.search(body) if skip_header else None
    return hashlib.sha256(body[match.start() :] if match else body).hexdigest()


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

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.items = ItemState(conn)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def is_unchanged(self, canonical_url: str, digest: bytes) -> bool:
        """Whether this canonical URL is stored with exactly this content digest.

        A state that cannot be read answers "no": the entry then takes the full ingest path,
        which decides (or fails) as it always did, so nothing is skipped by mistake.
        """
        try:
            return self.items.digest_of(canonical_url) == digest
        except Exception as exc:  # sqlite3.Error or psycopg.Error: either backend
            logger.warning("unchanged check skipped for %s: %s", canonical_url, exc)
            return False
