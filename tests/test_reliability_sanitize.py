"""Hostile HTML and hostile addresses: the body sanitizer, the outbound guard, and a whole crawl."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from servers.faultserver import OUTLETS, Answer, FaultServer, item_link, nsc413, rss

from crawler.guards import blocked_address_reason
from store.format import parse_item
from store.imports import read_item_file
from store.sanitize import find_danger, sanitize_body, strip_control_chars

# OWASP XSS filter evasion cheat sheet style payloads, each with a marker that must not survive.
PAYLOADS = [
    ("<script>alert(1)</script>", "<script"),
    ('<img src=x onerror="alert(1)">', "onerror"),
    ('<a href="javascript:alert(1)">x</a>', "javascript:"),
    ("<svg onload=alert(1)><circle/></svg>", "<svg"),
    ('<iframe src="http://example.org/"></iframe>', "<iframe"),
    ('<a href="jav&#x09;ascript:alert(1)">tab</a>', "ascript:"),
    (
        '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">e</a>',
        "&#106;",
    ),
    ("<style>p{background:expression(alert(1))}</style>", "expression"),
    ('<p style="width: expression(alert(1))">x</p>', "expression"),
    ('<div style="background:url(javascript:alert(1))">x</div>', "url("),
    ("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", "onerror"),
    ('<noscript><p title="</noscript><img src=x onerror=alert(1)>">', "onerror"),
    ('<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">d</a>', "data:"),
    ("<IMG SRC=JaVaScRiPt:alert(1)>", "ascript:"),
    ("<BODY ONLOAD=alert(1)>", "onload"),
    ('<object data="x.swf"></object><embed src="x.swf">', "x.swf"),
    ('<form action="http://evil/"><input name=q></form>', "<form"),
    ("<details open ontoggle=alert(1)>", "ontoggle"),
    ("<img/onerror=alert(1) src=x>", "onerror"),
    ('<base href="http://evil/">', "<base"),
]


@pytest.mark.parametrize(("payload", "marker"), PAYLOADS)
def test_payloads_are_removed_and_the_text_kept(payload: str, marker: str) -> None:
    body = f"<p>前文</p>{payload}<p>后文</p>"
    assert find_danger(body) is not None
    clean = sanitize_body(body)
    assert marker.lower() not in clean.lower()
    assert "前文" in clean  # text after an unclosed <style> is style text, as in browsers
    assert find_danger(clean) is None and sanitize_body(clean) == clean  # idempotent


def test_real_bodies_without_danger_stay_byte_identical() -> None:
    real = [read_item_file(p) for p in sorted(OUTLETS.rglob("items/*.md"))]
    assert len(real) == 9
    for item in real:
        assert sanitize_body(item.body) == item.body


def test_style_keeps_inert_layout_and_drops_active_css() -> None:
    assert sanitize_body('<p style="color:orange">x</p>') == '<p style="color:orange">x</p>'
    assert sanitize_body('<p style="width: 1px; background: url(x)">x</p><script></script>') == (
        '<p style="width: 1px">x</p>'
    )


def test_control_characters_leave_titles() -> None:
    assert strip_control_chars("\x07bell\x1b[31m 标题\x00") == "bell[31m 标题"


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "10.1.2.3", "192.168.0.1", "172.16.5.4",
     "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "[::1]", "::ffff:127.0.0.1", "fe80::1",
     "fd00::1", "localhost", "api.localhost", "224.0.0.1"],
)  # fmt: skip
def test_private_and_loopback_hosts_are_refused(host: str) -> None:
    assert blocked_address_reason(host) is not None


@pytest.mark.parametrize("host", ["www.rfi.fr", "8.8.8.8", "2001:4860:4860::8888", "feedx.net"])
def test_public_hosts_pass(host: str) -> None:
    assert blocked_address_reason(host) is None


def test_a_crawl_stores_no_payload_and_no_control_character(tmp_path: Path) -> None:
    _, items = nsc413()
    hostile = []
    for n, (payload, _marker) in enumerate(PAYLOADS):
        item = items[n].replace("<content><![CDATA[", f"<content><![CDATA[{payload}", 1)
        hostile.append(item.replace("<title>", "<title>\x1b[2J\x07", 1))
    with FaultServer() as server:
        server.add("/hostile.xml", Answer(rss(hostile).encode("utf-8")))
        config = tmp_path / "config.yaml"
        config.write_text(
            f"""archive_dir: archive
state_db: state/feedwatch.sqlite3
outlets:
  et:
    spider: epochtimes
    feeds: [{{url: "{server.base_url}/hostile.xml", full_text: true}}]
""",
            encoding="utf-8",
        )
        result = subprocess.run(
            [sys.executable, "-m", "feedwatch", "crawl", "--config", str(config)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    files = sorted((tmp_path / "archive").rglob("*.txt"))
    assert len(files) == len(PAYLOADS), result.stderr
    stored = {parse_item(f.read_bytes()).url: parse_item(f.read_bytes()) for f in files}
    for raw, (_payload, marker) in zip(hostile, PAYLOADS, strict=True):
        item = stored[item_link(raw)]
        assert marker.lower() not in item.body.lower(), (marker, item.body[:300])
        assert find_danger(item.body) is None
        assert "\x1b" not in item.title and "\x07" not in item.title
