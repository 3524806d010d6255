"""The fast paths of dedup equal their straightforward versions, bit for bit.

normalize_text (whole-text pass, literal prefilters) == normalize_text_reference (line by line);
nfkc (per-character table) == unicodedata.normalize("NFKC"); word_codepoints (table) ==
word_chars (regex); bit_counts (byte-lane sums) == per-bit counting. Checked on every fixture
document of the dedup area and on random text built from the characters the filters care about.
"""

from __future__ import annotations

import unicodedata

import numpy as np
from fixture_items import fixture_bodies
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.nfkc import nfkc
from dedup.simhash import (
    bit_counts,
    fingerprint,
    fingerprint_reference,
    word_chars,
    word_chars_fast,
    word_codepoints,
)
from dedup.text import html_to_text, normalize_text, normalize_text_reference


def _fixture_texts() -> list[str]:
    """Every item-format fixture body, as HTML and as plain text."""
    return [text for body in fixture_bodies() for text in (body, html_to_text(body))]


TEXTS = _fixture_texts()

# Characters the filters, NFKC and the word table treat specially, mixed with plain text.
_SPECIAL = list(
    "分享本到获取更多RSSrss手机上长按并复制下列链接或二维码文章版权声明所有需翻墙©()[]#💥|-=:："
    "/httpsimagesweservnlgfwbreakercopyright&nbsp;"
    "ſıİKＡＢ１２，。！（）…①㈱ﬁ\u3000\xa0\u2028\u2029\x85\r\n\x0b\x0c\x1c\x1d\x1e\x1f\t "
    "e\u0301\u0301\u0327가\u1100\u1161\u11a8臺灣發展經濟這是繁體乾燥"
)
_TOKENS = [
    "分享",
    "分享到:",
    "Share",
    "获取更多RSS:",
    "手机上长按并复制下列链接或二维码分享本文章",
    "https://images.weserv.nl/?url=x.jpg",
    "//example.org/a)",
    "HTTP://x.org/y",
    "İmages.weserv.nl/z",
    "ımages.weserv.nl//q)r",
    "ximages.weserv.nl//a",
    "images.weserv.nl/a//b)c",
    "（http://a.b）",
    "[首页](https://github.com/gfw-breaker) | [b](y)",
    "](x) &nbsp;",
    "## 💥 [",
    "---",
    "===",
    "(c) 2020",
    "Copyright ",
    "版权所有",
    "版权声明:",
    "原文链接（需翻墙）",
    "\n",
    "\r\n",
    " ",
]
_text = st.lists(
    st.one_of(
        st.sampled_from(_SPECIAL),
        st.sampled_from(_TOKENS),
        st.text(max_size=8),
    ),
    max_size=60,
).map("".join)


def test_fixture_corpus_is_not_empty() -> None:
    assert len(TEXTS) >= 100


def test_normalize_equals_reference_on_every_fixture() -> None:
    for text in TEXTS:
        assert normalize_text(text) == normalize_text_reference(text)


def test_nfkc_equals_unicodedata_on_every_fixture() -> None:
    for text in TEXTS:
        assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_word_codepoints_and_fingerprint_equal_references_on_every_fixture() -> None:
    for text in TEXTS:
        norm = normalize_text(text)
        cps = word_codepoints(norm)
        assert cps.tobytes().decode("utf-32-le") == word_chars(norm)
        assert word_chars_fast(text) == word_chars(text)
        assert fingerprint(norm) == fingerprint_reference(norm)


@settings(max_examples=400, deadline=None)
@given(_text)
def test_normalize_equals_reference_on_random_text(text: str) -> None:
    assert normalize_text(text) == normalize_text_reference(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_text, st.text()))
def test_nfkc_and_word_codepoints_on_random_text(text: str) -> None:
    assert nfkc(text) == unicodedata.normalize("NFKC", text)
    assert word_codepoints(text).tobytes().decode("utf-32-le", "surrogatepass") == word_chars(text)
    if not any(0xD800 <= ord(c) < 0xE000 for c in text):
        assert word_chars_fast(text) == word_chars(text)


def test_nfkc_handles_composition_multi_char_forms_and_surrogates() -> None:
    for text in ("e\u0301", "\u1100\u1161", "……①㈱", "ﬁ", "a\ud800b", "𝐀𝟏", "\u0301x"):
        assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_word_codepoints_with_astral_characters() -> None:
    for text in ("a💥b𝐀😀中文🀄𠀀_x", "💥💥", "𝟏𝟐3", "\U0010ffff"):
        assert word_codepoints(text).tobytes().decode("utf-32-le") == word_chars(text)


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
