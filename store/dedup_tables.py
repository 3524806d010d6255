"""The dedup index's tables (`dedup_*`): their one owner, in portable SQL.

dedup/ decides (classify, verify, the in-memory index); this module stores what it decided, so
any database behind the storage interface can hold it (store/storage.py `DedupStorage`). Only
standard SQL with `?` parameters: the PostgreSQL store runs these same statements.

Nothing is stored twice (issue 13, state <= 1.5 KB per story):
  dedup_stories(id, item_id, key '', best_len, best_full_text, created_ms)
  dedup_items(id, url_hash, key, canonical_url, story_id, kind, outlet, seen_ms, title_hash,
              text_hash, text_len, full_text, matched_id, matched_key, scores, shingles, sketch)
      -- key NULL: the items table's URL for this canonical URL (the ingest step's items);
         the title is the items table's (and the archive's): only its hash, to tell an edited
         title; the text hash is 64 bits, not 40 hex characters; the matched item is its id
         (matched_key: only rows from before); scores are compact JSON; the sketch is packed
         (store/compact.py); the canonical URL is looked up by its 64-bit hash
  dedup_texts(item_id, text)  -- zlib texts of rows from before sketches (migrated, read-only)
  dedup_fingerprints(item_id, simhash, anchors)  -- the index rows (dedup/index.py)
  dedup_meta(name, value)
Older layouts are migrated on open (store/sqlite_migrate.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from store.compact import hash64, hex64, pack_sorted, unpack_sorted

__all__ = [
    "DEDUP_SCHEMA",
    "DedupTables",
    "MemberRecord",
    "NewDedupItem",
    "StoredRecord",
    "UrlRecord",
    "decode_scores",
    "encode_scores",
]

DEDUP_SCHEMA = """
CREATE TABLE IF NOT EXISTS dedup_stories (
    id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, key TEXT NOT NULL,
    best_len INTEGER NOT NULL, best_full_text INTEGER NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dedup_items (
    id INTEGER PRIMARY KEY, url_hash INTEGER NOT NULL, key TEXT,
    canonical_url TEXT NOT NULL, story_id INTEGER, kind TEXT NOT NULL, outlet TEXT NOT NULL,
    seen_ms INTEGER NOT NULL, title_hash INTEGER NOT NULL, text_hash INTEGER NOT NULL,
    text_len INTEGER NOT NULL, full_text INTEGER NOT NULL, matched_id INTEGER,
    matched_key TEXT, scores TEXT NOT NULL, shingles INTEGER, sketch BLOB);
CREATE INDEX IF NOT EXISTS dedup_items_url_hash ON dedup_items (url_hash);
CREATE INDEX IF NOT EXISTS dedup_items_story ON dedup_items (story_id);
CREATE TABLE IF NOT EXISTS dedup_texts (item_id INTEGER PRIMARY KEY, text BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS dedup_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dedup_fingerprints (
    item_id INTEGER PRIMARY KEY, simhash INTEGER NOT NULL, anchors BLOB NOT NULL);
"""

# The items row of a dedup row's canonical URL: its URL is the key when the key is NULL.
_ITEM_URL = "LEFT JOIN items it ON it.canonical_url = d.canonical_url"

_TWO63 = 1 << 63
_TWO64 = 1 << 64


def to_signed(value: int) -> int:
    """A uint64 as the signed 64-bit integer SQL stores."""
    return value - _TWO64 if value >= _TWO63 else value


def pack_sketch(values: np.ndarray, dropped: int) -> bytes:
    """A sketch's storage form: the bits dropped from each value, then the packed values."""
    return bytes([dropped]) + pack_sorted(values)


def encode_scores(scores: dict[str, float]) -> str:
    """Scores as compact JSON (whole numbers without a fraction)."""
    compact = {k: int(v) if float(v).is_integer() else v for k, v in scores.items()}
    return json.dumps(compact, sort_keys=True, separators=(",", ":"))


def decode_scores(text: str) -> dict[str, float]:
    """Scores as stored, old and new forms alike."""
    try:
        raw = json.loads(text)
    except ValueError:
        return {}
    return {str(k): float(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


@dataclass(frozen=True)
class NewDedupItem:
    """What the engine records about one item it classified."""

    key: str | None  # None: the items table holds it (its URL for this canonical URL)
    canonical_url: str
    story_id: int | None
    kind: str
    outlet: str
    seen_ms: int
    title: str  # normalized title: only its hash is stored
    text_hash: str  # hex digest of the normalized text: its first 64 bits are stored
    text_len: int
    full_text: bool
    matched_id: int | None
    scores: dict[str, float]
    shingles: int
    sketch: np.ndarray  # sorted uint32 sketch values, their low `sketch_dropped` bits cut off
    sketch_dropped: int = 0


@dataclass(frozen=True)
class UrlRecord:
    """The latest item recorded for a canonical URL."""

    id: int
    key: str
    story_id: int
    same_title: bool
    same_text: bool
    text_len: int


@dataclass(frozen=True)
class StoredRecord:
    """What verification reads of a stored item."""

    shingles: int | None
    sketch: np.ndarray | None  # None: a row from before sketches, see `legacy_text`
    sketch_dropped: int  # low bits cut off each sketch value before storing
    legacy_text: bytes | None  # zlib text of a row from before sketches
    anchors: bytes | None  # its index anchors (None: not indexed)


@dataclass(frozen=True)
class MemberRecord:
    """One item of a story cluster, as recorded."""

    id: int
    key: str
    kind: str
    outlet: str
    canonical_url: str
    seen_ms: int
    title: str  # from the items table ('' when the URL is not there)
    text_len: int
    full_text: bool
    matched_key: str | None
    scores: dict[str, float]


class DedupTables:
    """The `dedup_*` tables on one connection (any DB-API connection with `?` parameters)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def ensure_schema(self) -> None:
        """Create the tables if missing (a writer calls this once on open)."""
        for statement in DEDUP_SCHEMA.split(";"):
            if statement.strip():
                self.conn.execute(statement)

    # -- meta ------------------------------------------------------------------------------

    def signature(self) -> str | None:
        row = self.conn.execute("SELECT value FROM dedup_meta WHERE name = 'features'").fetchone()
        return None if row is None else str(row[0])

    def set_signature(self, value: str) -> None:
        self.conn.execute(
            "INSERT INTO dedup_meta (name, value) VALUES ('features', ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (value,),
        )

    def item_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM dedup_items").fetchone()[0])

    def refingerprint_sources(self) -> list[tuple[int, bytes | None]]:
        """Every indexed item (not a duplicate) with its legacy text, or None (sketch only)."""
        rows = self.conn.execute(
            "SELECT i.id, t.text FROM dedup_items i LEFT JOIN dedup_texts t ON t.item_id = i.id"
            " WHERE i.kind <> 'duplicate' ORDER BY i.id"
        ).fetchall()
        return [(int(i), None if t is None else bytes(t)) for i, t in rows]

    # -- classify --------------------------------------------------------------------------

    def latest_by_url(self, canonical_url: str, title: str, text_hash: str) -> UrlRecord | None:
        """The latest item of a canonical URL, compared with a new title and text hash."""
        row = self.conn.execute(
            "SELECT d.id, COALESCE(d.key, it.url, ''), d.story_id, d.title_hash, d.text_hash,"
            f" d.text_len FROM dedup_items d {_ITEM_URL}"
            " WHERE d.url_hash = ? AND d.canonical_url = ? ORDER BY d.id DESC LIMIT 1",
            (hash64(canonical_url), canonical_url),
        ).fetchone()
        if row is None:
            return None
        item_id, key, story_id, title_hash, stored_text, length = row
        return UrlRecord(
            int(item_id),
            str(key),
            int(story_id),
            int(title_hash) == hash64(title),
            int(stored_text) == hex64(text_hash),
            int(length),
        )

    def item_ref(self, item_id: int) -> tuple[str, int] | None:
        """(key, story id) of a stored item."""
        row = self.conn.execute(
            f"SELECT COALESCE(d.key, it.url, ''), d.story_id FROM dedup_items d {_ITEM_URL}"
            " WHERE d.id = ?",
            (item_id,),
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def stored(self, item_id: int) -> StoredRecord | None:
        row = self.conn.execute(
            "SELECT i.shingles, i.sketch, t.text, f.anchors FROM dedup_items i"
            " LEFT JOIN dedup_texts t ON t.item_id = i.id"
            " LEFT JOIN dedup_fingerprints f ON f.item_id = i.id WHERE i.id = ?",
            (item_id,),
        ).fetchone()
        if row is None:
            return None
        shingles, blob, text, anchors = row
        return StoredRecord(
            None if shingles is None else int(shingles),
            None if blob is None else unpack_sorted(bytes(blob)[1:]),
            0 if blob is None else bytes(blob)[0],
            None if text is None else bytes(text),
            None if anchors is None else bytes(anchors),
        )

    def fingerprint(self, item_id: int) -> int | None:
        """A stored item's simhash, unsigned (None: not indexed)."""
        row = self.conn.execute(
            "SELECT simhash FROM dedup_fingerprints WHERE item_id = ?", (item_id,)
        ).fetchone()
        return None if row is None else int(row[0]) & (_TWO64 - 1)

    def story_best(self, story_id: int) -> tuple[int, bool] | None:
        """(richness, full text) of the richest body a story has had."""
        row = self.conn.execute(
            "SELECT best_len, best_full_text FROM dedup_stories WHERE id = ?", (story_id,)
        ).fetchone()
        return None if row is None else (int(row[0]), bool(row[1]))

    # -- commit (inside the caller's transaction) ------------------------------------------

    def add_item(self, item: NewDedupItem) -> int:
        """Record one item; returns its id."""
        row = self.conn.execute(
            "INSERT INTO dedup_items (url_hash, key, canonical_url, story_id, kind, outlet,"
            " seen_ms, title_hash, text_hash, text_len, full_text, matched_id, scores,"
            " shingles, sketch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                hash64(item.canonical_url),
                item.key,
                item.canonical_url,
                item.story_id,
                item.kind,
                item.outlet,
                item.seen_ms,
                hash64(item.title),
                hex64(item.text_hash),
                item.text_len,
                int(item.full_text),
                item.matched_id,
                encode_scores(item.scores),
                item.shingles,
                pack_sketch(item.sketch, item.sketch_dropped),
            ),
        ).fetchone()
        return int(row[0])

    def add_story(self, item_id: int, best_len: int, full_text: bool, created_ms: int) -> None:
        """Make an item the first of a new story (the story's id is the item's)."""
        self.conn.execute(
            "INSERT INTO dedup_stories (id, item_id, key, best_len, best_full_text, created_ms)"
            " VALUES (?, ?, '', ?, ?, ?)",
            (item_id, item_id, best_len, int(full_text), created_ms),
        )
        self.conn.execute("UPDATE dedup_items SET story_id = ? WHERE id = ?", (item_id, item_id))

    def raise_best(self, story_id: int, best_len: int, full_text: bool) -> None:
        """A richer body joined the story."""
        self.conn.execute(
            "UPDATE dedup_stories SET"
            " best_len = CASE WHEN best_len < ? THEN ? ELSE best_len END,"
            " best_full_text = CASE WHEN best_full_text < ? THEN ? ELSE best_full_text END"
            " WHERE id = ?",
            (best_len, best_len, int(full_text), int(full_text), story_id),
        )

    def save_fingerprint(self, item_id: int, fingerprint: int, anchors: np.ndarray) -> None:
        """Write one item's index row."""
        self.conn.execute(
            "INSERT INTO dedup_fingerprints (item_id, simhash, anchors) VALUES (?, ?, ?)"
            " ON CONFLICT (item_id) DO UPDATE SET simhash = excluded.simhash,"
            " anchors = excluded.anchors",
            (item_id, to_signed(fingerprint), np.asarray(anchors, dtype="<u8").tobytes()),
        )

    def fingerprint_rows(self, after_id: int, limit: int) -> list[tuple[int, int, bytes]]:
        """(item id, signed simhash, anchors) of index rows after `after_id`, in id order."""
        # Rows as the driver gives them (int, int, bytes): a cold start of 10**6 rows does no
        # per-row Python work.
        rows: list[tuple[int, int, bytes]] = self.conn.execute(
            "SELECT item_id, simhash, anchors FROM dedup_fingerprints WHERE item_id > ?"
            " ORDER BY item_id LIMIT ?",
            (after_id, limit),
        ).fetchall()
        return rows

    # -- reading (clusters, the web view) --------------------------------------------------

    def members(self, story_id: int) -> list[MemberRecord]:
        """Every item of a story, first seen first, with its provenance."""
        rows = self.conn.execute(
            "SELECT d.id, COALESCE(d.key, it.url, ''), d.kind, d.outlet, d.canonical_url,"
            " d.seen_ms, COALESCE(it.title, ''), d.text_len, d.full_text,"
            " COALESCE(m.key, mi.url, d.matched_key), d.scores"
            f" FROM dedup_items d {_ITEM_URL}"
            " LEFT JOIN dedup_items m ON m.id = d.matched_id"
            " LEFT JOIN items mi ON mi.canonical_url = m.canonical_url AND m.key IS NULL"
            " WHERE d.story_id = ? ORDER BY d.id",
            (story_id,),
        ).fetchall()
        return [
            MemberRecord(
                int(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                str(r[4]),
                int(r[5]),
                str(r[6]),
                int(r[7]),
                bool(r[8]),
                None if r[9] is None else str(r[9]),
                decode_scores(r[10]),
            )
            for r in rows
        ]

    def merges(self) -> list[tuple[str, str, str, str, str, bool, bool]]:
        """Every repost and revision: (kind, outlet, its title, the story's outlet and title,
        title changed, text changed), against the story's first item; reposts first."""
        rows = self.conn.execute(
            """
            SELECT d.kind, d.outlet, COALESCE(i.title, s.title), s.outlet, s.title,
                   d.title_hash <> f.title_hash, d.text_hash <> f.text_hash
            FROM dedup_items d
            JOIN items s ON s.id = (SELECT MIN(id) FROM items WHERE story_id = d.story_id)
            JOIN dedup_items f
              ON f.id = (SELECT MIN(id) FROM dedup_items WHERE story_id = d.story_id)
            LEFT JOIN items i ON i.canonical_url = d.canonical_url AND d.kind = 'repost'
            WHERE d.kind IN ('repost', 'revision')
            ORDER BY d.kind, d.id
            """
        ).fetchall()
        return [
            (str(a), str(b), str(c), str(d), str(e), bool(f), bool(g))
            for a, b, c, d, e, f, g in rows
        ]

    def outlet_stories(self, outlet: str) -> tuple[int, int]:
        """(stories an outlet brought first, of them still known only by a summary)."""
        row = self.conn.execute(
            "SELECT COUNT(*), SUM(CASE WHEN s.best_full_text = 0 THEN 1 ELSE 0 END)"
            " FROM dedup_stories s JOIN dedup_items i ON i.id = s.item_id WHERE i.outlet = ?",
            (outlet,),
        ).fetchone()
        return int(row[0] or 0), int(row[1] or 0)

    def rows_after(self, after_id: int) -> list[tuple[int, int | None, str]]:
        """(id, story id, kind) of the items recorded after `after_id`, in order."""
        rows = self.conn.execute(
            "SELECT id, story_id, kind FROM dedup_items WHERE id > ? ORDER BY id", (after_id,)
        ).fetchall()
        return [(int(i), None if s is None else int(s), str(k)) for i, s, k in rows]
