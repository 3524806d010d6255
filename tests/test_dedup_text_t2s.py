"""dedup.t2s: converting only the runs OpenCC could change equals OpenCC on the whole text.

The stored character sets are checked against the installed OpenCC's own dictionaries (dumped
with its bundled `opencc_dict` tool), and the run-by-run conversion against one whole-text
OpenCC call on random text built from dictionary keys, their characters and their neighbours.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from fixture_items import fixture_bodies
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import t2s, t2s_chars
from dedup.t2s import to_simplified, to_simplified_whole

needs_tool = pytest.mark.skipif(
    t2s.opencc_dict_tool() is None, reason="opencc_dict is not bundled with this opencc"
)


@functools.cache
def _entries() -> list[tuple[str, list[str]]]:
    return t2s.dictionary_entries()


@functools.cache
def _tokens() -> list[str]:
    """Dictionary keys and values (phrases and characters), plus text around them."""
    entries = _entries()
    phrases = [key for key, _ in entries if len(key) > 1]
    singles = [key for key, _ in entries if len(key) == 1]
    values = [values[0] for _, values in entries]
    rng = np.random.default_rng(3)
    pick = lambda xs, n: [xs[i] for i in rng.choice(len(xs), size=min(n, len(xs)), replace=False)]  # noqa: E731
    plain = list("的是在了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动")
    other = ["\n", " ", "，", "。", "a", "Z", "1", "\t", "\0", "「", "」", "😀", "𠀀", "\u2028"]
    return pick(phrases, 400) + pick(singles, 400) + pick(values, 200) + plain + other


@needs_tool
def test_stored_character_sets_match_the_installed_dictionaries() -> None:
    keys, changed = t2s.generate_chars()
    assert keys == t2s_chars.KEY_CHARS
    assert changed == t2s_chars.CHANGED_CHARS
    assert t2s.dictionary_digest(Path(t2s.converter().config)) == t2s_chars.DIGEST
    assert t2s.flag_table() is not None  # the fast path is on (else: regenerate t2s_chars)


@needs_tool
def test_every_changing_key_holds_a_changed_character() -> None:
    keys = set(t2s_chars.KEY_CHARS)
    changed = set(t2s_chars.CHANGED_CHARS)
    for key, values in _entries():
        assert set(key) <= keys
        if any(value != key for value in values):
            assert set(key) & changed, key
        # normalize_text relies on it: conversion touches no ASCII and no whitespace
        for value in values:
            assert all(ord(c) >= 0x80 and not c.isspace() for c in key + value), (key, value)


def test_phrase_only_characters_convert_in_context() -> None:
    # 覆, 沈 and 藉 are Simplified on their own; only the phrases change them.
    for trad, simp in (
        ("他回覆了我", "他回复了我"),
        ("意志消沈。", "意志消沉。"),
        ("找藉口", "找借口"),
    ):
        assert to_simplified(trad) == to_simplified_whole(trad) == simp
    assert to_simplified("覆盖沈先生") == to_simplified_whole("覆盖沈先生")


def test_many_changed_characters_and_plain_text() -> None:
    trad = "這是一篇繁體中文的新聞報導，說明臺灣與香港的經濟發展。" * 10
    assert to_simplified(trad) == to_simplified_whole(trad)
    assert to_simplified("纯简体文本，没有要改的字。abc") == "纯简体文本，没有要改的字。abc"
    assert to_simplified("") == ""


def test_equal_to_whole_text_conversion_on_every_fixture() -> None:
    bodies = fixture_bodies()
    assert len(bodies) >= 50
    for body in bodies:
        assert to_simplified(body) == to_simplified_whole(body)


@needs_tool
@settings(max_examples=400, deadline=None)
@given(st.data())
def test_equal_to_whole_text_conversion_on_random_text(data: st.DataObject) -> None:
    parts = data.draw(st.lists(st.sampled_from(_tokens()), max_size=60))
    text = "".join(parts)
    assert to_simplified(text) == to_simplified_whole(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x3400, max_codepoint=0x9FFF), max_size=80))
def test_equal_to_whole_text_conversion_on_random_cjk(text: str) -> None:
    assert to_simplified(text) == to_simplified_whole(text)


def test_stale_character_sets_fall_back_to_whole_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(t2s_chars, "DIGEST", "0" * 64)
    flags, keys = t2s._tables(t2s.converter())
    assert flags is None and not keys
