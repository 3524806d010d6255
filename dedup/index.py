"""Near-neighbour index: simhash Hamming distance <= k, plus shared anchor shingles.

Simhash route (Manku, Jain, Das Sarma 2007): the 64 bits are cut into k+1 blocks; two
fingerprints within distance k agree exactly on at least one block (pigeonhole), so one table
per block, sorted by that block's value, yields every candidate with a binary search.

Anchor route: the shingles whose hash falls below 2**64/anchor_rate ("anchors") are a
content-defined sample that is identical in both copies of a shared passage, so a summary and
its expanded version, or an article with much added text, still share anchors when their
simhashes are far apart. An anchor stored for too many items (boilerplate) is a stop-anchor and
is not looked up (`AnchorTable.query`), so a query's work does not grow with the archive.

Both routes keep flat numpy arrays (no Python object per item): sorted runs of geometrically
decreasing size and a small unsorted tail that is scanned linearly and sorted into a new run
when it grows past `tail_limit` (a size-tiered LSM layout: amortized O(log n) inserts with no
merge into the big run on the hot path, sub-millisecond queries at 10**6 items).
Persistence is one SQLite table, `dedup_fingerprints`, from which the index is rebuilt.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from dedup.arrays import sorted_unique, unique_counts

__all__ = ["AnchorTable", "Candidates", "NearIndex", "SimhashTables", "anchors_of", "create_tables"]

logger = logging.getLogger(__name__)

_TWO63 = 1 << 63
_TWO64 = 1 << 64


def _to_signed(fp: int) -> int:
    """SQLite integers are signed 64-bit."""
    return fp - _TWO64 if fp >= _TWO63 else fp


def anchors_of(shingles: np.ndarray, rate: int) -> np.ndarray:
    """The anchor shingles of a document: unique hashes below 2**64 / rate, sorted."""
    limit = np.uint64(_TWO64 // rate)
    below = shingles[shingles < limit]
    if below.size > 1 and bool(np.all(below[1:] > below[:-1])):
        return below  # already sorted and unique (shingles from features_of_text are)
    return sorted_unique(below)


# A run is merged into the previous one while that one is at most this many times larger.
_GROWTH = 4


def _sort_pairs(keys: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, positions) sorted by key, then position: one sort of packed 64-bit words.

    Much faster than argsort + two gathers for the 10**7 anchor postings of a cold start.
    """
    packed = (keys.astype(np.uint64) << np.uint64(32)) | positions.astype(np.uint64)
    packed.sort()
    return (packed >> np.uint64(32)).astype(keys.dtype), packed.astype(np.uint32)


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
    """Keys -> positions: sorted runs of geometrically decreasing size plus a small unsorted tail.

    An insert appends to the tail; a full tail is sorted into a new run, and a run is merged
    into the one before it while that one is at most `_GROWTH` times larger (size-tiered LSM).
    So a posting is re-merged O(log n) times, the big run built by a bulk load is touched only
    when the new postings add up to a fraction of it, and a query costs one binary search per
    run (O(log n) runs) plus a scan of the short tail.
    """

    def __init__(self, key_dtype: type, tail_limit: int) -> None:
        self.key_dtype = key_dtype
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, positions)
        self.tail_keys = _Grow(key_dtype, capacity=min(tail_limit, 1024))
        self.tail_pos = _Grow(np.uint32, capacity=min(tail_limit, 1024))
        self.tail_limit = tail_limit

    @property
    def keys(self) -> np.ndarray:
        """All sorted keys (tests and diagnostics; concatenates the runs)."""
        if not self.runs:
            return np.zeros(0, dtype=self.key_dtype)
        return np.sort(np.concatenate([k for k, _ in self.runs]), kind="stable")

    def add(self, keys: np.ndarray, positions: np.ndarray) -> None:
        self.tail_keys.extend(keys)
        self.tail_pos.extend(positions)
        if self.tail_keys.size >= self.tail_limit:
            self.merge()

    def merge(self) -> None:
        """Sort the tail into a new run, then merge runs of comparable size."""
        if not self.tail_keys.size:
            return
        self.runs.append(_sort_pairs(self.tail_keys.view(), self.tail_pos.view()))
        # Fresh small buffers: after a bulk load the old ones would hold the whole load.
        self.tail_keys = _Grow(self.key_dtype, capacity=min(self.tail_limit, 1024))
        self.tail_pos = _Grow(np.uint32, capacity=min(self.tail_limit, 1024))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= _GROWTH * len(self.runs[-1][0]):
            small_k, small_p = self.runs.pop()
            big_k, big_p = self.runs.pop()
            at = np.searchsorted(big_k, small_k, side="right")
            self.runs.append((np.insert(big_k, at, small_k), np.insert(big_p, at, small_p)))

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Positions stored under any of `keys` (sorted, unique) (with repetition)."""
        parts: list[np.ndarray] = []
        for run_keys, run_pos in self.runs:
            # One binary search per key; the second (end of the key's range) only for the keys
            # present, which are few: a search over 10**7 postings is mostly cache misses.
            lo = run_keys.searchsorted(keys, side="left")
            present = run_keys[np.minimum(lo, len(run_keys) - 1)] == keys
            if present.any():
                hit_keys = keys[present]
                hit_lo = lo[present]
                hit_hi = run_keys.searchsorted(hit_keys, side="right")
                parts.extend(
                    run_pos[a:b] for a, b in zip(hit_lo.tolist(), hit_hi.tolist(), strict=True)
                )
        if self.tail_keys.size:
            tail = self.tail_keys.view()
            at = keys.searchsorted(tail)
            at[at == len(keys)] = 0  # past the end: compare with any key (not equal)
            parts.append(self.tail_pos.view()[keys[at] == tail])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)

    def lookup_capped(self, keys: np.ndarray, max_per_key: int) -> tuple[np.ndarray, int]:
        """Like `lookup`, but keys stored more than `max_per_key` times are skipped.

        Returns the positions and how many keys were skipped. Postings are counted (binary
        searches per key and run) before any is gathered, so a key shared by a million items
        costs no more than a rare one.
        """
        spans: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (run positions, lo, hi)
        counts = np.zeros(len(keys), dtype=np.int64)
        for run_keys, run_pos in self.runs:
            lo = run_keys.searchsorted(keys, side="left")
            # The end of a key's range only for the keys present (few; see `lookup`).
            present = run_keys[np.minimum(lo, len(run_keys) - 1)] == keys
            if not present.any():
                continue
            hi = lo.copy()
            hi[present] = run_keys.searchsorted(keys[present], side="right")
            counts += hi - lo
            spans.append((run_pos, lo, hi))
        tail_hit = np.zeros(0, dtype=np.int64)
        tail_at = np.zeros(0, dtype=np.int64)
        if self.tail_keys.size:
            tail = self.tail_keys.view()
            at = keys.searchsorted(tail)
            at[at == len(keys)] = 0  # past the end: compare with any key (not equal)
            match = keys[at] == tail
            tail_hit, tail_at = np.flatnonzero(match), at[match]
            counts += np.bincount(tail_at, minlength=len(keys))
        allowed = counts <= max_per_key
        parts: list[np.ndarray] = []
        for run_pos, lo, hi in spans:
            keep = np.flatnonzero(allowed & (hi > lo))
            parts.extend(
                run_pos[a:b] for a, b in zip(lo[keep].tolist(), hi[keep].tolist(), strict=True)
            )
        if tail_hit.size:
            parts.append(self.tail_pos.view()[tail_hit[allowed[tail_at]]])
        stopped = int(np.count_nonzero(~allowed))
        if not parts:
            return np.zeros(0, dtype=np.uint32), stopped
        return np.concatenate(parts), stopped

    def lookup_one(self, key: int, parts: list[np.ndarray]) -> None:
        """Append to `parts` the positions stored under one key (scalar searches: no arrays)."""
        # A key of the array's own dtype: a Python int would make numpy cast the whole run.
        needle = self.key_dtype(key)
        for run_keys, run_pos in self.runs:
            lo = run_keys.searchsorted(needle, side="left")
            if lo < len(run_keys) and run_keys[lo] == needle:
                parts.append(run_pos[lo : run_keys.searchsorted(needle, side="right")])
        if self.tail_keys.size:
            parts.append(self.tail_pos.view()[self.tail_keys.view() == needle])

    def nbytes(self) -> int:
        return int(
            sum(k.nbytes + p.nbytes for k, p in self.runs)
            + self.tail_keys.data.nbytes
            + self.tail_pos.data.nbytes
        )


class SimhashTables:
    """k+1 block tables over a fingerprint array: every fingerprint within distance k."""

    def __init__(self, k: int, tail_limit: int = 256) -> None:
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
        found: list[np.ndarray] = []
        for (start, width), table in zip(self.blocks, self.tables, strict=True):
            # The same key as _keys: the block's bits, truncated to the uint32 key type.
            table.lookup_one((fp >> start) & ((1 << width) - 1) & 0xFFFFFFFF, found)
        if not found:
            empty = np.zeros(0, dtype=np.uint32)
            return empty, empty.astype(np.int64)
        cand = sorted_unique(np.concatenate(found))
        dist = np.bitwise_count(self.fps.view()[cand] ^ np.uint64(fp)).astype(np.int64)
        keep = dist <= k
        return cand[keep], dist[keep]

    def merge(self) -> None:
        for t in self.tables:
            t.merge()

    def nbytes(self) -> int:
        return int(self.fps.data.nbytes + sum(t.nbytes() for t in self.tables))


class AnchorTable:
    """Inverted list anchor hash -> positions; a candidate shares at least `min_shared` anchors."""

    def __init__(self, tail_limit: int = 2048) -> None:
        # Keys are the anchors' low 32 bits: a rare key collision only adds a candidate that
        # verification rejects, and it halves the memory per posting.
        self.table = _SortedTable(np.uint32, tail_limit)

    def add(self, position: int, anchors: np.ndarray) -> None:
        self.table.add(_anchor_keys(anchors), np.full(len(anchors), position, np.uint32))

    def query(
        self, anchors: np.ndarray, min_shared: int, max_items: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positions sharing >= min_shared anchors with the query, and how many they share.

        With `max_items`, an anchor already stored for more items than that is a stop-anchor
        (boilerplate: a dateline, an outlet's slogan, a name in every story of a month; like
        the over-full buckets an LSH index drops, or MOSS's passages seen in too many files):
        it is not looked up, so the work per query stays bounded however large the archive
        grows. The query's stop-anchors count as shared, and the other anchors must make up
        the rest of the evidence (`min_shared`, or all of the query's when it has fewer).
        """
        pos, counts, _stopped = self.query_stopped(anchors, min_shared, max_items)
        return pos, counts

    def query_stopped(
        self, anchors: np.ndarray, min_shared: int, max_items: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """`query`, plus how many of the query's anchors were stop-anchors."""
        empty = np.zeros(0, np.uint32)
        if not len(anchors):
            return empty, empty.astype(np.int64), 0
        keys = sorted_unique(_anchor_keys(anchors))
        if max_items is None:
            hits, stopped = self.table.lookup(keys), 0
        else:
            hits, stopped = self.table.lookup_capped(keys, max_items)
        if not hits.size:
            return hits, hits.astype(np.int64), stopped
        pos, counts = unique_counts(hits)
        # A stop-anchor of the query counts as shared (a copy carries the boilerplate too), so
        # a short text with one rare anchor and one common one still finds its copies.
        need = max(1, min(min_shared, len(keys)) - stopped)
        keep = counts >= need
        return pos[keep], counts[keep], stopped

    def nbytes(self) -> int:
        return self.table.nbytes()


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the index's table if missing."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS dedup_fingerprints ("
        " item_id INTEGER PRIMARY KEY, simhash INTEGER NOT NULL, anchors BLOB NOT NULL)"
    )


@dataclass(frozen=True)
class Candidates:
    """What the index knows about each candidate of one query (parallel arrays)."""

    ids: np.ndarray  # item ids (int64)
    distance: np.ndarray  # simhash Hamming distance to the query
    shared: np.ndarray  # anchors shared with the query (0 when found by simhash only)
    anchors: np.ndarray  # the candidate's own anchor count
    fingerprints: np.ndarray  # the candidates' simhashes (uint64)
    stopped: int = 0  # query anchors skipped as stop-anchors

    def __len__(self) -> int:
        return int(self.ids.size)


class NearIndex:
    """Both candidate routes over one item-id space; persisted in `dedup_fingerprints`."""

    def __init__(
        self, k: int, min_shared_anchors: int = 2, max_anchor_items: int | None = None
    ) -> None:
        if max_anchor_items is not None and max_anchor_items < 1:
            raise ValueError(f"max_anchor_items must be >= 1 (or None), got {max_anchor_items}")
        self.simhash = SimhashTables(k)
        self.anchors = AnchorTable()
        self.min_shared_anchors = min_shared_anchors
        self.max_anchor_items = max_anchor_items
        self.ids = _Grow(np.int64)
        # Anchors per item (for the engine's evidence ranking); 2 bytes per item.
        self.anchor_counts = _Grow(np.uint16)

    def __len__(self) -> int:
        return self.ids.size

    def add(self, item_id: int, fp: int, anchors: np.ndarray) -> None:
        """Index one item in memory (see `save` for the database row)."""
        position = self.ids.size
        self.ids.extend(np.array([item_id], dtype=np.int64))
        self.anchor_counts.extend(np.array([min(len(anchors), 0xFFFF)], dtype=np.uint16))
        self.simhash.add_many(np.array([fp], dtype=np.uint64))
        self.anchors.add(position, anchors)

    def candidates(self, fp: int, anchors: np.ndarray) -> Candidates:
        """Every candidate of a query: simhash distance <= k, or enough shared anchors."""
        spos, _ = self.simhash.query(fp)
        apos, shared, stopped = self.anchors.query_stopped(
            anchors, self.min_shared_anchors, self.max_anchor_items
        )
        # Both are sorted and unique; most queries have candidates by one route only.
        if not spos.size:
            pos, shared_all = apos, shared
        elif not apos.size:
            pos, shared_all = spos, np.zeros(spos.size, dtype=np.int64)
        else:
            pos = np.union1d(spos, apos)
            shared_all = np.zeros(pos.size, dtype=np.int64)
            shared_all[pos.searchsorted(apos)] = shared
        fps = self.simhash.fps.view()[pos]
        return Candidates(
            ids=self.ids.view()[pos],
            distance=np.bitwise_count(fps ^ np.uint64(fp)).astype(np.int64),
            shared=shared_all,
            anchors=self.anchor_counts.view()[pos].astype(np.int64),
            fingerprints=fps,
            stopped=stopped,
        )

    def query(self, fp: int, anchors: np.ndarray) -> dict[int, tuple[int, int]]:
        """Candidates: item id -> (Hamming distance, shared anchors)."""
        c = self.candidates(fp, anchors)
        return {
            i: (d, s)
            for i, d, s in zip(c.ids.tolist(), c.distance.tolist(), c.shared.tolist(), strict=True)
        }

    @staticmethod
    def save(conn: sqlite3.Connection, item_id: int, fp: int, anchors: np.ndarray) -> None:
        """Write one item's index row (the caller owns the transaction)."""
        conn.execute(
            "INSERT OR REPLACE INTO dedup_fingerprints (item_id, simhash, anchors) VALUES (?, ?, ?)",
            (item_id, _to_signed(fp), np.asarray(anchors, dtype="<u8").tobytes()),
        )

    @classmethod
    def load(
        cls,
        conn: sqlite3.Connection,
        k: int,
        min_shared_anchors: int = 2,
        max_anchor_items: int | None = None,
    ) -> NearIndex:
        """Rebuild the in-memory index from `dedup_fingerprints` (cold start)."""
        started = time.perf_counter()
        create_tables(conn)
        index = cls(k, min_shared_anchors, max_anchor_items)
        cursor = conn.execute(
            "SELECT item_id, simhash, anchors FROM dedup_fingerprints ORDER BY item_id"
        )
        index.load_rows(cursor)
        logger.info(
            "dedup index loaded: %d items in %.2fs", len(index), time.perf_counter() - started
        )
        return index

    def load_rows(self, cursor: sqlite3.Cursor, chunk: int = 65536) -> None:
        """Add every (item_id, signed simhash, anchors blob) row of `cursor`, then sort once.

        Rows come in big chunks and become arrays with no per-row Python work (the signed
        SQLite integers are reinterpreted as uint64 by a view): the cold start is bound by
        SQLite reading, not by the interpreter.
        """
        ids: list[np.ndarray] = []
        fps: list[np.ndarray] = []
        blobs: list[bytes] = []
        lengths: list[np.ndarray] = []
        while rows := cursor.fetchmany(chunk):
            item_ids, simhashes, anchor_blobs = zip(*rows, strict=True)
            ids.append(np.array(item_ids, dtype=np.int64))
            fps.append(np.array(simhashes, dtype=np.int64).view(np.uint64))
            blobs.append(b"".join(anchor_blobs))
            lengths.append(np.fromiter(map(len, anchor_blobs), dtype=np.int64, count=len(rows)))
        if ids:
            self._add_arrays(
                np.concatenate(ids),
                np.concatenate(fps),
                np.frombuffer(b"".join(blobs), dtype="<u8").astype(np.uint64),
                np.concatenate(lengths) // 8,
            )

    def _add_arrays(
        self, ids: np.ndarray, fps: np.ndarray, all_anchors: np.ndarray, counts: np.ndarray
    ) -> None:
        """Append items given as arrays (anchors concatenated, `counts` per item)."""
        if not ids.size:
            return
        first = self.ids.size
        self.ids.extend(ids)
        self.anchor_counts.extend(np.minimum(counts, 0xFFFF).astype(np.uint16))
        self.simhash.add_many(fps)
        positions = np.repeat(np.arange(first, first + len(ids), dtype=np.uint32), counts)
        # Each table sorts a tail that reached its limit (a bulk load: one big sorted run).
        self.anchors.table.add(_anchor_keys(all_anchors), positions)

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
        lengths = np.fromiter((len(b) // 8 for b in blobs), dtype=np.int64, count=len(blobs))
        self._add_arrays(
            np.array(ids, dtype=np.int64),
            np.array(fps, dtype=np.uint64),
            np.frombuffer(b"".join(blobs), dtype="<u8").astype(np.uint64),
            lengths,
        )

    def catch_up(self, conn: sqlite3.Connection) -> int:
        """Add rows other processes saved since this index was loaded; returns how many.

        Item ids grow monotonically (inserts are serialized by the caller's write transaction),
        so everything newer than our last id is what we are missing.
        """
        ids = self.ids.view()
        last = int(ids[-1]) if ids.size else 0
        before = self.ids.size
        cursor = conn.execute(
            "SELECT item_id, simhash, anchors FROM dedup_fingerprints WHERE item_id > ?"
            " ORDER BY item_id",
            (last,),
        )
        self.load_rows(cursor)
        return self.ids.size - before

    def nbytes(self) -> int:
        """Memory held by the index arrays."""
        return int(
            self.ids.data.nbytes
            + self.anchor_counts.data.nbytes
            + self.simhash.nbytes()
            + self.anchors.nbytes()
        )
