"""The ingest step on real items: one file per story, reposts and revisions recorded, not written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conf.schema import load_config
from ingest.ingestor import Ingestor, Story
from store.format import StoredItem, parse_item
from store.imports import read_item_file
from store.state import open_state
from store.urls import canonical_url

ITEMS = Path(__file__).parent / "fixtures" / "alerts"


@pytest.fixture()
def ingestor(tmp_path: Path) -> Ingestor:
    config = tmp_path / "config.yaml"
    config.write_text(
        "archive_dir: archive\nstate_db: state.sqlite3\n"
        "outlets: {}\n"
        "alerts:\n  channels: {file: {kind: jsonl, path: alerts.jsonl}}\n"
        "  rules: [{name: korea, any: [朝鲜], notify: [file]}]\n",
        encoding="utf-8",
    )
    loaded = load_config(config)
    return Ingestor(loaded, open_state(loaded.state_db))


def _story(
    item: StoredItem, outlet: str, *, url: str | None = None, full_text: bool = True
) -> Story:
    url = url or item.url
    stored = StoredItem(item.ts, item.title, url, item.body)
    return Story(
        outlet, canonical_url(url), stored, first_seen_ms=item.ts + 1000, full_text=full_text
    )


def _files(ingestor: Ingestor) -> list[Path]:
    return sorted(ingestor.config.archive_dir.rglob("*.txt"))


def test_cross_outlet_repost_is_merged_not_written(ingestor: Ingestor) -> None:
    rfi = read_item_file(ITEMS / "repost_rfi_freedom_house.md")
    voa = read_item_file(ITEMS / "repost_voa_freedom_house.md")
    first = ingestor.ingest(_story(rfi, "rfi"))
    second = ingestor.ingest(_story(voa, "voa"))
    assert first.kind == "new"
    assert second.kind == "merged" and second.story_id == first.story_id
    assert _files(ingestor) == [first.path]
    # The repost's URL is now known: seeing it again is "seen", not another merge.
    assert ingestor.ingest(_story(voa, "voa")).kind == "seen"


def test_traditional_edition_joins_the_simplified_story_and_alerts_once(ingestor: Ingestor) -> None:
    simplified = read_item_file(ITEMS / "rfi_999999_korea_defectors.md")
    traditional = read_item_file(ITEMS / "rfi_999999_korea_defectors.traditional-s2t.md")
    first = ingestor.ingest(_story(simplified, "rfi"))
    second = ingestor.ingest(
        _story(traditional, "rfi", url="https://www.rfi.fr/tw/some-other-path")
    )
    assert (first.kind, second.kind) == ("new", "merged")
    ingestor.deliver_alerts()
    alerts_file = ingestor.config.alerts.channels["file"].path
    assert alerts_file is not None
    alerts = [json.loads(line) for line in alerts_file.read_text(encoding="utf-8").splitlines()]
    assert [a["story_id"] for a in alerts] == [first.story_id]


def test_full_text_upgrades_a_summary_story_in_place(ingestor: Ingestor) -> None:
    full = read_item_file(ITEMS / "rfi_1000000_putin_icc.md")
    summary_body = full.body.split("</strong>")[0] + "</strong></p>"  # the chapo only
    summary = StoredItem(full.ts, full.title, full.url, summary_body)
    first = ingestor.ingest(_story(summary, "rfi", full_text=False))
    assert first.kind == "new" and first.path is not None
    second = ingestor.ingest(_story(full, "feedx"))
    assert second.kind == "revision" and second.upgraded
    upgraded = parse_item(first.path.read_bytes())
    assert upgraded == StoredItem(full.ts, full.title, full.url, full.body)
    assert _files(ingestor) == [first.path]
    # The summary seen again later is the same version, not an edit, and changes nothing.
    again = ingestor.ingest(_story(summary, "rfi", full_text=False))
    assert again.kind == "seen"
    assert parse_item(first.path.read_bytes()) == upgraded


def test_different_articles_are_separate_stories(ingestor: Ingestor) -> None:
    outcomes = [
        ingestor.ingest(_story(read_item_file(ITEMS / name), "rfi"))
        for name in (
            "rfi_999999_korea_defectors.md",
            "rfi_1000000_putin_icc.md",
            "dw_1022765_trump_ukraine.md",
        )
    ]
    assert [o.kind for o in outcomes] == ["new", "new", "new"]
    assert len({o.story_id for o in outcomes}) == 3
    assert len(_files(ingestor)) == 3


def test_dedup_keeps_no_second_copy_of_an_item_url(ingestor: Ingestor) -> None:
    rfi = read_item_file(ITEMS / "repost_rfi_freedom_house.md")
    voa = read_item_file(ITEMS / "repost_voa_freedom_house.md")
    first = ingestor.ingest(_story(rfi, "rfi"))
    second = ingestor.ingest(_story(voa, "voa"))
    conn = ingestor.state.connection
    keys = conn.execute("SELECT key FROM dedup_items ORDER BY id").fetchall()
    assert keys == [(None,), (None,)]  # the items table holds both URLs
    assert first.story_id is not None and ingestor.dedup is not None
    members = ingestor.dedup.tables.members(first.story_id)
    assert [(m.key, m.kind) for m in members] == [(rfi.url, "new"), (voa.url, "repost")]
    assert members[1].matched_key == rfi.url and members[1].title == voa.title
    assert second.reasons  # the decision's account, as before
