"""The web app in a real browser: Debian's headless Chromium driven by Playwright.

Playwright's own browser download cannot work here; the tests use /usr/bin/chromium (installed
by .ci/run) and are skipped, with that reason, only when it is absent.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_site import Site, hostile_item, make_site

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(),
        reason="Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    site = make_site(tmp_path_factory.mktemp("browser"))
    site.add_file("repost_rfi_freedom_house.md", "rfi")
    site.add_file("repost_voa_freedom_house.md", "voa")
    site.add_file("rfi_999999_korea_defectors.md", "rfi")
    site.add_file("rfi_1000000_putin_icc.md", "rfi")
    site.add_file("dw_1022765_trump_ukraine.md", "dw")
    site.add(hostile_item(), "rfi")
    site.ingestor.deliver_alerts()
    return site


@pytest.fixture(scope="module")
def base_url(site: Site) -> Iterator[str]:
    from feedwatch.read_commands import start_background_server

    port = _free_port()
    thread, server = start_background_server(site.config, "127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    server.close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def test_story_list_to_story_page(page: Any, base_url: str) -> None:
    page.goto(base_url + "/")
    titles = page.locator("li.story a.title").all_inner_texts()
    assert len(titles) == 5 and titles[0].startswith("特朗普为乌克兰")  # 2025, newest
    page.get_by_text("自由之家：中国疫情失控与压制网络言论有关").click()
    page.wait_for_url("**/story/*")
    assert page.locator("article h1").inner_text().startswith("自由之家")
    assert page.locator("table.items tbody tr").count() == 2
    assert "a repost of" in page.locator("table.merges").inner_text()
    assert page.locator("article .body p").count() > 3


def test_search_form_finds_both_scripts(page: Any, base_url: str) -> None:
    page.goto(base_url + "/")
    page.fill("header input[name=q]", "朝鮮")
    page.click("header button[type=submit]")
    page.wait_for_url("**/search?q=*")
    results = page.locator("li.story a.title").all_inner_texts()
    assert any(t.startswith("韩国外长") for t in results)
    page.fill("main input[name=q]", "京")  # one character
    page.check("input[value=relevance]")
    page.click("main button[type=submit]")
    page.wait_for_url("**order=relevance*")
    found = page.locator("li.story a.title").all_inner_texts()
    assert {t[:4] for t in found} >= {"反击全球", "特朗普为"}  # both hold 普京
    assert "韩国外长" not in {t[:4] for t in found}


def test_filter_form_by_outlet(page: Any, base_url: str) -> None:
    page.goto(base_url + "/")
    page.select_option("select[name=outlet]", "voa")
    page.click("form.filters button")
    page.wait_for_url("**/?outlet=voa*")
    assert page.locator("li.story a.title").all_inner_texts() == [
        "自由之家：中国疫情失控与压制网络言论有关"
    ]


def test_outlets_and_alerts_pages(page: Any, base_url: str) -> None:
    page.goto(base_url + "/outlets")
    assert page.locator("section.outlet").count() == 3
    page.goto(base_url + "/alerts")
    assert "file: sent" in page.locator("table.alerts").inner_text()


def test_hostile_item_runs_nothing(page: Any, base_url: str, site: Site) -> None:
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(base_url + "/")
    story = page.locator("li.story a.title", has_text="hostile").or_(
        page.locator("li.story a.title", has_text="<script>")
    )
    story.first.click()
    page.wait_for_url("**/story/*")
    page.wait_for_load_state("load")
    assert page.dialogs == []  # no alert() ran from the title, body or link
    assert page.locator("article h1").inner_text().startswith('<script>alert("t")</script>')
    assert (
        page.locator("article .body script, article .body iframe, article .body svg").count() == 0
    )
    assert page.evaluate("document.querySelectorAll('[onerror],[onload],[onclick]').length") == 0
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")]
    page.goto(base_url + "/search?q=hostile")
    assert page.dialogs == []


def test_headers_reach_the_browser(page: Any, base_url: str) -> None:
    response = page.goto(base_url + "/")
    headers = response.headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    # The stylesheet loads under that policy (style-src 'self'): the header is styled.
    assert (
        page.evaluate("getComputedStyle(document.querySelector('header')).borderBottomStyle")
        == "solid"
    )
