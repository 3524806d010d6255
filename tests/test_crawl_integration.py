"""End to end: `feedwatch crawl` against a local HTTP server serving real recorded feeds and pages.

Links inside the fixtures point at the outlets' real hosts; the test rewrites them to the local
server (and lists 127.0.0.1 in the outlets' domains) so that article pages are fetched from it.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.feedserver import FeedServer

from store.format import parse_item, render_item
from store.imports import iter_item_paths

FIXTURES = Path(__file__).parent / "fixtures" / "outlets"
RFI_ARTICLE_PATH = (
    "/cn/%E6%94%BF%E6%B2%BB/20251130-%E5%8F%B0%E6%B9%BE%E5%A2%9E%E5%8A%A0400%E4%BA%BF%E7%BE%8E"
    "%E5%85%83%E5%9B%BD%E9%98%B2%E5%BC%80%E6%94%AF-%E5%8A%A0%E9%80%9F%E9%83%A8%E7%BD%B2t-dome"
    "%E9%98%B2%E7%A9%BA%E7%B3%BB%E7%BB%9F"
)
RSS = "application/rss+xml; charset=utf-8"


def _read(name: str) -> bytes:
    data = (FIXTURES / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def _local(data: bytes, base: str, *hosts: str) -> bytes:
    for host in hosts:
        data = data.replace(host.encode(), base.encode())
    return data


@pytest.fixture()
def site(tmp_path: Path, feed_server: FeedServer) -> Iterator[tuple[FeedServer, Path]]:
    server = feed_server
    base = server.base_url
    server.set_route(
        "/cn/rss", _local(_read("rfi/rfi_rss_built.xml"), base, "https://www.rfi.fr"), RSS
    )
    server.set_route(
        RFI_ARTICLE_PATH,
        _read("rfi/rfi_article_20251130_taiwan-defense.html.gz"),
        "text/html; charset=utf-8",
    )
    server.set_route("/feedx/rfi.xml", _read("rfi/feedx_rfi_reconstructed.xml"), RSS)
    server.set_route("/gb/nsc413.xml", _read("epochtimes/nsc413_2019-04-04.xml.gz"), RSS)
    server.set_route(
        "/rdf/rss-chi-all",
        _local(_read("dw/dw_rss-chi-all_2015-03-16.rdf.gz"), base, "http://www.dw.de"),
        "application/rdf+xml",
    )
    server.set_route("/broken.xml", b"<rss><channel><item><title>cut", RSS)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
archive_dir: archive
state_db: state/feedwatch.sqlite3
http: {{timeout: 10, autothrottle: false}}
outlets:
  rfi:
    spider: rfi
    domains: [127.0.0.1]
    feeds:
      - {{url: "{base}/cn/rss", full_text: false}}
      - {{url: "{base}/feedx/rfi.xml", via: feedx, full_text: true}}
  dw:
    spider: dw
    domains: [127.0.0.1]
    feeds: [{{url: "{base}/rdf/rss-chi-all", full_text: false}}]
  epochtimes:
    spider: epochtimes
    feeds:
      - {{url: "{base}/gb/nsc413.xml", full_text: true}}
      - {{url: "{base}/broken.xml", full_text: true}}
      - {{url: "{base}/missing.xml", full_text: true}}
""",
        encoding="utf-8",
    )
    yield server, config


def _crawl(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedwatch", "crawl", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=config.parent,
    )


@pytest.mark.slow
def test_crawl_stores_each_story_once_in_the_item_format(site: tuple[FeedServer, Path]) -> None:
    server, config = site
    archive = config.parent / "archive"

    first = _crawl(config)
    assert "total:" in first.stdout, first.stderr
    files = list(iter_item_paths([archive]))
    items = [parse_item(f.read_bytes()) for f in files]
    assert all(render_item(item) == f.read_bytes() for item, f in zip(items, files, strict=True))

    # The feedx full-text entries land byte-identical to the real items (URLs are the real ones).
    real = {
        parse_item(p.read_bytes()).url: p.read_bytes()
        for p in (FIXTURES / "rfi" / "items").glob("*.md")
    }
    stored = {item.url: f.read_bytes() for item, f in zip(items, files, strict=True)}
    assert real.keys() <= stored.keys()
    assert all(stored[url] == data for url, data in real.items())

    # The summary-only RFI entry was completed from its article page, in the seeds' shape.
    rfi_page = [item for item in items if "20251130" in item.url]
    assert len(rfi_page) == 1
    assert rfi_page[0].body.startswith("<div>30/11/2025")
    assert "<p><strong>" in rfi_page[0].body and "<script" not in rfi_page[0].body
    assert server.requests[RFI_ARTICLE_PATH] == 1

    # The 60 Epoch Times entries (full text) and the DW entries (404 pages: summaries kept).
    assert sum("epochtimes.com" in item.url for item in items) == 60
    assert sum("/a-" in item.url for item in items) >= 80
    # The broken and missing feeds are reported, and did not stop the others.
    assert "epochtimes: feeds 2 parsed, 0 unchanged, 1 failed" in first.stdout
    assert first.returncode == 1

    # A second crawl writes nothing and fetches no article page again.
    before = sorted(p.name for p in archive.rglob("*.txt"))
    second = _crawl(config)
    assert sorted(p.name for p in archive.rglob("*.txt")) == before
    assert "total: 0 new items" in second.stdout
    assert server.requests[RFI_ARTICLE_PATH] == 1


@pytest.mark.slow  # two subprocess crawls, one starting worker processes
def test_extraction_workers_store_the_same_files_as_inline(
    site: tuple[FeedServer, Path], tmp_path: Path
) -> None:
    _, config = site
    archives = []
    for workers in (0, 2):
        folder = tmp_path / f"workers-{workers}"
        folder.mkdir()
        text = config.read_text(encoding="utf-8").replace(
            "autothrottle: false}", f"autothrottle: false, extract_workers: {workers}}}"
        )
        (folder / "config.yaml").write_text(text, encoding="utf-8")
        done = _crawl(folder / "config.yaml")
        assert "total:" in done.stdout, done.stderr
        archives.append({p.name: p.read_bytes() for p in (folder / "archive").rglob("*.txt")})
    inline, pooled = archives
    assert len(inline) > 100
    assert pooled == inline
