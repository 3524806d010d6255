"""64-bit simhash fingerprints over character n-grams of normalized text.

Features are the overlapping character n-grams of the text's word characters (letters, digits,
CJK; punctuation and spaces removed, lower-cased), which works for Chinese with no word
segmentation. Each n-gram is hashed with a polynomial over its code points and a splitmix64
finalizer; the fingerprint's bit b is set when more than half the n-grams (counted with
repetition) have bit b set, exactly as `simhash.Simhash(features, f=64)` votes.

`fingerprint` hashes all n-grams at once with numpy; `fingerprint_reference` is the same
computation in plain Python (30x slower), and tests check they agree bit for bit.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = [
    "DEFAULT_NGRAM",
    "feature_hash",
    "bit_counts",
    "codepoint_shingle_hashes",
    "feature_strings",
    "fingerprint",
    "fingerprint_hashes",
    "fingerprint_reference",
    "hamming",
    "shingle_hashes",
    "word_chars",
    "word_codepoints",
]

DEFAULT_NGRAM = 4
MASK64 = (1 << 64) - 1
# Polynomial base for the n-gram code points (odd, large: spreads all of Unicode's 21 bits).
_BASE = 0x100000001B3
# splitmix64 finalizer constants (Steele et al.): a fast, well-mixed 64-bit bijection.
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_NON_WORD = re.compile(r"[\W_]+")


def word_chars(text: str) -> str:
    """The characters fingerprints see: lower-cased word characters, nothing else."""
    return _NON_WORD.sub("", text.lower())


def _mix_py(h: int) -> int:
    h ^= h >> 30
    h = (h * _M1) & MASK64
    h ^= h >> 27
    h = (h * _M2) & MASK64
    return h ^ (h >> 31)


def feature_hash(feature: str) -> int:
    """Hash one n-gram to 64 bits (the reference for the vectorized path)."""
    h = 0
    for ch in feature:
        h = (h * _BASE + ord(ch)) & MASK64
    return _mix_py(h)


def feature_strings(text: str, n: int = DEFAULT_NGRAM) -> list[str]:
    """The n-gram features of normalized `text`, in order, with repetition."""
    chars = word_chars(text)
    if not chars:
        return []
    if len(chars) <= n:
        return [chars]
    return [chars[i : i + n] for i in range(len(chars) - n + 1)]


def word_codepoints(text: str) -> np.ndarray:
    """Code points of `word_chars(text)` (uint32; the regex leaves no lone surrogate)."""
    return np.frombuffer(word_chars(text).encode("utf-32-le"), dtype="<u4")


def shingle_hashes(text: str, n: int = DEFAULT_NGRAM) -> np.ndarray:
    """64-bit hashes of all n-gram features of `text` (uint64 array, one per feature)."""
    return codepoint_shingle_hashes(word_codepoints(text), n)


def codepoint_shingle_hashes(word_cps: np.ndarray, n: int = DEFAULT_NGRAM) -> np.ndarray:
    """`shingle_hashes` of text whose `word_codepoints` are given: `feature_hash` vectorized."""
    cps = word_cps.astype(np.uint64)
    if not cps.size:
        return np.zeros(0, dtype=np.uint64)
    width = min(n, len(cps))
    count = len(cps) - width + 1
    # Horner's rule over the n-gram windows; uint64 arithmetic wraps modulo 2**64 as the
    # reference masks.
    h = np.zeros(count, dtype=np.uint64)
    for j in range(width):
        h = h * _U_BASE + cps[j : j + count]
    # splitmix64 finalizer
    h ^= h >> np.uint64(30)
    h *= np.uint64(_M1)
    h ^= h >> np.uint64(27)
    h *= np.uint64(_M2)
    return h ^ (h >> np.uint64(31))


_U_BASE = np.uint64(_BASE)


def bit_counts(hashes: np.ndarray) -> np.ndarray:
    """How many of `hashes` have each bit set (int64[64], bit b at index b)."""
    as_bytes = np.ascontiguousarray(hashes, dtype="<u8").view(np.uint8).reshape(-1, 8)
    bits = np.unpackbits(as_bytes, axis=1, bitorder="little")  # column b = bit b
    return bits.sum(axis=0, dtype=np.int64)


# Hashes counted per bit_counts call: its unpacked bits take 64 bytes per hash, so a long
# text is counted in slices (4 MB of scratch) instead of all at once (64x the hashes' size).
_COUNT_CHUNK = 65_536


def fingerprint_hashes(hashes: np.ndarray) -> int:
    """Majority-vote simhash of precomputed feature hashes (bit set if > half have it)."""
    total = len(hashes)
    if total == 0:
        return 0
    counts = bit_counts(hashes[:_COUNT_CHUNK])
    for start in range(_COUNT_CHUNK, total, _COUNT_CHUNK):
        counts += bit_counts(hashes[start : start + _COUNT_CHUNK])
    # count > total/2 exactly when count > total//2 (integers); bit b lands in byte b//8
    majority = np.packbits(counts > total // 2, bitorder="little")
    return int.from_bytes(majority.tobytes(), "little")


def fingerprint(text: str, n: int = DEFAULT_NGRAM) -> int:
    """Simhash of normalized `text` (fast numpy path)."""
    return fingerprint_hashes(shingle_hashes(text, n))


def fingerprint_reference(text: str, n: int = DEFAULT_NGRAM) -> int:
    """Simhash of normalized `text` in plain Python: the specification of `fingerprint`."""
    feats = feature_strings(text, n)
    counts = [0] * 64
    for feat in feats:
        h = feature_hash(feat)
        for b in range(64):
            counts[b] += (h >> b) & 1
    return sum(1 << b for b in range(64) if 2 * counts[b] > len(feats))


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two fingerprints."""
    return (a ^ b).bit_count()
