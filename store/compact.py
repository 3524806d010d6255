"""Compact storage forms for the state: sorted integer sets and 64-bit hashes.

`pack_sorted` stores a sorted set of distinct uint32 values (a shingle sketch) in Elias-Fano
form: each value's low `l` bits fixed-width, its high bits as a unary-coded bitmap, about
`2 + log2(max / n)` bits per value instead of 32. It is lossless, and both directions are
vectorized (no Python loop per value). A blob starts with a version byte that a raw
little-endian uint32 array of the older form cannot be told from by length alone, so the old
form is recognised by the caller (its own column state), not guessed here.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["hash64", "hex64", "pack_sorted", "unpack_sorted"]

_VERSION = 1


def hash64(text: str) -> int:
    """A signed 64-bit hash of a text (what SQL integer columns hold)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def hex64(hex_digest: str) -> int:
    """The first 64 bits of a hex digest as a signed integer (a text hash stored compactly)."""
    return int.from_bytes(bytes.fromhex(hex_digest[:16].ljust(16, "0")), "big", signed=True)


def pack_sorted(values: np.ndarray) -> bytes:
    """Sorted distinct uint32 values as one Elias-Fano blob."""
    v = np.asarray(values, dtype=np.uint64)
    n = int(v.size)
    if n == 0:
        return bytes([_VERSION, 0, 0, 0, 0])
    top = int(v[-1]) + 1
    low_bits = max(0, (top // n).bit_length() - 1)
    low = v & np.uint64((1 << low_bits) - 1)
    high = (v >> np.uint64(low_bits)).astype(np.int64)
    bitmap = np.zeros(int(high[-1]) + n, dtype=np.uint8)
    bitmap[high + np.arange(n)] = 1
    if low_bits:
        shifts = np.arange(low_bits - 1, -1, -1, dtype=np.uint64)
        low_field = ((low[:, None] >> shifts) & np.uint64(1)).astype(np.uint8).ravel()
    else:
        low_field = np.zeros(0, dtype=np.uint8)
    head = bytes([_VERSION, low_bits]) + n.to_bytes(3, "little")
    return head + np.packbits(low_field).tobytes() + np.packbits(bitmap).tobytes()


def unpack_sorted(blob: bytes) -> np.ndarray:
    """The uint32 values of a `pack_sorted` blob."""
    if not blob or blob[0] != _VERSION:
        raise ValueError("not a packed sorted set")
    low_bits, n = blob[1], int.from_bytes(blob[2:5], "little")
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    low_bytes = -(-n * low_bits // 8)
    raw = np.frombuffer(blob, dtype=np.uint8, offset=5)
    if low_bits:
        field = np.unpackbits(raw[:low_bytes])[: n * low_bits].reshape(n, low_bits)
        weights = np.uint64(1) << np.arange(low_bits - 1, -1, -1, dtype=np.uint64)
        low = (field.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    else:
        low = np.zeros(n, dtype=np.uint64)
    ones = np.flatnonzero(np.unpackbits(raw[low_bytes:]))[:n]
    high = (ones - np.arange(n)).astype(np.uint64)
    return ((high << np.uint64(low_bits)) | low).astype(np.uint32)
