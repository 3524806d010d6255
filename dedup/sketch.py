"""Compact shingle sketches: what the state keeps of a stored text for verification.

A stored item keeps its exact number of distinct shingles and a bottom-k sample of them: the
shingles whose 32-bit sketch hash (the low half of the 64-bit shingle hash) is among the
`size` smallest, with `size` growing with the text (one value per `rate` shingles, at least
`min_size`). A text with at most that many shingles is kept whole, so short texts (the ones
the Jaccard guard decides) are compared exactly. For a longer one, the sample is all of its
shingles below a hash bound; the new text is known in full, so the shingles of both texts
below that bound are an exact random sample of the pair, and the overlap is estimated from
it through the smaller text's side (Broder's containment from a shared hash range). A text
fully contained in the other is always found fully contained (its sample lies inside the
other's), so copies and summaries are never lost to sampling.

Stored packed, without the values' low SKETCH_DROP bits (`Sketch.stored`): 1.2-1.7 bytes per
kept value, instead of the whole compressed text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conf.dedup import DedupConfig
from dedup.arrays import sorted_unique
from dedup.compare import Features
from dedup.verify import Overlap, common_count, is_match

__all__ = [
    "SKETCH_MIN",
    "SKETCH_RATE",
    "Sketch",
    "compare_sketch",
    "sketch_of",
    "sketch_overlap",
]

# At least this many values, one more per SKETCH_RATE shingles (measured on the labelled real
# pairs: bench/dedup_eval.py's sketch row, docs/DEDUP.md).
SKETCH_MIN = 128
SKETCH_RATE = 16
SKETCH_DROP = 12  # low bits of each sketch value the state does not keep (Sketch.stored)
_LOW32 = np.uint64(0xFFFFFFFF)


@dataclass(frozen=True)
class Sketch:
    """A stored text's shingles as verification needs them."""

    shingles: int  # distinct shingles of the whole text (exact)
    values: np.ndarray  # sorted uint32: the bottom-k sketch hashes
    # Low bits of each value not kept in storage (they read as 0): see `stored`.
    dropped: int = 0

    @property
    def complete(self) -> bool:
        """Whether every shingle is in the sample (the comparison is then exact)."""
        return self.values.size >= self.shingles

    def stored(self) -> Sketch:
        """The form the state keeps: the values without their SKETCH_DROP low bits.

        A value is only ever compared for equality with the new text's hashes cut the same
        way. ~128 values below a bound of 2**28 to 2**30 then fall in 2**16 to 2**18 slots:
        0.06-0.25 spurious common values per comparison (one value is 1/128 of containment);
        a short text kept whole spreads over 2**20 slots. The values pack into 1.2-1.7 bytes each instead of
        ~3 (store/compact.py). The evaluation table is unchanged (bench/dedup_eval.py; 8 and
        16 bits measured too: unchanged, and one borderline pair more merged).
        """
        if self.dropped >= SKETCH_DROP:
            return self
        cut = np.uint32((0xFFFFFFFF >> SKETCH_DROP) << SKETCH_DROP)
        return Sketch(self.shingles, self.values & cut, SKETCH_DROP)

    def to_stored(self) -> tuple[np.ndarray, int]:
        """(kept high bits of each value, bits dropped): what the dedup tables pack."""
        form = self.stored()
        return form.values >> np.uint32(form.dropped), form.dropped

    @classmethod
    def from_stored(cls, shingles: int, kept: np.ndarray, dropped: int) -> Sketch:
        return cls(shingles, kept.astype(np.uint32) << np.uint32(dropped), dropped)


def sketch_hashes(shingles: np.ndarray) -> np.ndarray:
    """Sorted unique 32-bit sketch hashes of 64-bit shingle hashes."""
    return sorted_unique((np.asarray(shingles, dtype=np.uint64) & _LOW32).astype(np.uint32))


def sketch_size(shingles: int) -> int:
    """How many values a text with this many distinct shingles keeps."""
    return max(SKETCH_MIN, -(-shingles // SKETCH_RATE))


def sketch_of(shingles: np.ndarray) -> Sketch:
    """The sketch of a text given its sorted unique 64-bit shingle hashes."""
    low = sketch_hashes(shingles)
    return Sketch(int(len(shingles)), low[: sketch_size(int(len(shingles)))])


def sketch_overlap(shingles: np.ndarray, stored: Sketch) -> tuple[Overlap, bool]:
    """Overlap of a text known in full (sorted unique 64-bit shingles) with a stored sketch.

    Returns the overlap (common count exact or estimated) and whether it was estimated.
    """
    n_a, n_b = int(len(shingles)), stored.shingles
    mine = sketch_hashes(shingles)
    theirs = stored.values
    if stored.dropped:  # compare with the new text's hashes cut the same way
        mine = sorted_unique(mine >> np.uint32(stored.dropped) << np.uint32(stored.dropped))
        theirs = sorted_unique(theirs)  # two values may have become one
    if stored.complete:
        return Overlap(n_a, n_b, min(common_count(mine, theirs), n_a, n_b)), False
    bound = theirs[-1]
    mine_below = mine[: int(mine.searchsorted(bound, side="right"))]
    shared = common_count(mine_below, theirs)
    # Estimate through the smaller text: its sample is the share of it found in the other.
    if n_a <= n_b:
        common = n_a * shared / mine_below.size if mine_below.size else 0.0
    else:
        common = n_b * shared / stored.values.size
    return Overlap(n_a, n_b, min(round(common), n_a, n_b)), True


def compare_sketch(
    new: Features,
    stored: Sketch,
    fingerprint: int | None,
    anchors: np.ndarray | None,
    config: DedupConfig,
) -> tuple[bool, dict[str, float], list[str]]:
    """`dedup.compare.compare` of a new item with a stored one known by its sketch.

    Same scores and reasons; `fingerprint` and `anchors` are the stored item's index entry
    (None for an item not indexed, a duplicate: no `hamming` / `shared_anchors` score). An
    estimated overlap says so in the reasons.
    """
    ov, estimated = sketch_overlap(new.shingles, stored)
    scores = {
        "containment": round(ov.containment, 4),
        "jaccard": round(ov.jaccard, 4),
        "shingles_a": float(ov.size_a),
        "shingles_b": float(ov.size_b),
    }
    reasons = []
    if fingerprint is not None:
        distance = (new.fingerprint ^ fingerprint).bit_count()
        scores["hamming"] = float(distance)
        reasons.append(f"simhash distance {distance} (index route: <= {config.simhash_k})")
    if anchors is not None:
        scores["shared_anchors"] = float(common_count(new.anchors, anchors))
        reasons.append(
            f"shared anchors {int(scores['shared_anchors'])}"
            f" (index route: >= {config.min_shared_anchors})"
        )
    ok, why = is_match(
        ov,
        containment=config.containment,
        min_shingles=config.min_shingles,
        short_jaccard=config.short_jaccard,
    )
    reasons.append(why)
    if estimated:
        reasons.append(
            f"overlap estimated from the stored item's sketch ({stored.values.size} of its"
            f" {stored.shingles} shingles)"
        )
    return ok, scores, reasons
