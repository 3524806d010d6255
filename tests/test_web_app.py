"""The web pages: lists, filters, paging, a story with its provenance, safety headers, read-only."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from web_site import HOSTILE_TITLE, Site, hostile_item, make_site

from store.format import StoredItem
from web.app import SECURITY_HEADERS, create_app
from web.queries import StateUnavailable, connect_readonly


@pytest.fixture()
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


def _client(site: Site) -> FlaskClient:
    return create_app(site.config, refresh_interval=0).test_client()


def _text(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, url
    return response.get_data(as_text=True)


def _story_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/story/(\d+)"', html)]


def test_story_list_newest_first_with_reposts_and_rules(site: Site) -> None:
    rfi = site.add_file("repost_rfi_freedom_house.md", "rfi")
    site.add_file("repost_voa_freedom_house.md", "voa")
    korea = site.add_file("rfi_999999_korea_defectors.md", "rfi")
    html = _text(_client(site), "/")
    assert _story_ids(html) == [korea.story_id, rfi.story_id]  # 2023 before 2020
    assert "1 repost · rfi, voa" in html
    assert 'href="/?rule=korea"' in html


def test_filters_by_outlet_day_and_rule(site: Site) -> None:
    rfi = site.add_file("repost_rfi_freedom_house.md", "rfi")
    site.add_file("repost_voa_freedom_house.md", "voa")
    korea = site.add_file("rfi_999999_korea_defectors.md", "rfi")
    dw = site.add_file("dw_1022765_trump_ukraine.md", "dw")
    client = _client(site)
    assert _story_ids(_text(client, "/?outlet=voa")) == [rfi.story_id]  # VOA carried it as a repost
    assert _story_ids(_text(client, "/?outlet=dw")) == [dw.story_id]
    assert _story_ids(_text(client, "/?rule=korea")) == [korea.story_id]
    assert _story_ids(_text(client, "/?day=2023-10-28")) == [korea.story_id]
    assert _story_ids(_text(client, "/?day=2023-10-29")) == []
    assert _story_ids(_text(client, "/?outlet=rfi&rule=korea")) == [korea.story_id]
    _text(client, "/?day=yesterday", 400)


def test_keyset_paging_visits_every_story_once(site: Site) -> None:
    base = 1_700_000_000_000
    for n in range(120):
        ts = base + (n % 7) * 3_600_000  # many stories share a time: ties break by id
        site.add(
            StoredItem(ts, f"第{n}条", f"https://www.rfi.fr/cn/n{n}", f"<p>内容 {n} 号</p>"), "rfi"
        )
    client = _client(site)
    seen: list[int] = []
    url: str | None = "/"
    while url:
        html = _text(client, url)
        seen += _story_ids(html)
        found = re.search(r'<a rel="next" href="([^"]+)"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == 120 and len(set(seen)) == 120


def test_story_page_shows_body_provenance_and_dedup_reasons(site: Site) -> None:
    rfi = site.add_file("repost_rfi_freedom_house.md", "rfi")
    site.add_file("repost_voa_freedom_house.md", "voa")
    client = _client(site)
    html = _text(client, f"/story/{rfi.story_id}")
    assert "自由之家" in html
    assert "Carried by 2 URLs" in html
    assert "voachinese.com" in html
    assert "a repost of" in html and "shingle containment" in html
    raw = client.get(f"/story/{rfi.story_id}/file")
    assert raw.status_code == 200 and raw.content_type.startswith("text/plain")
    assert raw.headers["Content-Security-Policy"].startswith("sandbox")
    assert raw.data == rfi.path.read_bytes()  # type: ignore[union-attr]
    _text(client, "/story/999", 404)


def test_search_page(site: Site) -> None:
    korea = site.add_file("rfi_999999_korea_defectors.md", "rfi")
    client = _client(site)
    assert _story_ids(_text(client, "/search?q=朝鮮")) == [korea.story_id]
    assert _story_ids(_text(client, "/search?q=朝鲜&order=relevance")) == [korea.story_id]
    assert "No story holds every term" in _text(client, "/search?q=普京")
    assert _story_ids(_text(client, '/search?q=" OR * NEAR(')) == []  # no FTS syntax error


def test_outlets_and_alerts_pages(site: Site) -> None:
    site.add_file("rfi_999999_korea_defectors.md", "rfi")
    site.ingestor.deliver_alerts()
    client = _client(site)
    outlets = _text(client, "/outlets")
    assert "RFI 中文" in outlets and "https://www.rfi.fr/cn/rss" in outlets
    assert "never" in outlets  # no crawl run yet
    alerts = _text(client, "/alerts")
    assert "韩国外长" in alerts and "file: sent" in alerts


def test_security_headers_and_no_write_methods(site: Site) -> None:
    site.add_file("rfi_1000000_putin_icc.md", "rfi")
    client = _client(site)
    for url in ("/", "/story/1", "/search?q=x", "/outlets", "/alerts", "/feeds/all.atom", "/nope"):
        response = client.get(url)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (url, name)
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert (
        "script-src" not in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    )
    for method in ("post", "put", "delete", "patch"):
        assert getattr(client, method)("/").status_code == 405


def test_hostile_items_render_inert(site: Site) -> None:
    outcome = site.add(hostile_item(), "rfi")
    client = _client(site)
    pages = [
        _text(client, "/"),
        _text(client, f"/story/{outcome.story_id}"),
        _text(client, "/search?q=hostile"),
        _text(client, "/feeds/all.atom"),
    ]
    for html in pages[:3]:
        assert "<script" not in html.lower()
        assert not re.search(
            r"<[^>]+\son\w+\s*=", html, re.IGNORECASE
        )  # no event handler attribute
        assert not re.search(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", html, re.IGNORECASE)
        assert (
            "<iframe" not in html
            and "<svg" not in html
            and '<form action="https://evil' not in html
        )
    assert "&lt;script&gt;" in pages[0]  # the title is shown as text
    assert HOSTILE_TITLE not in pages[1]
    atom = pages[3]
    assert (
        "<script" not in atom and "javascript:" not in atom
    )  # escaped content holds no live markup


def test_the_app_never_writes_the_state(site: Site) -> None:
    site.add_file("rfi_999999_korea_defectors.md", "rfi")
    site.ingestor.state.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = site.config.state_db

    def digest() -> list[str]:
        return [
            hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(db.parent.glob(db.name + "*"))
        ]

    before = digest()
    client = _client(site)
    for url in ("/", "/story/1", "/search?q=朝鲜", "/outlets", "/alerts", "/feeds/all.json"):
        client.get(url)
    assert digest() == before
    conn = connect_readonly(db)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM items")


def test_missing_state_is_a_clear_page(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    site.ingestor.state.close()
    for path in site.config.state_db.parent.glob("*"):
        path.unlink()
    html = _text(_client(site), "/", 503)
    assert "no state database yet" in html
    with pytest.raises(StateUnavailable):
        connect_readonly(site.config.state_db)
