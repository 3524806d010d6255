"""Merged feeds: parsed back by feedparser, checked against JSON Feed 1.1, one entry per story."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import jsonschema
import pytest
from flask.testing import FlaskClient
from web_site import Site, hostile_item, make_site

from web.app import create_app

SCHEMA = json.loads((Path(__file__).parent / "fixtures/web/jsonfeed-1.1.schema.json").read_text())


@pytest.fixture()
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


def _client(site: Site) -> FlaskClient:
    return create_app(site.config, refresh_interval=0).test_client()


def test_atom_parses_back_with_one_entry_per_story(site: Site) -> None:
    first = site.add_file("repost_rfi_freedom_house.md", "rfi")
    site.add_file("rfi_999999_korea_defectors.md", "rfi")
    client = _client(site)
    before = feedparser.parse(client.get("/feeds/all.atom").data)
    assert not before.bozo, before.get("bozo_exception")
    assert len(before.entries) == 2
    ids = {e.id for e in before.entries}
    # A feed reader polls again after the VOA repost and a Traditional edition arrived.
    now = 1_800_000_000_000  # both arrive long after the stories were first seen
    site.add_file("repost_voa_freedom_house.md", "voa", seen_ms=now)
    site.add_file(
        "rfi_999999_korea_defectors.traditional-s2t.md",
        "rfi",
        url="https://www.rfi.fr/tw/x",
        seen_ms=now,
    )
    after = feedparser.parse(client.get("/feeds/all.atom").data)
    assert not after.bozo
    assert len(after.entries) == 2  # still one entry per story, never one per repost
    assert {e.id for e in after.entries} == ids  # stable ids
    merged = next(e for e in after.entries if e.title.startswith("自由之家"))
    related = [link.href for link in merged.links if link.rel == "related"]
    assert len(related) == 1 and "voachinese.com" in related[0]
    assert (
        merged.updated_parsed > next(e for e in before.entries if e.id == merged.id).updated_parsed
    )
    assert "voachinese.com" in merged.content[0].value  # the repost is a link in the content too
    assert first.story_id is not None


def test_json_feed_is_valid_json_feed_1_1(site: Site) -> None:
    site.add_file("repost_rfi_freedom_house.md", "rfi")
    site.add_file("repost_voa_freedom_house.md", "voa")
    site.add_file("rfi_1000000_putin_icc.md", "rfi")
    site.add(hostile_item(), "rfi")
    response = _client(site).get("/feeds/all.json")
    assert response.content_type.startswith("application/feed+json")
    doc = json.loads(response.data)
    jsonschema.validate(doc, SCHEMA)
    assert len(doc["items"]) == 3
    merged = next(i for i in doc["items"] if i["title"].startswith("自由之家"))
    assert [r["outlet"] for r in merged["_feedwatch"]["reposts"]] == ["voa"]
    hostile = next(i for i in doc["items"] if "hostile" in i["content_html"])
    assert "url" not in hostile  # a javascript: URL is never a link
    assert "<script" not in hostile["content_html"] and "onerror" not in hostile["content_html"]


def test_outlet_and_rule_feeds(site: Site) -> None:
    site.add_file("repost_rfi_freedom_house.md", "rfi")
    site.add_file("repost_voa_freedom_house.md", "voa")  # a repost: VOA carried the RFI story
    site.add_file("rfi_999999_korea_defectors.md", "rfi")  # matches rule korea
    site.add_file("dw_1022765_trump_ukraine.md", "dw")
    client = _client(site)
    voa = feedparser.parse(client.get("/feeds/outlet/voa.atom").data)
    assert [e.title[:4] for e in voa.entries] == ["自由之家"]
    korea = feedparser.parse(client.get("/feeds/rule/korea.atom").data)
    assert [e.title[:4] for e in korea.entries] == ["韩国外长"]
    assert client.get("/feeds/outlet/nope.atom").status_code == 404
    assert client.get("/feeds/rule/nope.json").status_code == 404
    assert client.get("/feeds/all.rss").status_code == 404


def test_conditional_get_answers_304_until_a_story_arrives(site: Site) -> None:
    site.add_file("rfi_1000000_putin_icc.md", "rfi")
    client = _client(site)
    first = client.get("/feeds/all.atom")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.status_code == 200 and etag and modified
    assert client.get("/feeds/all.atom", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/feeds/all.atom", headers={"If-Modified-Since": modified}).status_code == 304
    site.add_file("dw_1022765_trump_ukraine.md", "dw")
    changed = client.get("/feeds/all.atom", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
