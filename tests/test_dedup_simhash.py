"""Tests for dedup.simhash: pinned fingerprints, fast path == references, and the index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import simhash as simhash_pkg
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.index import NearIndex, SimhashTables, anchors_of
from dedup.simhash import (
    codepoint_shingle_hashes,
    feature_hash,
    feature_strings,
    fingerprint,
    fingerprint_reference,
    hamming,
    shingle_hashes,
)
from dedup.text import html_to_text, normalize_text
from store.imports import read_item_file
from store.sqlite import SQLiteState

FIXTURES = Path(__file__).parent / "fixtures" / "dedup"


def _fixture_texts() -> list[tuple[str, str]]:
    paths = sorted(
        p for p in FIXTURES.rglob("*") if p.suffix in (".md", ".txt") and p.name != "PROVENANCE.md"
    )
    return [(p.name, normalize_text(html_to_text(read_item_file(p).body))) for p in paths]


# Pinned values (trafilatura style): a change of features, hash or normalization shows here.
PINNED = {
    "dw_copyright.md": 0x6CF9030F08F0C02B,
    "feed_n12428731.md": 0x7762CB5A77EE5920,
    "mirror_n12428731.md": 0x7742CB5A77EE5120,
    "rfi_feedx_share_1000000.md": 0x36B9C591A474EF52,
    "voa_seed_003.txt": 0xC3F1414024F858CD,
}


def test_pinned_fingerprints() -> None:
    texts = dict(_fixture_texts())
    for name, value in PINNED.items():
        assert fingerprint(texts[name]) == value, name
    assert fingerprint("七国集团外长会议周三在东京闭幕") == 0x11621220DC0000B9
    assert fingerprint("") == 0


def test_fast_path_equals_references_on_every_fixture() -> None:
    texts = _fixture_texts()
    assert len(texts) >= 5
    for name, text in texts:
        fast = fingerprint(text)
        assert fast == fingerprint_reference(text), name
        # the simhash package's own vote over the same features and hash function
        pkg = simhash_pkg.Simhash(
            feature_strings(text), f=64, hashfunc=lambda b: feature_hash(b.decode("utf-8"))
        ).value
        assert fast == pkg, name


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=0, max_size=60), st.integers(min_value=2, max_value=6))
def test_fast_path_equals_reference_on_any_text(text: str, n: int) -> None:
    assert fingerprint(text, n) == fingerprint_reference(text, n)
    hashes = shingle_hashes(text, n)
    assert hashes.tolist() == [feature_hash(f) for f in feature_strings(text, n)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 0x10FFFF), max_size=12), st.integers(1, 6))
def test_codepoint_hashes_equal_feature_hash(cps: list[int], n: int) -> None:
    got = codepoint_shingle_hashes(np.array(cps, dtype=np.uint32), n).tolist()
    if not cps:
        assert got == []
        return
    width = min(n, len(cps))
    grams = [cps[i : i + width] for i in range(len(cps) - width + 1)]
    assert got == [feature_hash("".join(map(chr, g))) for g in grams]


def test_mirror_and_feed_fingerprints_are_close_different_articles_far() -> None:
    texts = dict(_fixture_texts())
    assert hamming(PINNED["feed_n12428731.md"], PINNED["mirror_n12428731.md"]) <= 3
    assert (
        hamming(fingerprint(texts["dw_copyright.md"]), fingerprint(texts["voa_seed_003.txt"])) > 15
    )


def test_simhash_tables_find_exactly_the_fingerprints_within_k() -> None:
    rng = np.random.default_rng(1)
    fps = rng.integers(0, 2**63, size=5000, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    tables = SimhashTables(k=3, tail_limit=1000)  # small tail: exercise merges
    tables.add_many(fps[:3000])
    for fp in fps[3000:].tolist():
        tables.add_many(np.array([fp], dtype=np.uint64))
    query = int(fps[1234])
    flips = [query ^ (1 << 5), query ^ (1 << 5) ^ (1 << 40) ^ (1 << 63), query ^ 0b1111]
    for probe, dist in zip(flips, (1, 3, 4), strict=True):
        pos, d = tables.query(probe)
        brute = {i for i, f in enumerate(fps.tolist()) if (f ^ probe).bit_count() <= 3}
        assert set(pos.tolist()) == brute
        assert (1234 in brute) == (dist <= 3)
        assert all(x <= 3 for x in d.tolist())
    with pytest.raises(ValueError, match="0..15"):
        SimhashTables(k=20)


def test_near_index_persists_and_reloads() -> None:
    conn = SQLiteState.on(sqlite3.connect(":memory:")).dedup
    texts = [t for _, t in _fixture_texts()]
    index = NearIndex(k=3)
    for item_id, text in enumerate(texts, start=10):
        shingles = np.unique(shingle_hashes(text, 4))
        anchors = anchors_of(shingles, 96)
        index.add(item_id, fingerprint(text), anchors)
        NearIndex.save(conn, item_id, fingerprint(text), anchors)
    reloaded = NearIndex.load(conn, k=3)
    assert len(reloaded) == len(texts)
    for text in texts:
        anchors = anchors_of(np.unique(shingle_hashes(text, 4)), 96)
        assert reloaded.query(fingerprint(text), anchors) == index.query(fingerprint(text), anchors)
    # the mirror page finds the feed item (both routes) and nothing unrelated
    names = [n for n, _ in _fixture_texts()]
    mirror = texts[names.index("mirror_n12428731.md")]
    found = reloaded.query(
        fingerprint(mirror), anchors_of(np.unique(shingle_hashes(mirror, 4)), 96)
    )
    feed_id = 10 + names.index("feed_n12428731.md")
    assert feed_id in found and found[feed_id][1] >= 2
