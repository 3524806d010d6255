"""The index's incremental merges: bounded work per insert, same answers as a brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import index as index_mod
from dedup.index import _Merge, _SortedTable


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 2**64 - 1), max_size=60, unique=True),
    st.lists(st.integers(0, 2**64 - 1), max_size=60, unique=True),
    st.integers(1, 16),
)
def test_a_merge_in_pieces_equals_one_sort(a: list[int], b: list[int], budget: int) -> None:
    both = set(a) & set(b)
    a = [x for x in a if x not in both]  # packed postings are unique across runs
    ra, rb = np.array(sorted(a), np.uint64), np.array(sorted(b), np.uint64)
    merge = _Merge(ra, rb)
    steps = 0
    while not merge.done:
        moved = merge.step(budget)
        assert 1 <= moved <= 2 * budget  # progress, and bounded work
        steps += 1
    assert merge.out.tolist() == sorted(a + b)


def test_inserts_do_bounded_merge_work_and_lookups_stay_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(index_mod, "_STEP", 64)
    rng = np.random.default_rng(3)
    table = _SortedTable(np.uint32, tail_limit=8)
    stored: list[int] = []
    biggest_step = 0
    for pos in range(3000):
        key = int(rng.integers(0, 50))
        before = sum(m.ia + m.ib for m in table.merges)
        pending = len(table.merges)
        table.add(np.array([key], np.uint32), np.array([pos], np.uint32))
        if pending and len(table.merges) == pending:
            biggest_step = max(biggest_step, sum(m.ia + m.ib for m in table.merges) - before)
        stored.append(key)
        if pos % 97 == 0:  # queries see every posting while merges are under way
            keys = np.arange(0, 50, 7, dtype=np.uint32)
            expected = sorted(p for p, k in enumerate(stored) if k % 7 == 0)
            assert sorted(table.lookup(keys).tolist()) == expected
    # Merges keep up: the runs stay few (geometric sizes), not one per tail flush (375).
    assert len(table.runs) <= 12
    assert biggest_step <= 4 * 64
    table.merge()
    assert not table.merges and not table.tail_keys.size
    assert table.keys.tolist() == sorted(stored)
    for key in (0, 13, 49):
        parts: list[np.ndarray] = []
        table.lookup_one(key, parts)
        assert sorted(np.concatenate(parts).tolist()) == [
            p for p, k in enumerate(stored) if k == key
        ]


def test_the_largest_key_is_found() -> None:
    table = _SortedTable(np.uint32, tail_limit=2)
    top = np.uint32(0xFFFFFFFF)
    for pos in range(6):
        table.add(np.array([top if pos % 2 else 7], np.uint32), np.array([pos], np.uint32))
    table.merge()
    assert sorted(table.lookup(np.array([7, top], np.uint32)).tolist()) == list(range(6))
    got, stopped = table.lookup_capped(np.array([top], np.uint32), 2)
    assert stopped == 1 and got.size == 0
