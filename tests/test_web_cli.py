"""The reading commands: stories, show, search, export, opml, serve/run --serve options."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest
from web_site import Site, make_site

from feedwatch.cli import build_parser, main
from feedwatch.read_commands import parse_since

OPML = Path(__file__).parent / "fixtures" / "web" / "feeds.opml"
READ_COMMANDS = [
    ["serve"],
    ["stories"],
    ["show", "1"],
    ["search", "x"],
    ["export", "--atom"],
    ["opml", "export"],
    ["opml", "import", "f.opml"],
]


@pytest.fixture()
def site(tmp_path: Path) -> Site:
    site = make_site(tmp_path)
    site.add_file("repost_rfi_freedom_house.md", "rfi")
    site.add_file("repost_voa_freedom_house.md", "voa")
    site.add_file("rfi_999999_korea_defectors.md", "rfi")
    return site


def _run(site: Site, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--config", str(site.config_path)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", READ_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_read_command_takes_config(argv: list[str]) -> None:
    args = build_parser().parse_args([*argv, "--config", "other.yaml"])
    assert args.config == Path("other.yaml")


def test_serve_defaults_to_localhost_and_run_can_serve() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8080)
    args = build_parser().parse_args(["run", "--serve", "--port", "9000"])
    assert args.serve and args.port == 9000 and args.host == "127.0.0.1"
    assert not build_parser().parse_args(["run"]).serve


def test_stories_text_and_json(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(site, capsys, "stories")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert "韩国外长" in lines[0] and "#korea" in lines[0]
    assert "[+1 via www.rfi.fr, www.voachinese.com]" in lines[1]
    code, out, _ = _run(site, capsys, "stories", "--outlet", "voa", "--json")
    rows = json.loads(out)
    assert [r["title"][:4] for r in rows] == ["自由之家"] and rows[0]["outlets"] == ["rfi", "voa"]
    code, out, _ = _run(site, capsys, "stories", "--since", "2021-01-01", "--json")
    assert [r["title"][:4] for r in json.loads(out)] == ["韩国外长"]


def test_show_by_id_url_and_file_prints_text_not_html(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = _run(site, capsys, "stories", "--json")
    story = json.loads(out)[1]
    code, by_id, _ = _run(site, capsys, "show", str(story["id"]))
    assert code == 0 and by_id.startswith(story["title"])
    assert "<p>" not in by_id and "<div" not in by_id
    assert "also carried by 1:" in by_id and "voachinese.com" in by_id
    assert _run(site, capsys, "show", story["url"])[1] == by_id
    assert _run(site, capsys, "show", story["path"])[1] == by_id
    loose = Path(__file__).parent / "fixtures/alerts/rfi_1000000_putin_icc.md"  # not in the archive
    code, out, _ = _run(site, capsys, "show", str(loose))
    assert code == 0 and out.startswith("反击全球通缉普京") and "<p>" not in out


def test_show_and_filters_refuse_bad_input_in_one_line(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["show", "999"],
        ["show", "https://nowhere.example/a"],
        ["show", "no/such/file"],
        ["stories", "--outlet", "bbc"],
        ["stories", "--since", "last week"],
        ["export", "--json", "--rule", "nope"],
        ["search", "，，"],
        ["opml", "import", "missing.opml"],
    ):
        code, _, err = _run(site, capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, (argv, err)
        assert "Traceback" not in err


def test_search_command(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(site, capsys, "search", "脫北者", "--json")
    assert code == 0 and [r["title"][:4] for r in json.loads(out)] == ["韩国外长"]
    code, out, err = _run(site, capsys, "search", "普京")
    assert code == 1 and out == "" and "no story" in err


def test_export_atom_and_json_to_files(
    site: Site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    atom = tmp_path / "out.atom"
    code, _, err = _run(site, capsys, "export", "--atom", "-o", str(atom))
    assert code == 0 and "wrote 2 stories" in err
    parsed = feedparser.parse(atom.read_bytes())
    assert not parsed.bozo and len(parsed.entries) == 2
    assert parsed.feed.links[0].href == "http://127.0.0.1:8080/feeds/all.atom"
    code, out, _ = _run(site, capsys, "export", "--json", "--rule", "korea")
    assert [i["title"][:4] for i in json.loads(out)["items"]] == ["韩国外长"]
    code, out, _ = _run(site, capsys, "export", "--json", "--outlet", "voa", "--since", "2d")
    assert json.loads(out)["items"] == []


def test_opml_export_then_import_refuses_duplicates(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(site, capsys, "opml", "export")
    assert code == 0 and out.count("xmlUrl=") == 3 and "https://www.rfi.fr/cn/rss" in out
    code, out, _ = _run(site, capsys, "opml", "import", str(OPML))
    assert code == 0
    assert "skipped https://www.rfi.fr/cn/rss: already configured in outlet rfi" in out
    assert "skipped https://rss.dw.com/rdf/rss-chi-all: already configured in outlet dw" in out
    assert (
        "added outlet feedx_net: https://feedx.net/rss/rfi.xml" not in out
    )  # named from its title
    assert "added outlet feedx_rfi: https://feedx.net/rss/rfi.xml" in out
    text = site.config_path.read_text(encoding="utf-8")
    assert "# the web tests' config (this comment must survive `opml import`)" in text
    assert "# the direct feed" in text
    code, out, _ = _run(site, capsys, "stories")  # the edited config still loads
    assert code == 0
    code, out, _ = _run(site, capsys, "opml", "import", str(OPML))  # again: all known now
    assert code == 0 and "0 feed(s) added" in out


def test_opml_import_refuses_non_opml(
    site: Site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.opml"
    bad.write_text("<html><body>not opml", encoding="utf-8")
    before = site.config_path.read_bytes()
    code, _, err = _run(site, capsys, "opml", "import", str(bad))
    assert code == 2 and "not well-formed XML" in err
    entity = tmp_path / "entity.opml"
    entity.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        '<opml version="2.0"><body><outline text="&e;" xmlUrl="https://ex.org/feed"/></body></opml>',
        encoding="utf-8",
    )
    code, out, _ = _run(site, capsys, "opml", "import", str(entity))
    assert "root:" not in site.config_path.read_text(encoding="utf-8")
    assert site.config_path.read_bytes() != before or code == 2


def test_parse_since() -> None:
    assert parse_since("2025-02-15") == 1739577600000
    assert parse_since("2d", now_ms=200_000_000) == 200_000_000 - 2 * 86_400_000
    assert parse_since(None) is None


def test_background_server_serves_the_app_over_http(site: Site) -> None:
    """What `feedwatch run --serve` starts: a real HTTP server on localhost, in a thread."""
    import socket
    import urllib.request

    from feedwatch.read_commands import start_background_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    thread, server = start_background_server(site.config, "127.0.0.1", port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            html = response.read().decode("utf-8")
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "自由之家" in html and thread.is_alive()
    finally:
        server.close()
        thread.join(timeout=5)
