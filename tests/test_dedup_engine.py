"""Tests for the dedup engine (new/repost/revision/duplicate, provenance, richer bodies) and CLI back ends."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import opencc
import pytest
from pydantic import ValidationError

from conf.dedup import DedupConfig
from dedup.clusters import load_cluster
from dedup.engine import DedupEngine, Document
from feedwatch.dedup_commands import cluster_files, explain_files
from store.imports import read_item_file
from store.urls import canonical_url

TEXT = Path(__file__).parent / "fixtures" / "dedup" / "text"


def _doc(
    name: str, key: str | None = None, outlet: str = "epochtimes", seen: int = 1, **kw
) -> Document:
    item = read_item_file(TEXT / name)
    fields = {
        "key": key or name,
        "canonical_url": canonical_url(item.url),
        "title": item.title,
        "body_html": item.body,
        "outlet": outlet,
        "seen_ms": seen,
        "full_text": True,
    }
    fields.update(kw)
    return Document(**fields)


@pytest.fixture()
def engine() -> DedupEngine:
    return DedupEngine(sqlite3.connect(":memory:"), DedupConfig())


def test_new_then_mirror_repost_joins_story_with_provenance(engine: DedupEngine) -> None:
    first = engine.process(_doc("feed_n12428731.md"))
    assert first.kind == "new" and first.story_id is not None
    # content-only: the mirror page under another URL identity
    mirror = _doc(
        "mirror_n12428731.md", outlet="gfw-breaker", seen=2, canonical_url="https://mirror/x"
    )
    decision = engine.classify(mirror)
    assert decision.kind == "repost"
    assert decision.story_id == first.story_id
    assert decision.matched_key == "feed_n12428731.md"
    assert decision.scores["containment"] >= 0.8
    assert "containment" in decision.explain()
    engine.commit(mirror, decision)
    cluster = load_cluster(engine.tables, first.story_id)
    assert cluster is not None
    assert [m.kind for m in cluster.members] == ["new", "repost"]
    assert cluster.members[1].matched_key == "feed_n12428731.md"  # stored as the item's id
    assert cluster.members[1].outlet == "gfw-breaker" and cluster.members[1].seen_ms == 2
    assert cluster.story.key == "feed_n12428731.md"


def test_unrelated_items_are_new_stories(engine: DedupEngine) -> None:
    kinds = [
        engine.process(_doc(n)).kind
        for n in ("dw_copyright.md", "voa_seed_003.txt", "rfi_feedx_share_1000000.md")
    ]
    assert kinds == ["new", "new", "new"]


def test_same_url_same_text_is_duplicate_changed_title_is_revision(engine: DedupEngine) -> None:
    engine.process(_doc("dw_copyright.md"))
    assert engine.classify(_doc("dw_copyright.md", key="again")).kind == "duplicate"
    retitled = _doc("dw_copyright.md", key="v2", title="全新的标题")
    decision = engine.classify(retitled)
    assert decision.kind == "revision" and "changed title" in decision.reasons[0]


def test_traditional_copy_is_a_repost(engine: DedupEngine) -> None:
    story = engine.process(_doc("voa_seed_003.txt"))
    s2t = opencc.OpenCC("s2t")
    item = read_item_file(TEXT / "voa_seed_003.txt")
    trad = Document(
        "trad",
        "https://example.org/trad",
        s2t.convert(item.title),
        s2t.convert(item.body),
        "voa-hk",
        5,
        True,
    )
    decision = engine.classify(trad)
    assert decision.kind == "repost" and decision.story_id == story.story_id


def test_summary_story_then_full_text_repost_is_richer(engine: DedupEngine) -> None:
    item = read_item_file(TEXT / "feed_n12428731.md")
    paragraphs = item.body.split("</p>")
    summary = "</p>".join(paragraphs[:6]) + "</p>"
    story = engine.process(
        Document("summary", "https://a/1", item.title, summary, "epochtimes", 1, full_text=False)
    )
    full = _doc("feed_n12428731.md", canonical_url="https://b/2")
    decision = engine.classify(full)
    assert decision.kind == "repost" and decision.story_id == story.story_id
    assert decision.richer_body
    engine.commit(full, decision)
    # once upgraded, the same full text again is no longer richer
    again = engine.classify(_doc("mirror_n12428731.md", canonical_url="https://c/3"))
    assert again.kind == "repost" and not again.richer_body


def test_engine_reloads_its_index_from_the_database(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "state.db")
    DedupEngine(conn, DedupConfig()).process(_doc("feed_n12428731.md"))
    conn.close()
    conn = sqlite3.connect(tmp_path / "state.db")
    fresh = DedupEngine(conn, DedupConfig())
    assert len(fresh.index) == 1
    assert fresh.classify(_doc("mirror_n12428731.md", canonical_url="https://m/1")).kind == "repost"
    # Other feature settings: an item stored as a sketch keeps its index row (rows from
    # before sketches are re-fingerprinted from their text: tests/test_dedup_sketch_store.py).
    rows = conn.execute("SELECT * FROM dedup_fingerprints").fetchall()
    DedupEngine(conn, DedupConfig(ngram=3))
    assert conn.execute("SELECT * FROM dedup_fingerprints").fetchall() == rows
    back = DedupEngine(conn, DedupConfig())
    assert back.classify(_doc("mirror_n12428731.md", canonical_url="https://m/1")).kind == "repost"


def test_config_refuses_bad_values_with_the_field_name() -> None:
    with pytest.raises(ValidationError, match="containment"):
        DedupConfig(containment=1.5)
    with pytest.raises(ValidationError, match="extra"):
        DedupConfig(threshold=3)
    assert DedupConfig().enabled is True


def test_explain_files_says_why() -> None:
    text = explain_files(TEXT / "mirror_n12428731.md", TEXT / "feed_n12428731.md", DedupConfig())
    assert "same canonical URL" in text and "containment 1.000 >= 0.8" in text
    other = explain_files(TEXT / "dw_copyright.md", TEXT / "voa_seed_003.txt", DedupConfig())
    assert "different articles" in other


def test_cluster_files_every_file_once(tmp_path: Path) -> None:
    paths = [TEXT / n for n in sorted(p.name for p in TEXT.iterdir())]
    clusters = cluster_files(paths, content_only=True, config=DedupConfig())
    flat = [p for c in clusters for p in c]
    assert sorted(flat) == sorted(str(p) for p in paths)
    pair = [c for c in clusters if len(c) > 1]
    assert pair == [[str(TEXT / "feed_n12428731.md"), str(TEXT / "mirror_n12428731.md")]]
    # a folder argument works too and the result is JSON-serializable
    assert json.loads(json.dumps(cluster_files([TEXT], content_only=False, config=DedupConfig())))
