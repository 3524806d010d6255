"""dedup's numpy paths equal plain Python, and normalization is pinned on every fixture.

normalize_text (unicodedata NFKC, OpenCC t2s, line filters) must give exactly the texts the
removed hand-written fast path gave: tests/fixtures/dedup/normalized.json holds, for every
item-format fixture, digests of its normalized body (as text and as HTML-to-text) and its
fingerprint. bit_counts, features and the array helpers are checked against straightforward
Python/numpy versions.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from fixture_items import fixture_items
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.simhash import bit_counts, fingerprint, fingerprint_reference, word_chars
from dedup.text import html_to_text, normalize_text

PINNED = Path(__file__).parent / "fixtures" / "dedup" / "normalized.json"
ITEMS = fixture_items()
TEXTS = [text for body in ITEMS.values() for text in (body, html_to_text(body))]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def test_fixture_corpus_is_not_empty() -> None:
    assert len(TEXTS) >= 100


def _line(body: str) -> list[str]:
    """The pinned values of one fixture body (a new fixture's line is computed with this)."""
    text = normalize_text(html_to_text(body))
    return [_digest(normalize_text(body)), _digest(text), f"{fingerprint(text):016x}"]


def test_normalized_texts_and_fingerprints_are_the_pinned_ones() -> None:
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert set(pinned) == set(ITEMS)  # a new fixture needs its line (see the file's provenance)
    for rel, body in ITEMS.items():
        assert _line(body) == pinned[rel], rel


def test_fingerprint_equals_the_pure_python_reference_on_every_fixture() -> None:
    for text in TEXTS[1::2]:  # the plain text of each body (the reference takes ~5 ms each)
        norm = normalize_text(text)
        assert fingerprint(norm) == fingerprint_reference(norm)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=1200))
def test_bit_counts_equal_per_bit_counting(values: list[int]) -> None:
    hashes = np.array(values, dtype=np.uint64)
    expected = [sum((v >> b) & 1 for v in values) for b in range(64)]
    assert bit_counts(hashes).tolist() == expected


def test_bit_counts_across_lane_group_sizes() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 254, 255, 256, 510, 511, 4096, 70_000):
        hashes = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64) * np.uint64(3)
        bits = (hashes[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
        assert bit_counts(hashes).tolist() == bits.sum(axis=0).tolist()


def test_features_equal_the_straightforward_computation_on_every_fixture() -> None:
    import hashlib

    from conf.dedup import DedupConfig
    from dedup.compare import features_of_text
    from dedup.index import anchors_of
    from dedup.simhash import shingle_hashes

    config = DedupConfig()
    for text in TEXTS[::3]:
        norm = normalize_text(text)
        feats = features_of_text(norm, text[:40], config)
        unique = np.unique(shingle_hashes(norm, config.ngram))
        assert np.array_equal(feats.shingles, unique)
        assert np.array_equal(
            feats.anchors, np.unique(unique[unique < (1 << 64) // config.anchor_rate])
        )
        assert np.array_equal(anchors_of(unique, config.anchor_rate), feats.anchors)
        assert feats.fingerprint == fingerprint_reference(norm)
        assert feats.text_hash == hashlib.sha1(word_chars(norm).encode("utf-8")).hexdigest()
        assert feats.length == len(word_chars(norm))
        assert feats.title == word_chars(normalize_text(text[:40]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1) | st.integers(0, 5), max_size=300))
def test_sorted_unique_and_unique_counts_equal_numpy_unique(values: list[int]) -> None:
    from dedup.arrays import sorted_unique, unique_counts

    arr = np.array(values, dtype=np.uint64)
    assert np.array_equal(sorted_unique(arr), np.unique(arr))
    got_values, got_counts = unique_counts(arr)
    want_values, want_counts = np.unique(arr, return_counts=True)
    assert np.array_equal(got_values, want_values)
    assert got_counts.tolist() == want_counts.tolist()
