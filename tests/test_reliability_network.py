"""Hostile input from the network: long URLs, GUIDs reused across feeds, DNS answers, alerts.

Each case runs real `feedwatch crawl` processes against `tests/servers/faultserver.py` on
127.0.0.1, serving real Epoch Times items (nsc413) whose links are rewritten to point at the
local server, and the real RFI article page (see tests/fixtures/outlets/PROVENANCE.md).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from alerts_helpers import KOREA, KOREA_TRADITIONAL, Clock, make_config, memory_db, story
from rich.console import Console
from servers.faultserver import Answer, FaultServer, item_title, nsc413, read_fixture, rss

from alerts.channels import AlertMessage, ConsoleNotifier, expand_env
from alerts.service import AlertService
from crawler.guards import AddressPolicy, host_and_port
from store.format import StoredItem, parse_item, render_item

pytestmark = pytest.mark.timeout(180)

RFI_PAGE = "rfi/rfi_article_20251130_taiwan-defense.html.gz"
# From the RFI page's lead paragraph: proof that a stored body was extracted from the page.
RFI_PAGE_MARK = "多层次的防空系统"


def _with_link(item: str, link: str) -> str:
    """A real RSS item pointing at `link` (escaped for XML)."""
    return re.sub(r"<link>.*?</link>", f"<link>{escape(link)}</link>", item, count=1, flags=re.S)


def _with_guid(item: str, guid: str) -> str:
    return item.replace("</title>", f'</title><guid isPermaLink="false">{guid}</guid>', 1)


def _crawl(
    config: Path, *outlets: str, runner: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = runner or [sys.executable, "-m", "feedwatch"]
    return subprocess.run(
        [*command, "crawl", *outlets, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=config.parent,
    )


def _stored(folder: Path) -> dict[str, StoredItem]:
    """Every stored item by URL, each checked to re-render to its exact bytes."""
    items = {}
    for path in sorted((folder / "archive").rglob("*.txt")):
        data = path.read_bytes()
        item = parse_item(data)
        assert render_item(item) == data, path
        items[item.url] = item
    return items


def _write_config(folder: Path, outlets: str) -> Path:
    config = folder / "config.yaml"
    config.write_text(
        "archive_dir: archive\nstate_db: state/feedwatch.sqlite3\n"
        "http: {timeout: 5}\ndedup: {enabled: false}\noutlets:\n" + outlets,
        encoding="utf-8",
    )
    return config


# -- 7. long article URLs ----------------------------------------------------------------------


def test_long_article_urls_are_fetched_or_stored_from_the_summary(tmp_path: Path) -> None:
    _, items = nsc413()
    with FaultServer() as server:
        server.add("/article.html", Answer(read_fixture(RFI_PAGE), content_type="text/html"))
        # Over Scrapy's old 2083 limit, under ours: fetched. Over ours: the summary, a WARNING.
        medium = f"{server.base_url}/article.html?q={'a' * 3000}"
        huge = f"{server.base_url}/article.html?q={'b' * 9000}"
        feed = rss([_with_link(items[0], medium), _with_link(items[1], huge)])
        server.add("/long.xml", Answer(feed.encode("utf-8")))
        config = _write_config(
            tmp_path,
            f'  longurls:\n    spider: rfi\n    domains: ["127.0.0.1"]\n'
            f'    feeds: [{{url: "{server.base_url}/long.xml", full_text: false}}]\n',
        )
        result = _crawl(config)
        fetched = server.requests["/article.html"]
    assert result.returncode == 0, result.stderr
    stored = _stored(tmp_path)
    assert set(stored) == {medium, huge}, result.stderr
    assert fetched == 1  # only the medium URL reached the server
    assert RFI_PAGE_MARK in stored[medium].body  # extracted from the page
    assert stored[medium].title == item_title(items[0])
    # The huge one keeps the feed's own text for that entry, not an empty body.
    assert RFI_PAGE_MARK not in stored[huge].body
    assert "责任编辑：萧律生" in stored[huge].body  # the end of the entry's content
    assert stored[huge].title == item_title(items[1])
    warnings = [
        line
        for line in result.stderr.splitlines()
        if "WARNING" in line and "over URLLENGTH_LIMIT 8000" in line
    ]
    assert len(warnings) == 1, result.stderr
    assert "keeping the feed summary" in warnings[0] and "9" in warnings[0]
    assert len(warnings[0]) < 400  # the hostile URL is not copied whole into the log
    assert "Ignoring link" not in result.stderr


# -- 8. GUIDs are scoped by feed -----------------------------------------------------------------


@pytest.mark.parametrize("dedup", [False, True], ids=["dedup-off", "dedup-on"])
@pytest.mark.slow
def test_a_feed_reusing_another_outlets_guids_cannot_suppress_its_stories(
    tmp_path: Path, dedup: bool
) -> None:
    _, items = nsc413()
    guids = [f"urn:victim:{n}" for n in range(3)]
    victim_items = [_with_guid(item, guid) for item, guid in zip(items[10:13], guids, strict=True)]
    # Other real stories, under their own links, claiming the victim's GUIDs before it is read.
    hostile_items = [_with_guid(item, guid) for item, guid in zip(items[20:23], guids, strict=True)]
    with FaultServer() as server:
        server.add("/victim.xml", Answer(rss(victim_items).encode("utf-8")))
        server.add("/hostile.xml", Answer(rss(hostile_items).encode("utf-8")))
        config = _write_config(
            tmp_path,
            f"  victim:\n    spider: epochtimes\n"
            f'    feeds: [{{url: "{server.base_url}/victim.xml", full_text: true}}]\n'
            f"  hostile:\n    spider: epochtimes\n"
            f'    feeds: [{{url: "{server.base_url}/hostile.xml", full_text: true}}]\n',
        )
        if dedup:
            text = config.read_text(encoding="utf-8").replace("dedup: {enabled: false}\n", "")
            config.write_text(text, encoding="utf-8")
        first = _crawl(config, "hostile")
        assert "stories 3 new" in first.stdout, first.stderr
        second = _crawl(config, "victim")
        assert "stories 3 new" in second.stdout, second.stderr
        stored = _stored(tmp_path)
        victim_links = {_link(item) for item in victim_items}
        hostile_links = {_link(item) for item in hostile_items}
        assert set(stored) == victim_links | hostile_links
        for item in victim_items:
            assert stored[_link(item)].title == item_title(item)

        # Within its own feed a GUID still identifies the entry: new links, same GUIDs, nothing new.
        moved = [_with_link(item, _link(item) + "?moved=1") for item in victim_items]
        server.add("/victim.xml", Answer(rss(moved).encode("utf-8")))
        third = _crawl(config, "victim")
        assert "stories 0 new" in third.stdout, third.stdout + third.stderr
        assert set(_stored(tmp_path)) == victim_links | hostile_links


def _link(item: str) -> str:
    match = re.search(r"<link>(.*?)</link>", item, re.S)
    assert match
    return match.group(1).strip()


# -- 14. the outbound guard at connect time ------------------------------------------------------

FAKEDNS = Path(__file__).parent / "servers" / "fakedns.py"


def _fakedns(folder: Path, answers: dict[str, str]) -> list[str]:
    """The command that runs feedwatch with these fake DNS answers (see servers/fakedns.py)."""
    path = folder / "dns.json"
    path.write_text(json.dumps(answers), encoding="utf-8")
    return [sys.executable, str(FAKEDNS), str(path)]


def _asked(folder: Path) -> list[str]:
    log = folder / "dns.json.log"
    return log.read_text(encoding="utf-8").split() if log.exists() else []


def test_names_resolving_to_private_addresses_are_refused_at_connect_time(tmp_path: Path) -> None:
    _, items = nsc413()
    with FaultServer() as server:
        port = server.base_url.rsplit(":", 1)[1]
        page = Answer(read_fixture(RFI_PAGE), content_type="text/html")
        server.add("/article.html", page)
        server.add("/allowed.html", page)
        # A built-in outlet domain whose DNS answer is loopback (a hijacked or rebound name).
        hijacked = f"http://www.rfi.fr:{port}/article.html"
        # A name listed in the config's domains: allowed to be private on purpose.
        intranet = f"http://news.intranet.test:{port}/allowed.html"
        feed = rss([_with_link(items[0], hijacked), _with_link(items[1], intranet)])
        server.add("/feed.xml", Answer(feed.encode("utf-8")))
        # A feed configured by name (allowed, host and port) that redirects to another name.
        server.add("/named.xml", Answer(rss(items[2:4]).encode("utf-8")))
        server.add(
            "/redirect.xml",
            Answer(status=302, headers={"Location": f"http://rebound.test:{port}/named.xml"}),
        )
        config = _write_config(
            tmp_path,
            f'  rfi:\n    spider: rfi\n    domains: ["intranet.test"]\n'
            f'    feeds: [{{url: "http://feeds.test:{port}/feed.xml", full_text: false}}]\n'
            f"  other:\n    spider: epochtimes\n"
            f'    feeds: [{{url: "http://feeds.test:{port}/named.xml", full_text: true}},'
            f' {{url: "{server.base_url}/redirect.xml", full_text: true}}]\n',
        )
        dns = {
            name: "127.0.0.1"
            for name in ("www.rfi.fr", "news.intranet.test", "feeds.test", "rebound.test")
        }
        result = _crawl(config, runner=_fakedns(tmp_path, dns))
        requests = dict(server.requests)
    asked = _asked(tmp_path)
    # Every name went through the resolver (none was judged from the URL alone)...
    assert {"www.rfi.fr", "news.intranet.test", "feeds.test", "rebound.test"} <= set(asked)
    # ...only the allowed ones were connected to, and a refused name is not retried.
    assert requests.get("/article.html", 0) == 0, requests
    assert requests["/allowed.html"] == 1
    assert requests["/feed.xml"] == 1 and requests["/named.xml"] == 1, requests
    assert asked.count("www.rfi.fr") == 1 and asked.count("rebound.test") == 1, asked
    lines = result.stderr.splitlines()
    article = [line for line in lines if "article http://www.rfi.fr" in line]
    assert len(article) == 1, result.stderr
    assert (
        f"failed (RefusedRequest: refused www.rfi.fr:{port}: it resolves to 127.0.0.1,"
        " a loopback address, not allowed by the config); keeping the feed summary" in article[0]
    )
    redirect = [line for line in lines if "redirect.xml failed" in line]
    assert len(redirect) == 1, result.stderr
    assert f"RefusedRequest: refused rebound.test:{port}: it resolves to 127.0.0.1" in redirect[0]
    assert "Gave up retrying" not in result.stderr
    stored = _stored(tmp_path)
    # The refused article keeps its feed summary; the allowed one has the page's body.
    assert RFI_PAGE_MARK not in stored[hijacked].body and stored[hijacked].body
    assert RFI_PAGE_MARK in stored[intranet].body
    assert {_link(item) for item in items[2:4]} <= set(stored)  # the named feed, read once


def test_a_feed_redirect_to_another_port_of_its_host_is_refused(tmp_path: Path) -> None:
    _, items = nsc413()
    with FaultServer() as feeds, FaultServer() as other:
        other.add("/internal.xml", Answer(rss(items[4:6]).encode("utf-8")))
        feeds.add(
            "/moved.xml",
            Answer(status=301, headers={"Location": f"{other.base_url}/internal.xml"}),
        )
        config = _write_config(
            tmp_path,
            f"  et:\n    spider: epochtimes\n"
            f'    feeds: [{{url: "{feeds.base_url}/moved.xml", full_text: true}}]\n',
        )
        result = _crawl(config)
        reached = other.requests["/internal.xml"]
    assert reached == 0
    assert re.search(
        rf"feed {re.escape(feeds.base_url)}/moved.xml failed \(redirected to "
        rf"{re.escape(other.base_url)}/internal.xml\): RefusedRequest: refused 127\.0\.0\.1:"
        r" a loopback address",
        result.stderr,
    ), result.stderr
    assert _stored(tmp_path) == {}


# -- 13. alert ids and secrets in channel URLs ---------------------------------------------------


class _Capture:
    """A local webhook that records each request's path, headers and JSON body."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                capture.received.append((self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def capture() -> Iterator[_Capture]:
    server = _Capture()
    try:
        yield server
    finally:
        server.close()


def _alerts_config(tmp_path: Path, hook_url: str) -> Any:
    return make_config(
        {
            "channels": {
                "file": {"kind": "jsonl", "path": str(tmp_path / "alerts.jsonl")},
                "hook": {"kind": "apprise", "url": hook_url, "timeout": "5s"},
            },
            "rules": [{"name": "korea", "any": ["朝鲜"], "notify": ["file", "hook"]}],
        }
    )


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_resent_alert_carries_the_same_id_on_every_channel(
    tmp_path: Path, capture: _Capture
) -> None:
    config = _alerts_config(tmp_path, f"json://127.0.0.1:{capture.port}/hook")
    conn = memory_db()
    service = AlertService(conn, config, clock=Clock())
    service.on_new_story(story(KOREA, 1, "rfi"))
    assert service.deliver_pending().sent == 2
    # The process died after sending, before recording it: the next run sends it again.
    conn.execute("UPDATE alerts_outbox SET state = 'pending', next_attempt_ms = 0")
    assert service.deliver_pending().sent == 2
    # The state was lost and rebuilt: the same story comes back under another row id.
    rebuilt = AlertService(memory_db(), config, clock=Clock())
    rebuilt.on_new_story(story(KOREA, 7, "rfi"))
    assert rebuilt.deliver_pending().sent == 2

    ids = {record["alert_id"] for record in _jsonl(tmp_path / "alerts.jsonl")}
    assert len(capture.received) == 3 and len(ids) == 1
    (alert_id,) = ids
    assert re.fullmatch(r"fw-[0-9a-f]{20}", alert_id)
    for _path, headers, body in capture.received:
        assert body["alert_id"] == alert_id  # a JSON field of the webhook payload
        assert headers["X-Feedwatch-Alert-Id"] == alert_id  # and a header
        assert body["message"].endswith(f"\n\nalert id: {alert_id}")  # and the text itself

    # The same text in the other script is the same story (same URL): no second alert.
    assert service.on_new_story(story(KOREA_TRADITIONAL, 1, "rfi")) == []
    # Another story (another URL) is another alert: another id.
    other = dataclasses.replace(story(KOREA, 2, "rfi"), url="https://www.rfi.fr/cn/other-story")
    assert service.on_new_story(other) == ["korea"]
    service.deliver_pending()
    assert len({record["alert_id"] for record in _jsonl(tmp_path / "alerts.jsonl")}) == 2


def test_console_alerts_show_their_id() -> None:
    buffer = io.StringIO()
    notifier = ConsoleNotifier("term", Console(file=buffer, width=200, color_system=None))
    notifier.send(AlertMessage("match", "标题", "正文", {}, "fw-0123456789abcdef0123"))
    assert buffer.getvalue().rstrip().endswith("alert id: fw-0123456789abcdef0123")


SPECIAL = "p@ss:w/o?r#d%25&x=1 +"  # every character that means something in a URL


def test_secrets_with_url_special_characters_reach_the_service_intact(
    tmp_path: Path, capture: _Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FW_TEST_USER", "bot@example.org")
    monkeypatch.setenv("FW_TEST_PASSWORD", SPECIAL)
    monkeypatch.setenv("FW_TEST_PATH", "a/b?c#d")
    url = (
        f"json://${{FW_TEST_USER}}:${{FW_TEST_PASSWORD}}@127.0.0.1:{capture.port}"
        "/hooks/${FW_TEST_PATH}"
    )
    service = AlertService(memory_db(), _alerts_config(tmp_path, url), clock=Clock())
    service.on_new_story(story(KOREA, 1, "rfi"))
    assert service.deliver_pending().sent == 2
    ((path, headers, _body),) = capture.received
    # The path segment arrives percent-encoded as one segment, decoded it is the value.
    assert unquote(path.split("?", 1)[0]) == "/hooks/a/b?c#d"
    assert path.startswith("/hooks/a%2Fb%3Fc%23d")
    scheme, _, token = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode("utf-8") == f"bot@example.org:{SPECIAL}"


def test_secrets_are_masked_in_errors_raw_and_encoded(tmp_path: Path) -> None:
    url, secrets = expand_env("tgram://${A}/${B}", {"A": "12:ab/c", "B": "x y"})
    assert url == "tgram://12%3Aab%2Fc/x%20y"
    assert set(secrets) == {"12:ab/c", "12%3Aab%2Fc", "x y", "x%20y"}


def test_address_policy_allows_by_host_and_port() -> None:
    policy = AddressPolicy()
    policy.allow("Feeds.Test.", 8001)  # a configured feed: that port only
    policy.allow("intranet.test")  # a configured domain: any port
    assert policy.refusal("feeds.test", 8001, ["127.0.0.1"]) is None
    assert policy.refusal("feeds.test", 6379, ["127.0.0.1"]) == (
        "it resolves to 127.0.0.1, a loopback address"
    )
    assert policy.refusal("intranet.test", 22, ["10.0.0.5"]) is None
    # Any blocked address in the answer refuses the name, whatever else it holds.
    assert policy.refusal("mixed.test", 80, ["93.184.215.14", "::ffff:169.254.169.254"]) == (
        "it resolves to ::ffff:169.254.169.254, a private address"
    )
    assert policy.refusal("public.test", 80, ["93.184.215.14", "2606:2800:21f:cb07::1"]) is None


def test_host_and_port_fill_in_the_default_port() -> None:
    assert host_and_port("http://127.0.0.1:8001/feed.xml") == ("127.0.0.1", 8001)
    assert host_and_port("https://www.rfi.fr/cn/") == ("www.rfi.fr", 443)
    assert host_and_port("http://www.rfi.fr/cn/") == ("www.rfi.fr", 80)
    assert host_and_port("http://a.test:99999999/") == ("a.test", -1)
