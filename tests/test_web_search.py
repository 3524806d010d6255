"""The web index: incremental refresh from the state and archive, and search in both scripts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from web_site import Site, make_site

from ingest.ingestor import Story
from store.format import StoredItem
from store.imports import read_item_file
from store.urls import canonical_url
from web.index import IndexKeeper, WebIndex, index_path_for
from web.queries import StateReader
from web.searchtext import index_text, match_expression


@pytest.fixture()
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


def _index(site: Site) -> WebIndex:
    return IndexKeeper(site.config.state_db, interval=0).fresh()


def test_index_text_spaces_cjk_and_folds_traditional() -> None:
    assert index_text("韓國外長 Trump 2024年") == "韩 国 外 长 trump 2024 年"
    assert match_expression('朝鮮 AND "x') == '"朝 鲜" AND "and" AND "x"'
    assert match_expression("，。!") is None


def test_one_and_two_character_terms_in_both_scripts(site: Site) -> None:
    korea = site.add_file("rfi_999999_korea_defectors.md", "rfi")
    putin = site.add_file("rfi_1000000_putin_icc.md", "rfi")
    index = _index(site)
    ids = lambda q: {row.id for row in index.search(q)}  # noqa: E731
    assert ids("朝鲜") == {korea.story_id}  # two characters, Simplified
    assert ids("朝鮮") == {korea.story_id}  # the same word in Traditional
    assert ids("鮮") >= {korea.story_id}  # one character
    assert ids("普京") == {putin.story_id}
    assert ids("普京 朝鲜") == set()  # every term is required
    assert ids("霍夫曼斯基") == {putin.story_id}  # longer runs are phrases, not bags of characters
    assert ids("斯基霍夫") == set()


def test_trigram_alone_misses_short_terms(site: Site) -> None:
    """Why the index spaces characters: FTS5 trigram finds nothing for a two-character word."""
    korea = read_item_file(Path(__file__).parent / "fixtures/alerts/rfi_999999_korea_defectors.md")
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='trigram')")
    conn.execute("INSERT INTO t VALUES (?)", (korea.body,))
    assert conn.execute("SELECT count(*) FROM t WHERE t MATCH '\"朝鲜\"'").fetchone()[0] == 0
    site.add(korea, "rfi")
    assert len(_index(site).search("朝鲜")) == 1


def test_traditional_edition_found_by_simplified_query_and_vice_versa(site: Site) -> None:
    site.config.dedup.enabled = False  # keep both editions as separate stories
    site.ingestor.dedup = None
    trad = site.add_file(
        "rfi_999999_korea_defectors.traditional-s2t.md", "rfi", url="https://www.rfi.fr/tw/x"
    )
    index = _index(site)
    assert [r.id for r in index.search("脱北者")] == [trad.story_id]
    assert [r.id for r in index.search("脫北者")] == [trad.story_id]


def test_refresh_is_incremental_and_counts_reposts(site: Site) -> None:
    keeper = IndexKeeper(site.config.state_db, interval=0)
    first = site.add_file("repost_rfi_freedom_house.md", "rfi")
    index = keeper.fresh()
    assert index.count() == 1 and index.story(first.story_id or 0).reposts == 0  # type: ignore[union-attr]
    site.add_file("repost_voa_freedom_house.md", "voa")
    reader = StateReader.open(site.config.state_db)
    report = index.refresh(reader)
    assert (report.items, report.stories) == (1, 0)  # one new URL, no new story
    story = index.story(first.story_id or 0)
    assert story is not None and story.reposts == 1 and story.outlets == ["rfi", "voa"]
    assert "www.voachinese.com" in story.hosts
    again = index.refresh(reader)  # nothing new: nothing read
    assert (again.items, again.stories, again.reindexed) == (0, 0, 0)
    reader.close()
    assert index_path_for(site.config.state_db).is_file()


def test_upgraded_body_is_reindexed(site: Site) -> None:
    full = read_item_file(Path(__file__).parent / "fixtures/alerts/rfi_1000000_putin_icc.md")
    chapo = full.body.split("</strong>")[0] + "</strong></p>"
    site.ingestor.ingest(
        Story(
            "rfi",
            canonical_url(full.url),
            StoredItem(full.ts, full.title, full.url, chapo),
            first_seen_ms=full.ts + 1000,
            full_text=False,
        )
    )
    index = _index(site)
    assert index.search("斯特凡妮") == []  # only in the full body
    outcome = site.add(full, "feedx")
    assert outcome.upgraded
    reader = StateReader.open(site.config.state_db)
    assert index.refresh(reader).reindexed == 1
    reader.close()
    assert len(index.search("斯特凡妮")) == 1


def test_search_orders_by_time_or_relevance(site: Site) -> None:
    site.add_file("rfi_999999_korea_defectors.md", "rfi")  # 朝鲜 ten times, 2023
    site.add(
        StoredItem(
            1_900_000_000_000, "朝鲜一提", "https://www.rfi.fr/cn/later", "<p>提到朝鲜一次。</p>"
        ),
        "rfi",
    )
    index = _index(site)
    by_time = [r.title for r in index.search("朝鲜", order="time")]
    by_rank = [r.title for r in index.search("朝鲜", order="relevance")]
    assert by_time[0] == "朝鲜一提"
    assert sorted(by_time) == sorted(by_rank) and len(by_time) == 2


def test_a_new_state_database_rebuilds_the_index(site: Site, tmp_path: Path) -> None:
    site.add_file("rfi_999999_korea_defectors.md", "rfi")
    assert _index(site).count() == 1
    site.ingestor.state.close()
    site.config.state_db.unlink()
    for extra in site.config.state_db.parent.glob("feedwatch.sqlite3-*"):
        extra.unlink()
    fresh = make_site(tmp_path)  # same paths, new empty state
    fresh.add_file("rfi_1000000_putin_icc.md", "rfi")
    index = _index(fresh)
    assert [r.title[:4] for r in index.stories()] == ["反击全球"]


def test_unreadable_archive_file_indexes_the_title_only(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = site.add_file("rfi_999999_korea_defectors.md", "rfi")
    assert outcome.path is not None
    outcome.path.write_bytes(b"not an item")
    index = _index(site)
    assert "cannot read" in caplog.text
    assert len(index.search("韩国外长")) == 1  # the title still finds it
    assert index.search("朝鲜") == []  # body only
