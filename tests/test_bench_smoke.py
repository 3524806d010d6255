"""Smoke tests of the benchmark helpers on tiny inputs (fixtures only, no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench import bench_archive, crawl_site
from spiders.outlets.rfi import extract_rfi_body
from store.imports import read_item_file

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fixtures_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Tests never read the shared corpus: point it at a folder that does not exist.
    monkeypatch.setattr(crawl_site, "CORPUS", tmp_path / "no-corpus")


def test_site_has_feeds_and_rfi_pages_the_rfi_extractor_reads(tmp_path: Path) -> None:
    counts = crawl_site.build(tmp_path / "site", 12, 3)
    assert counts == {"items": 12, "feeds": 4, "articles": 6, "bytes": counts["bytes"]}
    routes = json.loads((tmp_path / "site" / "site.json").read_text())
    pages = [p for p in routes if p.startswith("/cn/")]
    assert len(pages) == 6
    page = (tmp_path / "site" / routes[pages[0]][0]).read_text()
    body = extract_rfi_body(page)
    assert body is not None and "<p><strong>" in body and "@@" not in body
    feed = (tmp_path / "site" / routes["/feeds/summary-001.xml"][0]).read_text()
    assert feed.count("<item>") == 3 and "@@BASE@@/cn/" in feed


def test_server_answers_conditional_gets_with_304_and_counts_bytes(tmp_path: Path) -> None:
    crawl_site.build(tmp_path / "site", 4, 2)
    port_file = tmp_path / "port"
    server = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "crawl_site.py"), "serve", str(tmp_path / "site")]
        + ["--port-file", str(port_file)],
        env={"FEEDWATCH_CORPUS": str(tmp_path / "none"), "PATH": ""},
    )
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        with urllib.request.urlopen(base + "/feeds/full-000.xml", timeout=10) as resp:
            etag = resp.headers["ETag"]
            assert base.encode() in resp.read()  # links carry the server's own URL
        request = urllib.request.Request(
            base + "/feeds/full-000.xml", headers={"If-None-Match": etag}
        )
        with pytest.raises(urllib.error.HTTPError) as not_modified:
            urllib.request.urlopen(request, timeout=10)
        assert not_modified.value.code == 304
        not_modified.value.close()  # the error holds the open response
        with urllib.request.urlopen(base + "/__stats", timeout=10) as resp:
            stats = json.loads(resp.read())
        assert stats["requests"] == {"feed": 2}
        assert stats["status"] == {"200": 1, "304": 1}
        assert stats["bytes"]["feed"] > 0
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_archive_items_are_valid_distinct_item_files(tmp_path: Path) -> None:
    real = crawl_site.real_items()
    sizes = [len(real) + 5, len(real) + 25]
    folders = bench_archive.write_items(tmp_path, sizes)
    files = sorted(p for f in folders for p in f.iterdir())
    assert len(files) == sizes[-1]
    items = [read_item_file(p) for p in files]
    made = [i.url for i in items[len(real) :]]
    assert len(set(made)) == len(made) and not set(made) & {i.url for i in real}
    n, variant = next((n, i) for n, i in enumerate(items) if "/v1/" in i.url)
    source = real[n - len(real)]  # variant 1 of real item n - len(real): CJK shifted
    assert variant.body != source.body and len(variant.body) == len(source.body)
    assert any(i.url.startswith("https://repost.example/") for i in items)


@pytest.mark.slow
def test_poll_bench_measures_no_rows_and_no_files_for_restamped_feeds(tmp_path: Path) -> None:
    from bench import bench_poll

    r = bench_poll.run(items=8, per_feed=2, polls=1, workdir=tmp_path)
    assert r["first"]["files_written"] > 0 and r["first"]["rows"] > 0
    before, restamped, trailer = r["before"], r["restamped"], r["trailer"]
    assert before["rows"] == 4  # one dedup row per known full-text entry, every poll
    assert restamped["rows"] == trailer["rows"] == 0 and restamped["bytes"] == 0
    assert before["files_written"] == restamped["files_written"] == trailer["files_written"] == 0
    assert all(side["run_rows"] == 2 for side in (before, restamped, trailer))
    assert "feeds 0 parsed, 2 unchanged" in restamped["polls"][0]["outlets"][0]
    assert "0 seen, 4 unchanged" in trailer["polls"][0]["outlets"][0]
    assert "| **poll / first crawl** |" in bench_poll.table(r, "python bench/bench_poll.py")


@pytest.mark.slow
def test_scale_bench_builds_once_and_measures_crawls_with_the_daemon_up(tmp_path: Path) -> None:
    from bench import bench_scale
    from store.sqlite import open_storage

    built, meta = bench_scale.cached(tmp_path / "cache", 60)
    storage = open_storage(built / bench_scale.STATE)
    try:
        assert storage.items.count() == 60
    finally:
        storage.close()
    files = sorted((built / "archive").rglob("*.txt"))
    assert 30 <= len(files) <= 60  # one in five (about) is a repost: no file of its own
    assert len(meta["feed"]) == bench_scale.FEED_ENTRIES
    stamp = (built / "built.json").stat().st_mtime_ns
    assert bench_scale.cached(tmp_path / "cache", 60)[0] == built  # reused, not rebuilt
    assert (built / "built.json").stat().st_mtime_ns == stamp

    r = bench_scale.measure(built, meta, tmp_path / "work", repeats=1)
    assert "feeds 0 parsed, 4 unchanged" in r["not_modified"][0]["detail"]
    assert "queued 0 for the running daemon" in r["not_modified"][0]["detail"]
    assert "queued 4 for the running daemon, 40 unchanged" in r["new"]["detail"]
    assert r["not_modified"][0]["cpu_s"] > 0 and r["new"]["rss_mb"] > 0
    assert sorted((built / "archive").rglob("*.txt")) == files  # the new stories' files removed


def test_state_size_bench_builds_and_measures_a_small_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import bench_state_size

    monkeypatch.setenv("FEEDWATCH_CORPUS", str(tmp_path / "no-corpus"))  # the child's corpus
    result = bench_state_size.build(REPO, tmp_path, 40)
    counts = result["counts"]
    assert isinstance(counts, dict) and sum(counts.values()) == 40 and counts["new"] > 0
    sizes = result["sizes"]
    assert isinstance(sizes, dict) and sizes["dedup_items"] > 0 and sizes["items"] > 0
    assert 0 < int(result["stories"]) <= 40  # type: ignore[call-overload]


def test_storage_bench_prints_both_backends_side_by_side(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import bench_storage

    assert bench_storage.main(["--pg", pg_url, "--items", "40", "--batch", "10"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "µs" not in line]
    assert [r.split(" | ")[0] for r in rows] == [
        "| record (batch per transaction)",
        "| lookup (known URL)",
        "| queue put + take/settle",
    ]
    assert "raw psycopg" in out
