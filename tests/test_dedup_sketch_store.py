"""Stored items keep a shingle sketch instead of their text; old state databases keep working."""

from __future__ import annotations

import json
import sqlite3
import zlib
from pathlib import Path

import numpy as np
import pytest

from conf.dedup import DedupConfig
from dedup.clusters import load_cluster
from dedup.compare import features_of_html
from dedup.engine import DedupEngine, Document
from dedup.sketch import SKETCH_DROP, sketch_of, sketch_overlap
from dedup.verify import overlap
from store.compact import pack_sorted, unpack_sorted
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
    columns = {row[1] for row in conn.execute("PRAGMA table_info(dedup_items)")}
    assert not columns & {"text", "title"}  # no second copy of the text or of the title
    shingles, blob = conn.execute(
        "SELECT shingles, sketch FROM dedup_items WHERE id = ?", (first.story_id,)
    ).fetchone()
    feats = features_of_html(read_item_file(TEXT / "feed_n12428731.md").body, "", DedupConfig())
    assert shingles == feats.shingles.size
    stored = sketch_of(feats.shingles).stored()
    assert blob[0] == stored.dropped == SKETCH_DROP
    assert np.array_equal(unpack_sorted(blob[1:]) << SKETCH_DROP, stored.values)
    assert len(blob) < 0.6 * 4 * stored.values.size  # packed: under 20 bits per value
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


def _old_state(path: Path, *, sketches: bool) -> tuple[sqlite3.Connection, Document]:
    """A state database as an older engine wrote it: one story and a repost of it."""
    cfg = DedupConfig()
    story, repost = _doc("feed_n12428731.md"), _doc("mirror_n12428731.md", url="https://m/1")
    new = sqlite3.connect(path.with_suffix(".new"))
    engine = DedupEngine(new, cfg)
    decisions = [engine.process(story), engine.process(repost)]
    old = sqlite3.connect(path)
    old.executescript(OLD_SCHEMA)
    if sketches:
        old.execute("ALTER TABLE dedup_items ADD COLUMN shingles INTEGER")
        old.execute("ALTER TABLE dedup_items ADD COLUMN sketch BLOB")
    old.execute("CREATE INDEX dedup_items_url ON dedup_items (canonical_url)")
    for item_id, (doc, d) in enumerate(zip((story, repost), decisions, strict=True), start=1):
        f = d.features
        assert f is not None
        row = [
            item_id,
            doc.key,
            doc.canonical_url,
            d.story_id,
            d.kind,
            doc.outlet,
            doc.seen_ms,
            f.title,
            f.text_hash,
            f.length,
            1,
            d.matched_key,
            json.dumps(d.scores, sort_keys=True),
        ]
        if sketches:  # the sketch as raw little-endian uint32, the text column empty
            sk = sketch_of(f.shingles)
            row += [b"", sk.shingles, sk.values.astype("<u4").tobytes()]
        else:
            row += [zlib.compress(f.text.encode("utf-8"))]
        old.execute(f"INSERT INTO dedup_items VALUES ({', '.join('?' * len(row))})", row)
    for table in ("dedup_stories", "dedup_fingerprints", "dedup_meta"):
        for row in new.execute(f"SELECT * FROM {table}"):
            old.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    old.commit()
    return old, story


@pytest.mark.parametrize("sketches", [False, True], ids=["texts", "raw-sketches"])
def test_an_old_layout_state_migrates_in_place_and_keeps_working(
    tmp_path: Path, sketches: bool
) -> None:
    old, story = _old_state(tmp_path / "old.db", sketches=sketches)
    engine = DedupEngine(old, DedupConfig())  # opening migrates
    columns = {row[1] for row in old.execute("PRAGMA table_info(dedup_items)")}
    assert {"url_hash", "title_hash", "matched_id"} <= columns and "title" not in columns
    texts = old.execute("SELECT COUNT(*) FROM dedup_texts").fetchone()[0]
    assert texts == (0 if sketches else 2)  # the old texts are kept, beside the rows
    # The same story again at its URL: same title and text (hashes converted): a duplicate.
    again = engine.classify(story)
    assert again.kind == "duplicate" and again.story_id == 1
    # A new copy finds the migrated story through the reloaded index and its sketch or text.
    copy = engine.classify(_doc("mirror_n12428731.md", url="https://m/2"))
    assert copy.kind == "repost" and copy.story_id == 1
    cluster = load_cluster(engine.tables, 1)
    assert cluster is not None and [m.kind for m in cluster.members] == ["new", "repost"]
    assert cluster.members[1].matched_key == story.key  # from the old column
    assert cluster.members[1].scores["containment"] >= 0.8
    # Opening it again changes nothing (the layout is current).
    DedupEngine(old, DedupConfig())
    assert old.execute("SELECT COUNT(*) FROM dedup_items").fetchone()[0] == 2


def test_old_texts_still_refingerprint_when_the_settings_change(tmp_path: Path) -> None:
    old, _ = _old_state(tmp_path / "old.db", sketches=False)
    before = old.execute("SELECT simhash FROM dedup_fingerprints ORDER BY item_id").fetchall()
    changed = DedupEngine(old, DedupConfig(ngram=3))
    assert changed.classify(_doc("mirror_n12428731.md", url="https://m/2")).kind == "repost"
    after = old.execute("SELECT simhash FROM dedup_fingerprints ORDER BY item_id").fetchall()
    assert after != before


@pytest.mark.parametrize("top", [2, 300, 2**18, 2**32 - 1])
def test_packed_sorted_values_read_back_exactly(top: int) -> None:
    rng = np.random.default_rng(top)
    for n in (0, 1, 5, 128, 700):
        values = np.sort(rng.integers(0, top, size=n, dtype=np.uint64)).astype(np.uint32)
        assert np.array_equal(unpack_sorted(pack_sorted(values)), values)  # repeats too


def test_a_stored_sketch_decides_as_the_full_one_on_real_pairs() -> None:
    feed = features_of_html(read_item_file(TEXT / "feed_n12428731.md").body, "", DedupConfig())
    mirror = features_of_html(read_item_file(TEXT / "mirror_n12428731.md").body, "", DedupConfig())
    full, kept = sketch_of(feed.shingles), sketch_of(feed.shingles).stored()
    a, _ = sketch_overlap(mirror.shingles, full)
    b, _ = sketch_overlap(mirror.shingles, kept)
    assert abs(a.containment - b.containment) < 0.02 and b.containment >= 0.8


def test_the_web_reads_an_old_layout_without_failing_until_a_writer_migrates_it(
    tmp_path: Path,
) -> None:
    from web.queries import StateReader

    old, _ = _old_state(tmp_path / "old.db", sketches=True)
    reader = StateReader.open(tmp_path / "old.db")
    assert reader.members(1) == []  # read-only: no migration, no error
    reader.close()
    DedupEngine(old, DedupConfig())  # a writer opens it: migrated
    reader = StateReader.open(tmp_path / "old.db")
    assert [m.kind for m in reader.members(1)] == ["new", "repost"]
    reader.close()
