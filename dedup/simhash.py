"""64-bit simhash fingerprints over character n-grams of normalized text.

Features are the overlapping character n-grams of the text's word characters (letters, digits,
CJK; punctuation and spaces removed, lower-cased), which works for Chinese with no word
segmentation. Each n-gram is hashed with a polynomial over its code points and a splitmix64
finalizer; the fingerprint's bit b is set when more than half the n-grams (counted with
repetition) have bit b set, exactly as `simhash.Simhash(features, f=64)` votes.

`fingerprint` is the fast path (numpy, all n-grams hashed at once); `fingerprint_reference`
is the same computation in plain Python, and tests check they agree bit for bit.
"""

from __future__ import annotations

import functools
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
    "word_chars_fast",
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


def word_chars_fast(text: str) -> str:
    """`word_chars` through the code-point table (equal output, tests check it)."""
    return word_codepoints(text).tobytes().decode("utf-32-le")


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


def _codepoints(chars: str) -> np.ndarray:
    return np.frombuffer(chars.encode("utf-32-le"), dtype="<u4").astype(np.uint64)


_BMP = 0x10000
_is_word_bmp: np.ndarray | None = None


def _word_table() -> np.ndarray:
    """Boolean table over the BMP: True where `_NON_WORD` does not match (built once, ~15 ms)."""
    global _is_word_bmp
    if _is_word_bmp is None:
        bmp = "".join(map(chr, range(_BMP)))
        kept = _NON_WORD.sub("", bmp)  # surrogates are \W, so `kept` encodes
        table = np.zeros(_BMP, dtype=bool)
        table[np.frombuffer(kept.encode("utf-32-le"), dtype="<u4")] = True
        _is_word_bmp = table
    return _is_word_bmp


_NOT_WORD = np.uint32(0xFFFFFFFF)
_SIGMA = "\u03a3"  # lower() depends on context (final sigma): never through the table
_lower_word_bmp: np.ndarray | None = None


def _lower_word_table() -> np.ndarray:
    """BMP code point -> code point of `word_chars(chr(cp))`, or _NOT_WORD when that is empty.

    One lookup does what `text.lower()` and the word table do: str.lower() maps every BMP
    character to one character except U+0130 (to "i" + U+0307, and U+0307 is not a word
    character) and Σ (final sigma, which depends on the neighbours: excluded by the caller).
    """
    global _lower_word_bmp
    if _lower_word_bmp is None:
        words = _word_table()
        cps = np.arange(_BMP, dtype=np.uint32)
        cps = cps[(cps < 0xD800) | (cps >= 0xE000)]  # surrogates are not characters
        singles = cps[(cps != 0x130) & (cps != 0x3A3)]
        lowered = np.frombuffer(
            singles.tobytes().decode("utf-32-le").lower().encode("utf-32-le"), dtype="<u4"
        )
        if len(lowered) != len(singles) or int(lowered.max()) >= _BMP:
            raise RuntimeError("str.lower() maps a BMP character outside the table's model")
        table = np.full(_BMP, _NOT_WORD, dtype=np.uint32)
        table[singles] = np.where(words[lowered], lowered, _NOT_WORD)
        for cp in (0x130, 0x3A3):  # 0x3A3 only for completeness: callers skip texts with Σ
            kept = word_chars(chr(cp))
            if kept:
                table[cp] = ord(kept)
        _lower_word_bmp = table
    return _lower_word_bmp


def word_codepoints(text: str) -> np.ndarray:
    """Code points of `word_chars(text)` (uint32), by table lookup instead of a regex."""
    if _SIGMA not in text:
        try:
            cps = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
        except UnicodeEncodeError:  # lone surrogates: the regex path handles them
            return np.frombuffer(word_chars(text).encode("utf-32-le", "surrogatepass"), "<u4")
        if not cps.size:
            return cps
        if int(np.maximum.reduce(cps)) < _BMP:
            # Lower-casing and the word filter in one lookup (equal to the path below).
            mapped = _lower_word_table()[cps]
            return mapped[mapped != _NOT_WORD]
    return _lowered_word_codepoints(text)


def _lowered_word_codepoints(text: str) -> np.ndarray:
    """`word_codepoints` through str.lower() and the word table (astral characters, Σ)."""
    try:
        cps = np.frombuffer(text.lower().encode("utf-32-le"), dtype="<u4")
    except UnicodeEncodeError:  # lone surrogates: the regex path handles them
        return np.frombuffer(word_chars(text).encode("utf-32-le", "surrogatepass"), "<u4")
    table = _word_table()
    if not cps.size or int(cps.max()) < _BMP:
        return cps[table[cps]]
    # Astral characters (emoji, rare CJK): outside the table, decided one distinct code point
    # at a time by the regex itself.
    bmp = cps < _BMP
    keep = np.zeros(cps.size, dtype=bool)
    keep[bmp] = table[cps[bmp]]
    for cp in set(cps[~bmp].tolist()):
        if _is_astral_word(cp):
            keep |= cps == cp
    return cps[keep]


@functools.lru_cache(maxsize=4096)
def _is_astral_word(cp: int) -> bool:
    return _NON_WORD.fullmatch(chr(cp)) is None


def shingle_hashes(text: str, n: int = DEFAULT_NGRAM) -> np.ndarray:
    """64-bit hashes of all n-gram features of `text` (uint64 array, one per feature)."""
    return codepoint_shingle_hashes(word_codepoints(text), n)


def codepoint_shingle_hashes(word_cps: np.ndarray, n: int = DEFAULT_NGRAM) -> np.ndarray:
    """`shingle_hashes` of text whose `word_codepoints` are given."""
    cps = word_cps.astype(np.uint64)
    if not cps.size:
        return np.zeros(0, dtype=np.uint64)
    width = min(n, len(cps))
    count = len(cps) - width + 1
    # uint64 arithmetic wraps modulo 2**64, as the reference masks.
    if width == 4:
        # c0*B^3 + c1*B^2 + c2*B + c3 = (c0*B + c1)*B^2 + (c2*B + c3): two passes over pairs.
        pairs = cps[:-1] * _U_BASE
        pairs += cps[1:]
        h = pairs[:count] * _U_BASE2
        h += pairs[2 : 2 + count]
    else:  # Horner's rule, in place
        h = cps[:count] * _U_BASE if width > 1 else cps[:count].copy()
        for j in range(1, width):
            h += cps[j : j + count]
            if j < width - 1:
                h *= _U_BASE
    # splitmix64 finalizer through one scratch array instead of a temporary per shift.
    tmp = np.right_shift(h, _U30)
    h ^= tmp
    h *= _U_M1
    np.right_shift(h, _U27, out=tmp)
    h ^= tmp
    h *= _U_M2
    np.right_shift(h, _U31, out=tmp)
    h ^= tmp
    return h


_U_BASE = np.uint64(_BASE)
_U_BASE2 = np.uint64(_BASE * _BASE & MASK64)
_U_M1 = np.uint64(_M1)
_U_M2 = np.uint64(_M2)
_U27, _U30, _U31 = np.uint64(27), np.uint64(30), np.uint64(31)
# Up to 255 rows of 0/1 bytes add up in uint64 byte lanes without a carry between lanes.
_LANE_ROWS = 255


def bit_counts(hashes: np.ndarray) -> np.ndarray:
    """How many of `hashes` have each bit set (int64[64], bit b at index b)."""
    total = len(hashes)
    groups = max(1, -(-total // _LANE_ROWS))
    hashes = np.ascontiguousarray(hashes, dtype="<u8")
    if groups > 1:  # zero hashes up to whole groups of 255: they add nothing to any count
        padded = np.zeros(groups * _LANE_ROWS, dtype="<u8")
        padded[:total] = hashes
        hashes = padded
    # One byte per bit (bit b of a hash lands in byte b of its 64-byte row), seen as 8 uint64
    # words per hash: adding words adds 8 bit counters at once. Row r of the (255, groups*8)
    # view holds hashes r*groups..: each column adds 255 hashes, at most 255 per byte lane.
    # (np.add.reduce, not .sum(): the method's Python wrapper costs as much as the work.)
    words = np.unpackbits(hashes.view(np.uint8), bitorder="little").view(np.uint64)
    lanes = _add(words.reshape(-1, groups * 8), axis=0)
    return _add(lanes.view(np.uint8).reshape(groups, 64), axis=0, dtype=np.int64)


_add = np.add.reduce


# Hashes counted per bit_counts call: its unpacked bits take 64 bytes per hash, so a long
# text is counted in slices (4 MB of scratch) instead of all at once (64x the hashes' size).
_COUNT_CHUNK = _LANE_ROWS * 256


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
