"""Near-neighbour index: simhash Hamming distance <= k, plus shared anchor shingles.

Simhash route (Manku, Jain, Das Sarma 2007): the 64 bits are cut into k+1 blocks; two
fingerprints within distance k agree exactly on at least one block (pigeonhole), so one table
per block, sorted by that block's value, yields every candidate with a binary search.

Anchor route: the shingles whose hash falls below 2**64/anchor_rate ("anchors") are a
content-defined sample that is identical in both copies of a shared passage, so a summary and
its expanded version, or an article with much added text, still share anchors when their
simhashes are far apart.

Both routes keep flat numpy arrays (no Python object per item) in two parts: a sorted main part
and a small unsorted tail that is scanned linearly and merged into the main part when it grows
past `tail_limit` (an LSM layout: O(1) inserts, sub-millisecond queries at 10**6 items).
Persistence is one SQLite table, `dedup_fingerprints`, from which the index is rebuilt.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable

import numpy as np

__all__ = ["AnchorTable", "NearIndex", "SimhashTables", "anchors_of", "create_tables"]

logger = logging.getLogger(__name__)

_TWO63 = 1 << 63
_TWO64 = 1 << 64


def _to_signed(fp: int) -> int:
    """SQLite integers are signed 64-bit."""
    return fp - _TWO64 if fp >= _TWO63 else fp


def _to_unsigned(v: int) -> int:
    return v + _TWO64 if v < 0 else v


def anchors_of(shingles: np.ndarray, rate: int) -> np.ndarray:
    """The anchor shingles of a document: unique hashes below 2**64 / rate, sorted."""
    limit = np.uint64(_TWO64 // rate)
    return np.unique(shingles[shingles < limit])


def _anchor_keys(anchors: np.ndarray) -> np.ndarray:
    return (np.asarray(anchors, dtype=np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


class _Grow:
    """A growable 1-D numpy array (amortized O(1) append; grows by 1/4 to keep slack memory small)."""

    def __init__(self, dtype: np.dtype | type, capacity: int = 1024) -> None:
        self.data = np.zeros(capacity, dtype=dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.size + len(values)
        if need > len(self.data):
            new = np.zeros(max(need, len(self.data) + len(self.data) // 4), dtype=self.data.dtype)
            new[: self.size] = self.data[: self.size]
            self.data = new
        self.data[self.size : need] = values
        self.size = need

    def view(self) -> np.ndarray:
        return self.data[: self.size]


class _SortedTable:
    """Sorted keys -> positions, with an unsorted tail merged in batches."""

    def __init__(self, key_dtype: type, tail_limit: int) -> None:
        self.keys = np.zeros(0, dtype=key_dtype)
        self.pos = np.zeros(0, dtype=np.uint32)
        self.tail_keys = _Grow(key_dtype)
        self.tail_pos = _Grow(np.uint32)
        self.tail_limit = tail_limit

    def add(self, keys: np.ndarray, positions: np.ndarray) -> None:
        self.tail_keys.extend(keys)
        self.tail_pos.extend(positions)
        if self.tail_keys.size >= self.tail_limit:
            self.merge()

    def merge(self) -> None:
        """Fold the tail into the sorted part."""
        if not self.tail_keys.size:
            return
        tk, tp = self.tail_keys.view(), self.tail_pos.view()
        order = np.argsort(tk, kind="stable")
        tk, tp = tk[order], tp[order]
        at = np.searchsorted(self.keys, tk, side="right")
        self.keys = np.insert(self.keys, at, tk)
        self.pos = np.insert(self.pos, at, tp)
        # Drop the tail's buffers too: after a bulk load they would otherwise hold the whole load.
        self.tail_keys = _Grow(self.keys.dtype)
        self.tail_pos = _Grow(np.uint32)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Positions stored under any of `keys` (with repetition)."""
        lo = np.searchsorted(self.keys, keys, side="left")
        hi = np.searchsorted(self.keys, keys, side="right")
        parts = [self.pos[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True) if b > a]
        if self.tail_keys.size:
            parts.append(self.tail_pos.view()[np.isin(self.tail_keys.view(), keys)])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)

    def nbytes(self) -> int:
        return int(
            self.keys.nbytes
            + self.pos.nbytes
            + self.tail_keys.data.nbytes
            + self.tail_pos.data.nbytes
        )


class SimhashTables:
    """k+1 block tables over a fingerprint array: every fingerprint within distance k."""

    def __init__(self, k: int, tail_limit: int = 2048) -> None:
        if not 0 <= k <= 15:
            raise ValueError(f"simhash k must be 0..15 (one table per block, k+1 blocks), got {k}")
        self.k = k
        edges = np.linspace(0, 64, k + 2).round().astype(int)
        self.blocks = [(int(a), int(b - a)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        self.fps = _Grow(np.uint64)
        self.tables = [_SortedTable(np.uint32, tail_limit) for _ in self.blocks]

    def _keys(self, fps: np.ndarray, block: tuple[int, int]) -> np.ndarray:
        start, width = block
        mask = np.uint64((1 << width) - 1)
        return ((fps >> np.uint64(start)) & mask).astype(np.uint32)

    def add_many(self, fps: np.ndarray) -> None:
        """Append fingerprints; their positions are the next free ones."""
        fps = np.asarray(fps, dtype=np.uint64)
        first = self.fps.size
        self.fps.extend(fps)
        positions = np.arange(first, first + len(fps), dtype=np.uint32)
        for block, table in zip(self.blocks, self.tables, strict=True):
            table.add(self._keys(fps, block), positions)

    def query(self, fp: int, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions and distances of fingerprints within distance k (default: the table k)."""
        k = self.k if k is None else min(k, self.k)
        q = np.array([fp], dtype=np.uint64)
        found = [t.lookup(self._keys(q, b)) for b, t in zip(self.blocks, self.tables, strict=True)]
        cand = np.unique(np.concatenate(found))
        if not cand.size:
            return cand, cand.astype(np.int64)
        dist = np.bitwise_count(self.fps.view()[cand] ^ q[0]).astype(np.int64)
        keep = dist <= k
        return cand[keep], dist[keep]

    def merge(self) -> None:
        for t in self.tables:
            t.merge()

    def nbytes(self) -> int:
        return int(self.fps.data.nbytes + sum(t.nbytes() for t in self.tables))


class AnchorTable:
    """Inverted list anchor hash -> positions; a candidate shares at least `min_shared` anchors."""

    def __init__(self, tail_limit: int = 16384) -> None:
        # Keys are the anchors' low 32 bits: a rare key collision only adds a candidate that
        # verification rejects, and it halves the memory per posting.
        self.table = _SortedTable(np.uint32, tail_limit)

    def add(self, position: int, anchors: np.ndarray) -> None:
        self.table.add(_anchor_keys(anchors), np.full(len(anchors), position, np.uint32))

    def query(self, anchors: np.ndarray, min_shared: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions sharing >= min_shared anchors with the query, and how many they share."""
        if not len(anchors):
            return np.zeros(0, np.uint32), np.zeros(0, np.int64)
        hits = self.table.lookup(_anchor_keys(anchors))
        if not hits.size:
            return hits, hits.astype(np.int64)
        pos, counts = np.unique(hits, return_counts=True)
        need = min(min_shared, len(anchors))
        keep = counts >= need
        return pos[keep], counts[keep]

    def nbytes(self) -> int:
        return self.table.nbytes()


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the index's table if missing."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS dedup_fingerprints ("
        " item_id INTEGER PRIMARY KEY, simhash INTEGER NOT NULL, anchors BLOB NOT NULL)"
    )


class NearIndex:
    """Both candidate routes over one item-id space; persisted in `dedup_fingerprints`."""

    def __init__(self, k: int, min_shared_anchors: int = 2) -> None:
        self.simhash = SimhashTables(k)
        self.anchors = AnchorTable()
        self.min_shared_anchors = min_shared_anchors
        self.ids = _Grow(np.int64)

    def __len__(self) -> int:
        return self.ids.size

    def add(self, item_id: int, fp: int, anchors: np.ndarray) -> None:
        """Index one item in memory (see `save` for the database row)."""
        position = self.ids.size
        self.ids.extend(np.array([item_id], dtype=np.int64))
        self.simhash.add_many(np.array([fp], dtype=np.uint64))
        self.anchors.add(position, anchors)

    def query(self, fp: int, anchors: np.ndarray) -> dict[int, tuple[int, int]]:
        """Candidates: item id -> (Hamming distance, shared anchors)."""
        ids = self.ids.view()
        out: dict[int, tuple[int, int]] = {}
        pos, dist = self.simhash.query(fp)
        for p, d in zip(pos.tolist(), dist.tolist(), strict=True):
            out[int(ids[p])] = (d, 0)
        apos, shared = self.anchors.query(anchors, self.min_shared_anchors)
        fps = self.simhash.fps.view()
        for p, s in zip(apos.tolist(), shared.tolist(), strict=True):
            item = int(ids[p])
            d = out[item][0] if item in out else (int(fps[p]) ^ fp).bit_count()
            out[item] = (d, s)
        return out

    @staticmethod
    def save(conn: sqlite3.Connection, item_id: int, fp: int, anchors: np.ndarray) -> None:
        """Write one item's index row (the caller owns the transaction)."""
        conn.execute(
            "INSERT OR REPLACE INTO dedup_fingerprints (item_id, simhash, anchors) VALUES (?, ?, ?)",
            (item_id, _to_signed(fp), np.asarray(anchors, dtype="<u8").tobytes()),
        )

    @classmethod
    def load(cls, conn: sqlite3.Connection, k: int, min_shared_anchors: int = 2) -> NearIndex:
        """Rebuild the in-memory index from `dedup_fingerprints` (cold start)."""
        started = time.perf_counter()
        create_tables(conn)
        index = cls(k, min_shared_anchors)
        rows = conn.execute(
            "SELECT item_id, simhash, anchors FROM dedup_fingerprints ORDER BY item_id"
        )
        index.bulk_load((r[0], _to_unsigned(r[1]), r[2]) for r in rows)
        logger.info(
            "dedup index loaded: %d items in %.2fs", len(index), time.perf_counter() - started
        )
        return index

    def bulk_load(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        """Add many (item_id, fingerprint, anchors bytes) at once, then sort once."""
        ids: list[int] = []
        fps: list[int] = []
        blobs: list[bytes] = []
        for item_id, fp, blob in rows:
            ids.append(item_id)
            fps.append(fp)
            blobs.append(blob)
        if not ids:
            return
        first = self.ids.size
        self.ids.extend(np.array(ids, dtype=np.int64))
        self.simhash.add_many(np.array(fps, dtype=np.uint64))
        lengths = np.fromiter((len(b) // 8 for b in blobs), dtype=np.int64, count=len(blobs))
        all_anchors = np.frombuffer(b"".join(blobs), dtype="<u8").astype(np.uint64)
        positions = np.repeat(np.arange(first, first + len(ids), dtype=np.uint32), lengths)
        self.anchors.table.add(_anchor_keys(all_anchors), positions)
        self.simhash.merge()
        self.anchors.table.merge()

    def catch_up(self, conn: sqlite3.Connection) -> int:
        """Add rows other processes saved since this index was loaded; returns how many.

        Item ids grow monotonically (inserts are serialized by the caller's write transaction),
        so everything newer than our last id is what we are missing.
        """
        ids = self.ids.view()
        last = int(ids[-1]) if ids.size else 0
        rows = conn.execute(
            "SELECT item_id, simhash, anchors FROM dedup_fingerprints WHERE item_id > ?"
            " ORDER BY item_id",
            (last,),
        ).fetchall()
        if rows:
            self.bulk_load((r[0], _to_unsigned(r[1]), r[2]) for r in rows)
        return len(rows)

    def nbytes(self) -> int:
        """Memory held by the index arrays."""
        return int(self.ids.data.nbytes + self.simhash.nbytes() + self.anchors.nbytes())
