"""Verification of near-duplicate candidates by character-shingle overlap.

Candidates come from the index (small simhash distance, or shared anchor shingles); a pair is a
repost when one text is mostly contained in the other (containment = |A & B| / min(|A|, |B|)):
containment, not Jaccard, because a repost is often a summary or an expanded version of the
story. Texts too short to carry evidence need a near-exact match instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dedup.arrays import sorted_unique
from dedup.simhash import shingle_hashes

__all__ = ["Overlap", "common_count", "is_match", "overlap", "shingle_set"]


def shingle_set(text: str, n: int) -> np.ndarray:
    """Sorted unique 64-bit hashes of the n-gram shingles of normalized `text`."""
    return sorted_unique(shingle_hashes(text, n))


@dataclass(frozen=True)
class Overlap:
    """Shingle-set overlap of two texts."""

    size_a: int
    size_b: int
    common: int

    @property
    def containment(self) -> float:
        """Share of the smaller set found in the larger one."""
        small = min(self.size_a, self.size_b)
        return self.common / small if small else 0.0

    @property
    def jaccard(self) -> float:
        """Intersection over union."""
        union = self.size_a + self.size_b - self.common
        return self.common / union if union else 0.0


def common_count(a: np.ndarray, b: np.ndarray) -> int:
    """Size of the intersection of two sorted unique arrays.

    One binary search per element of the smaller array into the larger: no concatenation and
    re-sort as np.intersect1d does (verification runs this for every candidate).
    """
    if not a.size or not b.size:
        return 0
    small, large = (a, b) if a.size <= b.size else (b, a)
    at = large.searchsorted(small)
    at[at == large.size] = 0  # past the end: compare with any element (not equal)
    return int(np.count_nonzero(large[at] == small))


def overlap(a: np.ndarray, b: np.ndarray) -> Overlap:
    """Overlap of two sorted unique shingle-hash arrays."""
    return Overlap(int(a.size), int(b.size), common_count(a, b))


def is_match(
    ov: Overlap, *, containment: float, min_shingles: int, short_jaccard: float
) -> tuple[bool, str]:
    """Decide a candidate pair and say why (the reason names the thresholds)."""
    small = min(ov.size_a, ov.size_b)
    if small == 0:
        return False, "no text to compare"
    if small < min_shingles:
        ok = ov.jaccard >= short_jaccard
        return ok, (
            f"short text ({small} < {min_shingles} shingles): jaccard {ov.jaccard:.3f} "
            f"{'>=' if ok else '<'} {short_jaccard}"
        )
    ok = ov.containment >= containment
    return ok, f"containment {ov.containment:.3f} {'>=' if ok else '<'} {containment}"
