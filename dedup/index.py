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
when it grows past `tail_limit` (a size-tiered LSM layout: amortized O(log n) inserts,
sub-millisecond queries at 10**6 items). Merges of runs are incremental: each insert advances
them by a bounded step, and the merged run replaces its two sources only when complete, so no
insert pays for a merge into the big run (bench/bench_index.py: no operation over 50 ms).
Persistence is one table, `dedup_fingerprints` (store/dedup_tables.py, behind the storage
interface), from which the index is rebuilt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from dedup.arrays import sorted_unique, unique_counts
from store.storage import DedupStorage

__all__ = ["AnchorTable", "Candidates", "NearIndex", "SimhashTables", "anchors_of"]

logger = logging.getLogger(__name__)

_TWO64 = 1 << 64


def _chunks(
    tables: DedupStorage, after: int, size: int = 65536
) -> Iterator[list[tuple[int, int, bytes]]]:
    """The stored index rows after item id `after`, in id order, `size` at a time."""
    while rows := tables.fingerprint_rows(after, size):
        yield rows
        if len(rows) < size:
            return
        after = int(rows[-1][0])


def anchors_of(shingles: np.ndarray, rate: int) -> np.ndarray:
    """The anchor shingles of a document: unique hashes below 2**64 / rate, sorted."""
    limit = np.uint64(_TWO64 // rate)
    below = shingles[shingles < limit]
    if below.size > 1 and bool(np.all(below[1:] > below[:-1])):
        return below  # already sorted and unique (shingles from features_of_text are)
    return sorted_unique(below)


# A run is merged into the previous one while that one is at most this many times larger.
_GROWTH = 4
# Merge work, in postings moved: credited per posting inserted, spent in steps of at least
# `_STEP` (so most inserts do none and none does more than about `_STEP + credit`). A posting
# is moved about once per tier it passes, so the credit rate only has to exceed the number of
# tiers; a backlog of runs raises it (see `_SortedTable._spend`).
_CREDIT = 16
_STEP = 16384
_BACKLOG_RUNS = 24
_POS_MASK = np.uint64(0xFFFFFFFF)
_U32 = np.uint64(32)


def _pack(keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Postings as sorted 64-bit words: key in the high half, position in the low half.

    One sort of packed words is much faster than argsort + two gathers (the 10**7 anchor
    postings of a cold start), and the words are unique, so two runs can be merged in pieces
    cut at any value.
    """
    packed = (keys.astype(np.uint64) << _U32) | positions.astype(np.uint64)
    packed.sort()
    return packed


def _anchor_keys(anchors: np.ndarray) -> np.ndarray:
    return (np.asarray(anchors, dtype=np.uint64) & _POS_MASK).astype(np.uint32)


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


class _Merge:
    """Two adjacent runs being merged into one, a bounded piece at a time.

    The two runs keep serving queries until the merged run is complete and replaces them, so
    a query never sees a half-built run and no insert waits for a whole merge.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b = a, b
        self.out = np.empty(a.size + b.size, dtype=np.uint64)
        self.ia = self.ib = 0

    @property
    def done(self) -> bool:
        return self.ia + self.ib == self.out.size

    def step(self, budget: int) -> int:
        """Merge up to about `budget` postings of each run; returns how many were moved."""
        a, b, ia, ib = self.a, self.b, self.ia, self.ib
        end_a, end_b = min(ia + budget, a.size), min(ib + budget, b.size)
        # Cut both runs at the smaller of the two pieces' last values: everything below the
        # cut is in the two pieces, so the merged piece is final (words are unique).
        bounds = [x[e - 1] for x, e in ((a, end_a), (b, end_b)) if e < x.size]
        if bounds:
            cut = min(bounds)
            end_a = ia + int(a[ia:end_a].searchsorted(cut, side="right"))
            end_b = ib + int(b[ib:end_b].searchsorted(cut, side="right"))
        piece_a, piece_b = a[ia:end_a], b[ib:end_b]
        dst = self.out[ia + ib : end_a + end_b]
        at = piece_a.searchsorted(piece_b) + np.arange(piece_b.size)
        from_a = np.ones(dst.size, dtype=bool)
        from_a[at] = False
        dst[at] = piece_b
        dst[from_a] = piece_a
        self.ia, self.ib = end_a, end_b
        return dst.size


class _SortedTable:
    """Keys -> positions: sorted runs of geometrically decreasing size plus a small unsorted tail.

    An insert appends to the tail; a full tail is sorted into a new run, and a run is merged
    into the one before it when that one is at most `_GROWTH` times larger (size-tiered LSM).
    Merges are incremental: each insert earns merge credit and the pending merges advance in
    bounded steps, so no insert pays for a big merge (the stalls of a merge into the run of a
    bulk load). A query costs one binary search per run plus a scan of the short tail.
    Runs hold packed postings (`_pack`).
    """

    def __init__(self, key_dtype: type, tail_limit: int) -> None:
        self.key_dtype = key_dtype
        self.runs: list[np.ndarray] = []  # packed postings, sorted
        self.merges: list[_Merge] = []
        self.credit = 0
        self.tail_keys = _Grow(key_dtype, capacity=min(tail_limit, 1024))
        self.tail_pos = _Grow(np.uint32, capacity=min(tail_limit, 1024))
        self.tail_limit = tail_limit

    @property
    def keys(self) -> np.ndarray:
        """All sorted keys in runs (tests and diagnostics; concatenates the runs)."""
        if not self.runs:
            return np.zeros(0, dtype=self.key_dtype)
        return np.sort(np.concatenate(self.runs) >> _U32).astype(self.key_dtype)

    def add(self, keys: np.ndarray, positions: np.ndarray) -> None:
        self.tail_keys.extend(keys)
        self.tail_pos.extend(positions)
        if self.tail_keys.size >= self.tail_limit:
            self.flush()
        if self.merges:
            self.credit += _CREDIT * len(keys)
            if self.credit >= _STEP:
                self._spend()

    def flush(self) -> None:
        """Sort the tail into a new run and start the merges it calls for."""
        if not self.tail_keys.size:
            return
        self.runs.append(_pack(self.tail_keys.view(), self.tail_pos.view()))
        # Fresh small buffers: after a bulk load the old ones would hold the whole load.
        self.tail_keys = _Grow(self.key_dtype, capacity=min(self.tail_limit, 1024))
        self.tail_pos = _Grow(np.uint32, capacity=min(self.tail_limit, 1024))
        self._schedule()

    def merge(self) -> None:
        """Flush the tail and finish every merge now (bulk loads, tests)."""
        self.flush()
        while self.merges:
            self.credit = max(m.out.size for m in self.merges)
            self._spend()

    def _schedule(self) -> None:
        """Start merging each adjacent pair of idle runs of comparable size, newest first."""
        busy = {id(x) for m in self.merges for x in (m.a, m.b)}
        i = len(self.runs) - 2
        while i >= 0:
            big, small = self.runs[i], self.runs[i + 1]
            if id(big) not in busy and id(small) not in busy and big.size <= _GROWTH * small.size:
                self.merges.append(_Merge(big, small))
                busy.update((id(big), id(small)))
                i -= 2
            else:
                i -= 1

    def _spend(self) -> None:
        """Advance pending merges by the credit, smallest first (they free runs soonest)."""
        budget = self.credit
        if len(self.runs) > _BACKLOG_RUNS:  # merges fell behind: catch up faster
            budget *= 2
        self.credit = 0
        while budget > 0 and self.merges:
            m = min(self.merges, key=lambda x: x.out.size)
            budget -= m.step(budget)
            if m.done:
                self.merges.remove(m)
                at = next(i for i, r in enumerate(self.runs) if r is m.a)
                self.runs[at : at + 2] = [m.out]
                self._schedule()

    def _spans(self, keys: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(run, lo, hi) per run: run[lo[j]:hi[j]] are the postings of keys[j]."""
        # The last word of a key's range is (key, 2**32 - 1): position 2**32 - 1 is never used
        # (positions are uint32 item numbers), so searching for it gives the range's end.
        k = keys.astype(np.uint64) << _U32
        needles = np.concatenate([k, k | _POS_MASK])
        out = []
        for run in self.runs:
            ends = run.searchsorted(needles)
            out.append((run, ends[: k.size], ends[k.size :]))
        return out

    def _tail_match(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tail indexes holding one of `keys` (sorted, unique), and which key each holds."""
        tail = self.tail_keys.view()
        if not tail.size or not keys.size:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        at = keys.searchsorted(tail)
        at[at == len(keys)] = 0  # past the end: compare with any key (not equal)
        match = keys[at] == tail
        return np.flatnonzero(match), at[match]

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Positions stored under any of `keys` (sorted, unique) (with repetition)."""
        parts: list[np.ndarray] = []
        for run, lo, hi in self._spans(keys):
            for a, b in zip(lo[hi > lo].tolist(), hi[hi > lo].tolist(), strict=True):
                parts.append(run[a:b])
        found = (np.concatenate(parts) & _POS_MASK).astype(np.uint32) if parts else None
        tail_hit, _ = self._tail_match(keys)
        tail = self.tail_pos.view()[tail_hit]
        return tail if found is None else np.concatenate([found, tail])

    def lookup_capped(self, keys: np.ndarray, max_per_key: int) -> tuple[np.ndarray, int]:
        """Like `lookup`, but keys stored more than `max_per_key` times are skipped.

        Returns the positions and how many keys were skipped. Postings are counted (binary
        searches per key and run) before any is gathered, so a key shared by a million items
        costs no more than a rare one.
        """
        spans = self._spans(keys)
        counts = np.zeros(len(keys), dtype=np.int64)
        for _, lo, hi in spans:
            counts += (hi - lo).astype(np.int64)
        tail_hit, tail_at = self._tail_match(keys)
        if tail_at.size:
            counts += np.bincount(tail_at, minlength=len(keys))
        allowed = counts <= max_per_key
        parts: list[np.ndarray] = []
        for run, lo, hi in spans:
            keep = allowed & (hi > lo)
            for a, b in zip(lo[keep].tolist(), hi[keep].tolist(), strict=True):
                parts.append(run[a:b])
        found = (np.concatenate(parts) & _POS_MASK).astype(np.uint32) if parts else None
        tail = self.tail_pos.view()[tail_hit[allowed[tail_at]]]
        stopped = int(np.count_nonzero(~allowed))
        return (tail if found is None else np.concatenate([found, tail])), stopped

    def lookup_one(self, key: int, parts: list[np.ndarray]) -> None:
        """Append to `parts` the positions stored under one key."""
        needles = np.array([key << 32, key << 32 | 0xFFFFFFFF], dtype=np.uint64)  # see _spans
        for run in self.runs:
            lo, hi = run.searchsorted(needles).tolist()
            if hi > lo:
                parts.append((run[lo:hi] & _POS_MASK).astype(np.uint32))
        if self.tail_keys.size:
            parts.append(self.tail_pos.view()[self.tail_keys.view() == self.key_dtype(key)])

    def nbytes(self) -> int:
        return int(
            sum(r.nbytes for r in self.runs)
            + sum(m.out.nbytes for m in self.merges)
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
    def save(tables: DedupStorage, item_id: int, fp: int, anchors: np.ndarray) -> None:
        """Write one item's index row (the caller owns the transaction)."""
        tables.save_fingerprint(item_id, fp, anchors)

    @classmethod
    def load(
        cls,
        tables: DedupStorage,
        k: int,
        min_shared_anchors: int = 2,
        max_anchor_items: int | None = None,
    ) -> NearIndex:
        """Rebuild the in-memory index from the stored index rows (cold start)."""
        started = time.perf_counter()
        index = cls(k, min_shared_anchors, max_anchor_items)
        index.load_rows(_chunks(tables, 0))
        logger.info(
            "dedup index loaded: %d items in %.2fs", len(index), time.perf_counter() - started
        )
        return index

    def load_rows(self, chunks: Iterable[list[tuple[int, int, bytes]]]) -> None:
        """Add every (item_id, signed simhash, anchors blob) row, in chunks, then sort once.

        Rows come in big chunks and become arrays with no per-row Python work (the signed
        integers are reinterpreted as uint64 by a view): the cold start is bound by reading
        the rows, not by the interpreter.
        """
        ids: list[np.ndarray] = []
        fps: list[np.ndarray] = []
        blobs: list[bytes] = []
        lengths: list[np.ndarray] = []
        for rows in chunks:
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

    def catch_up(self, tables: DedupStorage) -> int:
        """Add rows other processes saved since this index was loaded; returns how many.

        Item ids grow monotonically (inserts are serialized by the caller's write transaction),
        so everything newer than our last id is what we are missing.
        """
        ids = self.ids.view()
        last = int(ids[-1]) if ids.size else 0
        before = self.ids.size
        self.load_rows(_chunks(tables, last))
        return self.ids.size - before

    def nbytes(self) -> int:
        """Memory held by the index arrays (with the output of merges in progress)."""
        return int(
            self.ids.data.nbytes
            + self.anchor_counts.data.nbytes
            + self.simhash.nbytes()
            + self.anchors.nbytes()
        )

    def merge_nbytes(self) -> int:
        """Memory held by the output of merges in progress (until they replace their runs)."""
        tables = [*self.simhash.tables, self.anchors.table]
        return int(sum(m.out.nbytes for t in tables for m in t.merges))

    def finish_merges(self) -> None:
        """Complete every merge in progress now (diagnostics, benchmarks)."""
        self.simhash.merge()
        self.anchors.table.merge()
