"""Index workloads for bench/bench_index.py: random fingerprints, and near-duplicate-heavy texts.

The realistic workload starts from the shingle sequences of the real corpus documents and
builds stories the way feeds publish them: each story is followed, a few hundred items later,
by its reposts and editions (a sentence dropped, added or rewritten, a boilerplate line
added, a summary, a Traditional-script copy that normalizes to the same text). Edits are made
on the shingle sequence in text order, so a dropped sentence removes exactly its shingles and
an added one brings new ones, as an edit of the text would (the few shingles spanning the cut
are new hashes here). Stories beyond the real documents are synthetic sequences with the real
length distribution that share real boilerplate lines, so anchors recur across stories as
datelines and slogans do. Features (simhash, anchors) are computed as dedup computes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conf.dedup import DedupConfig
from dedup.arrays import sorted_unique
from dedup.index import anchors_of
from dedup.simhash import codepoint_shingle_hashes, fingerprint_hashes, word_codepoints

__all__ = ["Workload", "random_workload", "realistic_workload"]


@dataclass
class Workload:
    """n items in arrival order: simhash and anchors (concatenated, `counts` per item)."""

    name: str
    fps: np.ndarray  # uint64
    anchors: np.ndarray  # uint64, all items' anchors concatenated
    counts: np.ndarray  # int64, anchors per item
    story: np.ndarray  # int64, the story each item belongs to (-1: unknown)

    def __len__(self) -> int:
        return int(self.fps.size)

    def offsets(self) -> np.ndarray:
        """Start of each item's anchors in `anchors` (n + 1 values)."""
        return np.concatenate([[0], np.cumsum(self.counts)])

    def blob(self, i: int, offsets: np.ndarray) -> bytes:
        """Item i's anchors as stored in `dedup_fingerprints`."""
        return self.anchors[offsets[i] : offsets[i + 1]].astype("<u8").tobytes()


def random_workload(n: int, real_counts: np.ndarray, cfg: DedupConfig, seed: int = 42) -> Workload:
    """Uniform random fingerprints, anchor counts drawn from the real distribution."""
    rng = np.random.default_rng(seed)
    fps = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    counts = rng.choice(real_counts, size=n).astype(np.int64)
    limit = (1 << 64) // cfg.anchor_rate
    anchors = rng.integers(0, limit, size=int(counts.sum()), dtype=np.uint64)
    return Workload("random", fps, anchors, counts, np.full(n, -1, dtype=np.int64))


def _sentences(seq: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Cut a shingle sequence into sentence-sized pieces (20-60 characters, as Chinese news)."""
    cuts = np.cumsum(rng.integers(20, 61, size=seq.size // 20 + 1))
    return [p for p in np.split(seq, cuts[cuts < seq.size]) if p.size]


def _variant(
    sents: list[np.ndarray], boiler: list[np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """One repost or edition of a story (sentences in text order)."""
    parts = list(sents)
    kind = rng.choice(
        ["drop", "add", "rewrite", "boiler", "summary", "script"],
        p=[0.25, 0.2, 0.2, 0.15, 0.1, 0.1],
    )
    if kind == "drop" and len(parts) > 2:
        for _ in range(int(rng.integers(1, 3))):
            parts.pop(int(rng.integers(len(parts))))
    elif kind == "add":
        parts.insert(int(rng.integers(len(parts) + 1)), _new_hashes(rng, int(rng.integers(20, 61))))
    elif kind == "rewrite":
        at = int(rng.integers(len(parts)))
        parts[at] = _new_hashes(rng, parts[at].size)
    elif kind == "boiler":
        parts.append(boiler[int(rng.integers(len(boiler)))])
    elif kind == "summary":
        keep = max(1, len(parts) // int(rng.integers(4, 9)))
        parts = parts[:keep]
    else:  # Traditional script: normalizes to the same text but for a character or two
        at = int(rng.integers(len(parts)))
        changed = min(int(rng.integers(0, 3)), parts[at].size)
        parts[at] = np.concatenate([_new_hashes(rng, changed), parts[at][changed:]])
    return np.concatenate(parts)


def _new_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)


def realistic_workload(
    n: int, texts: list[str], cfg: DedupConfig, seed: int = 7, mean_lag: float = 300.0
) -> Workload:
    """Near-duplicate-heavy items built from real normalized texts (see the module docstring)."""
    rng = np.random.default_rng(seed)
    real = [codepoint_shingle_hashes(word_codepoints(t), cfg.ngram) for t in texts]
    real = [s for s in real if s.size]
    lengths = np.array([s.size for s in real])
    # Real boilerplate: the opening and closing lines of real items (datelines, bylines, slogans).
    boiler = [s[:40] for s in real[:: max(1, len(real) // 40)]] + [
        s[-40:] for s in real[:: max(1, len(real) // 40)]
    ]
    # Stories: 1 + geometric(mean 1.5) items each, i.e. ~2.5 items per story on average.
    sizes = rng.geometric(0.4, size=n)
    stories = int(np.searchsorted(np.cumsum(sizes), n)) + 1
    sizes = sizes[:stories]
    # Arrival: stories in order; each repost or edition some hundreds of items after its story.
    arrival: list[tuple[float, int, int]] = []  # (time, story, variant number)
    for s in range(stories):
        arrival.append((float(s) * 2.5, s, 0))
        for v in range(1, int(sizes[s])):
            arrival.append((s * 2.5 + float(rng.exponential(mean_lag)), s, v))
    arrival.sort()
    arrival = arrival[:n]
    base: dict[int, list[np.ndarray]] = {}  # stories with variants still to come
    left = np.bincount([s for _, s, _ in arrival], minlength=stories)
    fps = np.zeros(n, dtype=np.uint64)
    counts = np.zeros(n, dtype=np.int64)
    story_of = np.zeros(n, dtype=np.int64)
    parts: list[np.ndarray] = []
    for i, (_, s, v) in enumerate(arrival):
        if s not in base:
            if s < len(real):
                seq = real[s]
            else:
                seq = _new_hashes(rng, int(rng.choice(lengths)))
                if rng.random() < 0.5:  # a dateline or slogan from the real items
                    seq = np.concatenate([boiler[int(rng.integers(len(boiler)))], seq])
            base[s] = _sentences(seq, rng)
        seq = np.concatenate(base[s]) if v == 0 else _variant(base[s], boiler, rng)
        left[s] -= 1
        if not left[s]:
            del base[s]
        fps[i] = fingerprint_hashes(seq)
        a = anchors_of(sorted_unique(seq), cfg.anchor_rate)
        parts.append(a)
        counts[i] = a.size
        story_of[i] = s
    anchors = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
    return Workload("realistic", fps, anchors, counts, story_of)
