"""Tests for bounded candidate work: stop-anchors in the index, evidence ranking in the engine."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from conf.dedup import DedupConfig
from dedup.compare import features_of_html, features_of_text, verification_features
from dedup.engine import DedupEngine, Document
from dedup.index import AnchorTable, NearIndex, _SortedTable
from dedup.verify import common_count
from store.imports import read_item_file
from store.sqlite import SQLiteState

TEXT = Path(__file__).parent / "fixtures" / "dedup" / "text"
# Boilerplate of an imaginary outlet: Latin letters and digits that every story carries.
BOILERPLATE = (
    "<p>Example Broadcasting Network International Limited, news desk 2020 edition."
    " Subscribe to the Example Broadcasting Network newsletter at examplebroadcasting dot org,"
    " follow ExampleBroadcastingNetwork on every platform, call 0800 1234 5678 9012 3456 7890,"
    " editorial standards ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 abcdefghijklmnopqrstuvwxyz"
    " registered office 42 Example Street Example City EX4 2PL United Kingdom 2020 2021.</p>"
)
_CJK_LO, _CJK_HI = 0x4E00, 0x9FA5


def _shift(text: str, offset: int) -> str:
    """Another story of the same shape: every CJK character moved inside the block."""
    span = _CJK_HI - _CJK_LO
    return text.translate(
        {c: _CJK_LO + (c - _CJK_LO + offset) % span for c in range(_CJK_LO, _CJK_HI)}
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 2**64 - 1), max_size=60),
    st.lists(st.integers(0, 2**64 - 1), max_size=60),
    st.lists(st.integers(0, 2**64 - 1), max_size=20),
)
def test_common_count_equals_intersect1d(a: list[int], b: list[int], shared: list[int]) -> None:
    x = np.unique(np.array(a + shared, dtype=np.uint64))
    y = np.unique(np.array(b + shared, dtype=np.uint64))
    assert common_count(x, y) == np.intersect1d(x, y).size == common_count(y, x)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=300),
    st.lists(st.integers(0, 45), min_size=1, max_size=10),
    st.integers(1, 20),
    st.integers(1, 64),
)
def test_lookup_capped_is_lookup_without_the_keys_stored_too_often(
    stored: list[int], query: list[int], cap: int, tail_limit: int
) -> None:
    table = _SortedTable(np.uint32, tail_limit)
    for pos, key in enumerate(stored):  # one at a time: runs of several sizes plus a tail
        table.add(np.array([key], np.uint32), np.array([pos], np.uint32))
    keys = np.unique(np.array(query, dtype=np.uint32))
    got, stopped = table.lookup_capped(keys, cap)
    counts = {k: stored.count(k) for k in keys.tolist()}
    common = {k for k, n in counts.items() if n > cap}
    assert stopped == len(common)
    expected = sorted(p for p, k in enumerate(stored) if k in counts and k not in common)
    assert sorted(got.tolist()) == expected
    assert sorted(table.lookup(keys).tolist()) == sorted(
        p for p, k in enumerate(stored) if k in counts
    )


def test_stop_anchor_is_skipped_and_counts_as_shared() -> None:
    table = AnchorTable(tail_limit=4)
    common, rare, other = 1001, 2002, 3003
    for pos in range(10):  # the common anchor is in every item
        table.add(pos, np.array([common, 5000 + pos], np.uint64))
    table.add(10, np.array([common, rare], np.uint64))
    table.add(11, np.array([rare, other], np.uint64))
    query = np.array([common, rare], np.uint64)
    # Without a cap every item shares the common anchor, but only 10 shares two.
    pos, shared = table.query(query, min_shared=2)
    assert pos.tolist() == [10] and shared.tolist() == [2]
    # With a cap of 5 the common anchor is a stop-anchor: not looked up, assumed shared, so
    # both items with the rare anchor are candidates and no item is found through `common`.
    pos, shared, stopped = table.query_stopped(query, min_shared=2, max_items=5)
    assert stopped == 1
    assert pos.tolist() == [10, 11] and shared.tolist() == [1, 1]
    # A query made only of stop-anchors finds nothing through them.
    pos, _, stopped = table.query_stopped(np.array([common], np.uint64), 2, max_items=5)
    assert stopped == 1 and pos.size == 0


def test_near_index_candidates_report_anchor_counts_and_survive_reload(tmp_path: Path) -> None:
    conn = SQLiteState.on(sqlite3.connect(tmp_path / "i.db")).dedup
    index = NearIndex(3, 2, max_anchor_items=100)
    rows = [(7, 0xFFFF, np.array([1, 2, 3], np.uint64)), (9, 0xFF00FF, np.array([2, 3], np.uint64))]
    for item_id, fp, anchors in rows:
        index.add(item_id, fp, anchors)
        NearIndex.save(conn, item_id, fp, anchors)
    reloaded = NearIndex.load(conn, 3, 2, max_anchor_items=100)
    for idx in (index, reloaded):
        c = idx.candidates(0xFFFF, np.array([2, 3, 4], np.uint64))
        assert c.ids.tolist() == [7, 9]
        assert c.distance.tolist() == [0, (0xFFFF ^ 0xFF00FF).bit_count()]
        assert c.shared.tolist() == [2, 2] and c.anchors.tolist() == [3, 2]
        assert idx.query(0xFFFF, np.array([2, 3, 4], np.uint64)) == {
            7: (0, 2),
            9: ((0xFFFF ^ 0xFF00FF).bit_count(), 2),
        }


def test_verification_features_equal_the_full_features() -> None:
    config = DedupConfig()
    item = read_item_file(TEXT / "feed_n12428731.md")
    full = features_of_html(item.body, item.title, config)
    again = features_of_text(full.text, "", config)
    lean = verification_features(full.text, full.fingerprint, config)
    assert np.array_equal(lean.shingles, again.shingles)
    assert np.array_equal(lean.anchors, again.anchors)
    assert lean.fingerprint == full.fingerprint and lean.length == full.length


def _verified(reasons: list[str]) -> int:
    match = re.search(r"(\d+) verified", reasons[0])
    assert match, reasons
    return int(match.group(1))


def _stories(config: DedupConfig, count: int) -> tuple[DedupEngine, list[int], Document]:
    """`count` different stories that share one boilerplate paragraph; then a repost of #3."""
    item = read_item_file(TEXT / "voa_seed_003.txt")
    engine = DedupEngine(sqlite3.connect(":memory:"), config)
    verified = []
    for v in range(1, count + 1):
        doc = Document(
            f"story{v}",
            f"https://example.org/{v}",
            _shift(item.title, v * 97),
            _shift(item.body, v * 97) + BOILERPLATE,
            "example",
            v,
            True,
        )
        decision = engine.process(doc)
        assert decision.kind == "new", decision.explain()
        verified.append(_verified(decision.reasons))
    repost = Document(
        "repost3",
        "https://mirror.example/3",
        _shift(item.title, 3 * 97),
        _shift(item.body, 3 * 97) + BOILERPLATE + "<p>（转载）</p>",
        "mirror",
        count + 1,
        True,
    )
    return engine, verified, repost


def test_boilerplate_shared_by_many_stories_does_not_make_items_costlier() -> None:
    config = DedupConfig(max_anchor_items=8)
    plain = features_of_text(
        features_of_html(BOILERPLATE, "", config).text, "", config
    ).anchors  # the boilerplate alone is evidence enough for the anchor route
    assert len(plain) >= 2
    engine, verified, repost = _stories(config, 24)
    # Stories share the boilerplate's anchors and nothing else: none is worth verifying.
    assert verified == [0] * 24
    decision = engine.classify(repost)
    assert decision.kind == "repost" and decision.matched_key == "story3", decision.explain()
    # The same archive without stop-anchors or the evidence floor verifies ever more candidates.
    _, unbounded, _ = _stories(
        DedupConfig(max_anchor_items=10_000, min_anchor_share=0.0, max_verify=10_000), 24
    )
    assert unbounded == list(range(24))
