"""The table and in-place paths of dedup.simhash equal their references on every input.

word_codepoints looks lower-casing and the word filter up in one BMP table; these tests check
that table against `word_chars` for every BMP character (and in context for the characters
whose lower case depends on it), and the in-place n-gram hashing against `feature_hash`.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import simhash
from dedup.simhash import (
    codepoint_shingle_hashes,
    feature_hash,
    feature_strings,
    fingerprint,
    fingerprint_reference,
    word_chars,
    word_codepoints,
)

_BMP_CHARS = [chr(cp) for cp in range(0x10000) if not 0xD800 <= cp < 0xE000]


def _decoded(cps: np.ndarray) -> str:
    return cps.tobytes().decode("utf-32-le")


def test_lower_word_table_equals_word_chars_for_every_bmp_character() -> None:
    table = simhash._lower_word_table()
    for ch in _BMP_CHARS:
        if ch == "\u03a3":  # context-dependent lower case: never looked up (next test)
            continue
        kept = word_chars(ch)
        assert len(kept) <= 1, ch
        want = ord(kept) if kept else int(simhash._NOT_WORD)
        assert int(table[ord(ch)]) == want, hex(ord(ch))


def test_word_codepoints_on_all_bmp_characters_at_once() -> None:
    text = "".join(_BMP_CHARS)
    assert _decoded(word_codepoints(text)) == word_chars(text)
    no_sigma = text.replace("\u03a3", "")
    assert _decoded(word_codepoints(no_sigma)) == word_chars(no_sigma)


def test_capital_sigma_and_dotted_i_in_context() -> None:
    for text in ("ΣΑΣ Σ", "ΑΣ", "Σ", "ὈΔΥΣΣΕΎΣ", "İstanbul", "İ", "aİb", "ΣİΣ"):
        assert _decoded(word_codepoints(text)) == word_chars(text), text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0xFFFF), max_size=200))
def test_word_codepoints_on_random_bmp_text(text: str) -> None:
    got = word_codepoints(text).tobytes().decode("utf-32-le", "surrogatepass")
    assert got == word_chars(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 0x10FFFF), max_size=12),
    st.integers(1, 6),
)
def test_codepoint_hashes_equal_feature_hash(cps: list[int], n: int) -> None:
    arr = np.array(cps, dtype=np.uint32)
    got = codepoint_shingle_hashes(arr, n).tolist()
    if not cps:
        assert got == []
        return
    width = min(n, len(cps))
    grams = [cps[i : i + width] for i in range(len(cps) - width + 1)]
    assert got == [feature_hash("".join(map(chr, g))) for g in grams]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.integers(1, 5))
def test_fingerprint_equals_reference(text: str, n: int) -> None:
    assert fingerprint(text, n) == fingerprint_reference(text, n)
    assert len(simhash.shingle_hashes(text, n)) == len(feature_strings(text, n))
