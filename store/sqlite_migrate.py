"""Older SQLite state layouts, brought to the current one in place when a state is opened.

SQLite-only code (it reads the schema with PRAGMA); a PostgreSQL state starts in the current
layout. Each step runs in one write transaction and checks again once it holds the write lock,
so two processes opening an old state at the same moment migrate it once. Nothing stored is
dropped: what a new layout no longer keeps in a row is kept in the form it now has (a title as
its hash, beside the items table's title; a text from before sketches in `dedup_texts`).
"""

from __future__ import annotations

import logging
import sqlite3

import numpy as np

from store.compact import hash64, hex64
from store.dedup_tables import DEDUP_SCHEMA, decode_scores, encode_scores, pack_sketch

logger = logging.getLogger(__name__)

_CHUNK = 5000


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The columns of a table (empty when it does not exist)."""
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def migrate(conn: sqlite3.Connection) -> None:
    """Bring every table of an older layout to the current one."""
    if "title" in columns(conn, "dedup_items"):
        _locked(conn, _dedup_items_v3)


def _locked(conn: sqlite3.Connection, step: object) -> None:
    """Run a migration step in its own write transaction (or the caller's open one)."""
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        step(conn)  # type: ignore[operator]
    except BaseException:
        if own:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")


def _dedup_items_v3(conn: sqlite3.Connection) -> None:
    """dedup_items with title, hex text hash, matched key, zlib text or raw sketch: compact."""
    old = columns(conn, "dedup_items")
    if "title" not in old:
        return  # another process migrated it while we waited for the lock
    count = conn.execute("SELECT COUNT(*) FROM dedup_items").fetchone()[0]
    logger.warning(
        "state: migrating %d dedup rows to the compact layout (about %d s, once, in one"
        " transaction: other processes' writes wait)",
        count,
        count // 10_000,
    )
    conn.execute("ALTER TABLE dedup_items RENAME TO dedup_items_old")
    conn.execute("DROP INDEX IF EXISTS dedup_items_url")
    conn.execute("DROP INDEX IF EXISTS dedup_items_story")
    for statement in DEDUP_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    sketch_cols = "shingles, sketch" if {"shingles", "sketch"} <= old else "NULL, NULL"
    last = 0
    while True:
        rows = conn.execute(
            "SELECT id, key, canonical_url, story_id, kind, outlet, seen_ms, title, text_hash,"
            f" text_len, full_text, matched_key, scores, text, {sketch_cols}"
            " FROM dedup_items_old WHERE id > ? ORDER BY id LIMIT ?",
            (last, _CHUNK),
        ).fetchall()
        if not rows:
            break
        last = rows[-1][0]
        new_rows, texts = [], []
        for (
            item_id,
            key,
            url,
            story,
            kind,
            outlet,
            seen,
            title,
            text_hash,
            length,
            full,
            matched,
            scores,
            text,
            shingles,
            sketch,
        ) in rows:
            packed = None
            if sketch is not None:
                packed = pack_sketch(np.frombuffer(bytes(sketch), dtype="<u4"), 0)
            if text:  # a row from before sketches: its text is what verification reads
                texts.append((item_id, bytes(text)))
            new_rows.append(
                (
                    item_id,
                    hash64(url),
                    key,
                    url,
                    story,
                    kind,
                    outlet,
                    seen,
                    hash64(title),
                    hex64(text_hash),
                    length,
                    full,
                    matched,
                    encode_scores(decode_scores(scores)),
                    shingles,
                    packed,
                )
            )
        conn.executemany(
            "INSERT INTO dedup_items (id, url_hash, key, canonical_url, story_id, kind, outlet,"
            " seen_ms, title_hash, text_hash, text_len, full_text, matched_key, scores,"
            " shingles, sketch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            new_rows,
        )
        conn.executemany("INSERT INTO dedup_texts (item_id, text) VALUES (?, ?)", texts)
    conn.execute("DROP TABLE dedup_items_old")
