"""Stored items keep a shingle sketch instead of their text; old state databases keep working."""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

import numpy as np
import pytest

from conf.dedup import DedupConfig
from dedup.compare import features_of_html
from dedup.engine import DedupEngine, Document
from dedup.sketch import sketch_of, sketch_overlap
from dedup.verify import overlap
from store.imports import read_item_file
from store.urls import canonical_url

TEXT = Path(__file__).parent / "fixtures" / "dedup" / "text"

# dedup_items as created before sketches (the text column held the zlib text).
OLD_SCHEMA = """
CREATE TABLE dedup_stories (
    id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, key TEXT NOT NULL,
    best_len INTEGER NOT NULL, best_full_text INTEGER NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE dedup_items (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, canonical_url TEXT NOT NULL,
    story_id INTEGER, kind TEXT NOT NULL, outlet TEXT NOT NULL, seen_ms INTEGER NOT NULL,
    title TEXT NOT NULL, text_hash TEXT NOT NULL, text_len INTEGER NOT NULL,
    full_text INTEGER NOT NULL, matched_key TEXT, scores TEXT NOT NULL, text BLOB NOT NULL);
CREATE TABLE dedup_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE dedup_fingerprints (
    item_id INTEGER PRIMARY KEY, simhash INTEGER NOT NULL, anchors BLOB NOT NULL);
"""


def _doc(name: str, url: str | None = None, full_text: bool = True) -> Document:
    item = read_item_file(TEXT / name)
    return Document(
        name, url or canonical_url(item.url), item.title, item.body, "epochtimes", 1, full_text
    )


def _sets(rng: np.random.Generator, n_a: int, n_b: int, common: int) -> tuple[np.ndarray, ...]:
    pool = np.unique(rng.integers(0, 2**64 - 1, size=n_a + n_b, dtype=np.uint64))
    rng.shuffle(pool)
    shared = pool[:common]
    a = np.sort(np.concatenate([shared, pool[common:n_a]]))
    b = np.sort(np.concatenate([shared, pool[n_a : n_a + n_b - common]]))
    return a, b


def test_a_short_text_is_kept_whole_and_compared_exactly() -> None:
    a, b = _sets(np.random.default_rng(1), 90, 80, 61)
    sketch = sketch_of(b)
    assert sketch.complete and sketch.shingles == 80
    ov, estimated = sketch_overlap(a, sketch)
    assert not estimated and ov == overlap(a, b)


@pytest.mark.parametrize(("n_a", "n_b"), [(300, 3000), (3000, 3000), (3000, 400)])
def test_a_contained_text_is_found_contained_whatever_the_sample(n_a: int, n_b: int) -> None:
    rng = np.random.default_rng(n_a + n_b)
    a, b = _sets(rng, n_a, n_b, min(n_a, n_b))
    ov, estimated = sketch_overlap(a, sketch_of(b))
    assert estimated and ov.containment == 1.0


def test_a_partial_overlap_is_estimated_close_to_the_truth() -> None:
    rng = np.random.default_rng(5)
    errors = []
    for _ in range(40):
        a, b = _sets(rng, 2000, 2200, int(rng.integers(0, 2000)))
        ov, _ = sketch_overlap(a, sketch_of(b))
        errors.append(ov.containment - overlap(a, b).containment)
    assert abs(float(np.mean(errors))) < 0.02  # unbiased
    assert float(np.max(np.abs(errors))) < 0.15  # ~140 samples: a few points of error


def test_new_rows_keep_a_sketch_not_the_text_and_find_reposts(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "state.db")
    engine = DedupEngine(conn, DedupConfig())
    first = engine.process(_doc("feed_n12428731.md"))
    text, shingles, sketch = conn.execute(
        "SELECT text, shingles, sketch FROM dedup_items WHERE id = ?", (first.story_id,)
    ).fetchone()
    feats = features_of_html(read_item_file(TEXT / "feed_n12428731.md").body, "", DedupConfig())
    assert text == b"" and shingles == feats.shingles.size
    assert 0 < len(sketch) < len(zlib.compress(feats.text.encode("utf-8"))) / 2
    fresh = DedupEngine(sqlite3.connect(tmp_path / "state.db"), DedupConfig())
    mirror = fresh.classify(_doc("mirror_n12428731.md", url="https://mirror/1"))
    assert mirror.kind == "repost" and mirror.story_id == first.story_id
    assert mirror.scores["containment"] >= 0.8
    assert "estimated from the stored item's sketch" in mirror.explain()
    # A feed summary of the stored full text, same URL: the same version, not an edit.
    item = read_item_file(TEXT / "feed_n12428731.md")
    summary = Document(
        "summary",
        canonical_url(item.url),
        item.title,
        item.body[: len(item.body) // 3],
        "epochtimes",
        2,
        full_text=False,
    )
    assert fresh.classify(summary).kind == "duplicate"


def test_a_state_database_from_before_sketches_keeps_working(tmp_path: Path) -> None:
    # Write a row as the old engine did: the same row, with its text and no sketch columns.
    new = sqlite3.connect(tmp_path / "new.db")
    DedupEngine(new, DedupConfig()).process(_doc("feed_n12428731.md"))
    old = sqlite3.connect(tmp_path / "old.db")
    old.executescript(OLD_SCHEMA)
    feats = features_of_html(read_item_file(TEXT / "feed_n12428731.md").body, "", DedupConfig())
    columns = "id, key, canonical_url, story_id, kind, outlet, seen_ms, title, text_hash,"
    columns += " text_len, full_text, matched_key, scores"
    for row in new.execute(f"SELECT {columns} FROM dedup_items"):
        old.execute(
            f"INSERT INTO dedup_items ({columns}, text) VALUES ({', '.join('?' * 14)})",
            (*row, zlib.compress(feats.text.encode("utf-8"))),
        )
    for table in ("dedup_stories", "dedup_fingerprints", "dedup_meta"):
        for row in new.execute(f"SELECT * FROM {table}"):
            old.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    old.commit()

    engine = DedupEngine(old, DedupConfig())
    mirror = engine.classify(_doc("mirror_n12428731.md", url="https://mirror/1"))
    assert mirror.kind == "repost" and mirror.scores["containment"] >= 0.8
    # Other feature settings: the old row is re-fingerprinted from its text, as before.
    changed = DedupEngine(old, DedupConfig(ngram=3))
    assert changed.classify(_doc("mirror_n12428731.md", url="https://m/2")).kind == "repost"
    before = old.execute("SELECT simhash FROM dedup_fingerprints").fetchall()
    assert before != new.execute("SELECT simhash FROM dedup_fingerprints").fetchall()
