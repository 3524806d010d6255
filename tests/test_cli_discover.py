"""`feedwatch fetch` of an ordinary web page lists its feeds; `feedwatch add` adds one."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.feedserver import FeedServer

from conf.schema import load_config
from feedwatch.discover import outlet_name_for
from feedwatch.initconfig import template_text

ROOT = Path(__file__).resolve().parents[1]
RSS = "application/rss+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"
FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example News</title><link>http://127.0.0.1/</link>
<description>d</description>
<item><title>One</title><link>http://127.0.0.1/a/1</link><guid>1</guid>
<pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate><description>&lt;p&gt;One.&lt;/p&gt;</description></item>
<item><title>Two</title><link>http://127.0.0.1/a/2</link><guid>2</guid>
<pubDate>Mon, 30 Nov 2026 11:00:00 GMT</pubDate><description>&lt;p&gt;Two.&lt;/p&gt;</description></item>
</channel></rss>"""
ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Example Atom</title><id>urn:x</id>
<updated>2026-11-30T10:00:00Z</updated>
<entry><title>One</title><id>urn:1</id><link href="http://127.0.0.1/a/1"/>
<updated>2026-11-30T10:00:00Z</updated><content type="html">&lt;p&gt;One.&lt;/p&gt;</content></entry>
</feed>"""
PAGE = b"""<!DOCTYPE html><html><head><title>Example</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="News" href="/news/rss.xml">
<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
</head><body><p>Hello</p></body></html>"""
NO_FEEDS = b"<!DOCTYPE html><html><head><title>Plain</title></head><body>x</body></html>"


@pytest.fixture()
def site() -> Iterator[str]:
    routes = {
        "/": (PAGE, HTML),
        "/news/rss.xml": (FEED, RSS),
        "/atom.xml": (ATOM, "application/atom+xml"),
        "/feed": (NO_FEEDS, HTML),  # a well-known path that is not a feed: not offered
    }
    with FeedServer(routes) as server:
        yield server.base_url


@pytest.fixture()
def bare_site() -> Iterator[str]:
    with FeedServer({"/plain/": (NO_FEEDS, HTML), "/rss": (NO_FEEDS, HTML)}) as server:
        yield server.base_url


def _feedwatch(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedwatch", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_outlet_names_from_hosts() -> None:
    assert outlet_name_for("https://www.example.org/news/") == "example_org"
    assert outlet_name_for("http://127.0.0.1:8080/") == "site_127_0_0_1"
    assert outlet_name_for("https://Blog.Example.co.uk") == "blog_example_co_uk"


@pytest.mark.slow
def test_fetch_of_a_web_page_lists_its_feeds(site: str, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("outlets: {}\n", encoding="utf-8")
    done = _feedwatch("fetch", f"{site}/", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{site}/ is a web page, not a feed; its feeds:"
    # The linked feed first, then the well-known paths that really are feeds.
    assert lines[1] == f'  {site}/news/rss.xml  (RSS 2.0, "Example News", 2 entries)'
    assert lines[2] == f'  {site}/atom.xml  (Atom 1.0, "Example Atom", 1 entries)'
    assert lines[3] == f"add one with: feedwatch add {site}/news/rss.xml --name site_127_0_0_1"
    assert len(lines) == 4
    assert not list(tmp_path.rglob("*.txt"))  # the page was not stored as a story
    assert done.stderr == ""


@pytest.mark.slow
def test_fetch_of_a_page_without_feeds_says_so(bare_site: str, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("outlets: {}\n", encoding="utf-8")
    done = _feedwatch("fetch", f"{bare_site}/plain/", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"feedwatch fetch: no feed found at {bare_site}/plain/")
    assert done.stderr.count("\n") == 1


@pytest.mark.slow
def test_add_finds_checks_and_appends_keeping_comments(site: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    original = template_text()
    config.write_text(original, encoding="utf-8")
    done = _feedwatch("add", f"{site}/", "--name", "example", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"added outlet 'example' to config.yaml: {site}/news/rss.xml" in done.stdout
    assert "feedwatch crawl example" in done.stdout
    text = config.read_text(encoding="utf-8")
    # Everything that was there is still there, comments included, in the same order.
    assert text.startswith(original.split("\ndedup:")[0])
    assert "# any Apprise URL" in text and text.count("#") > original.count("#")
    assert "      - {url: " + site + "/news/rss.xml, full_text: auto}\n\ndedup:\n" in text
    loaded = load_config(config)
    outlet = loaded.outlets["example"]
    assert outlet.spider == "generic" and outlet.title == "Example News"
    assert [f.url for f in outlet.feeds] == [f"{site}/news/rss.xml"]
    assert list(loaded.outlets)[:4] == ["rfi", "dw", "voa", "epochtimes"]

    # Refused in one line, file untouched: the same name, or the same feed under another name.
    before = config.read_bytes()
    again = _feedwatch("add", f"{site}/", "--name", "example", cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "outlet 'example' is already in config.yaml" in again.stderr
    same_feed = _feedwatch("add", f"{site}/news/rss.xml", "--name", "other", cwd=tmp_path)
    assert same_feed.returncode == 2 and same_feed.stderr.count("\n") == 1
    assert "already in config.yaml (outlet 'example')" in same_feed.stderr
    assert config.read_bytes() == before


def test_add_of_a_feed_url_and_an_empty_outlets_map(site: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("# mine\narchive_dir: arch  # here\noutlets: {}\n", encoding="utf-8")
    done = _feedwatch("add", f"{site}/atom.xml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# mine\narchive_dir: arch  # here\noutlets:\n  site_127_0_0_1:")
    assert load_config(config).outlets["site_127_0_0_1"].feeds[0].url == f"{site}/atom.xml"


@pytest.mark.slow
def test_add_refuses_a_page_without_feeds(bare_site: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("outlets: {}\n", encoding="utf-8")
    done = _feedwatch("add", f"{bare_site}/plain/", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "no feed found" in done.stderr
    assert config.read_text(encoding="utf-8") == "outlets: {}\n"
