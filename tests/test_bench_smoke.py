"""Smoke tests of the benchmark helpers on tiny inputs (fixtures only, no timing assertions)."""

from __future__ import annotations

import json
import re
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


# -- the cluster benches (bench/cluster_harness.py, bench_cluster.py, cluster_kill_rounds.py) --


def test_kill_round_check_counts_a_lost_entry_and_a_doubled_archive_file(tmp_path: Path) -> None:
    from bench import cluster_kill_rounds as rounds
    from store.backends import open_storage
    from store.format import StoredItem, render_item
    from store.state import SeenItem
    from store.urls import canonical_url

    base, expected = "http://127.0.0.1:8000", ["/story/0.html", "/story/1.html", "/story/2.html"]
    state = tmp_path / "state.sqlite3"
    store = open_storage(state)
    for path in expected[:2]:  # the third entry is lost
        url = base + path
        store.items.record(SeenItem(canonical_url(url), "o1", url, "t", 0, 0, None, None), None)
    store.close()
    (tmp_path / "archive").mkdir()
    for name in ("a", "b"):  # one URL archived twice
        item = StoredItem(1_700_000_000_000, "title", f"{base}/story/0.html", "<p>body</p>")
        (tmp_path / "archive" / f"{name}.txt").write_bytes(render_item(item))
    result = rounds.Round()
    rounds.check(str(state), tmp_path, base, expected, result)
    # Lost: story/2 (no row) and story/1 (a row, but no archive file).
    assert (result.lost, result.doubled, result.breakdown) == (2, 1, (0, 0, 1))
    assert result.items_in == "SQLite file"


def test_probe_ingest_tells_a_missing_role_from_a_running_one_and_a_crash(tmp_path: Path) -> None:
    from bench.cluster_harness import probe_ingest

    def run(code: str) -> subprocess.Popen[bytes]:
        with open(tmp_path / "ingest.log", "wb") as log:
            return subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=log)

    missing = "import sys; print('feedwatch run: --role ingest: not available yet'); sys.exit(2)"
    note = probe_ingest(run(missing), tmp_path / "ingest.log")
    assert note and note.startswith("--ingest: this feedwatch has no ingest role")
    running = run("import time; time.sleep(30)")
    try:
        assert probe_ingest(running, tmp_path / "ingest.log", wait_s=0.5) is None
    finally:
        running.kill()
        running.wait()
    with pytest.raises(SystemExit, match="the ingest role exited"):
        probe_ingest(run("import sys; print('boom'); sys.exit(1)"), tmp_path / "ingest.log")


def test_client_ports_finds_this_process_connection_to_a_server() -> None:
    import os
    import socket

    from bench.cluster_harness import client_ports, cpu_s, with_descendants

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            assert client_ports({os.getpid()}, port) == {client.getsockname()[1]}
            assert client_ports({os.getpid()}, port + 1 if port < 65535 else 1) == set()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in with_descendants({os.getpid()})
    finally:
        child.kill()
        child.wait()
    assert cpu_s(os.getpid()) > 0 and cpu_s(2**22 + 1) == 0.0


@pytest.mark.slow
def test_cluster_bench_and_one_kill_round_on_postgresql(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pg import base_url

    from bench import bench_cluster, cluster_kill_rounds

    pg = base_url()
    monkeypatch.setenv("FEEDWATCH_CORPUS", str(tmp_path / "no-corpus"))  # the roles' corpus
    small = ["--items", "8", "--per-feed", "4"]
    assert bench_cluster.main(["--pg", pg, "--workers", "1", "--ingest", *small]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| 1 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "8" and float(cells[4]) > 0  # items, items/s
    assert float(cells[7]) > 0 and float(cells[9]) > 0  # worker CPU, PostgreSQL backends' CPU
    assert "no ingest role" in out or cells[1] == "yes"
    code = cluster_kill_rounds.main(["--pg", pg, "--rounds", "1", "--kills", "1", *small])
    out = capsys.readouterr().out
    assert code == 0 and "1 rounds, 1 kills" in out and ": 0 lost, 0 doubled" in out


@pytest.mark.slow
def test_ingest_pg_bench_stores_the_same_items_on_both_backends(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pg import base_url

    from bench import bench_ingest_pg

    monkeypatch.chdir(tmp_path)
    assert bench_ingest_pg.main(["--pg", base_url(), "--items", "30"]) == 0
    out = capsys.readouterr().out
    sqlite, pg = (int(n) for n in re.findall(r"(?:SQLite|PostgreSQL) (\d+)", out.splitlines()[0]))
    assert sqlite == pg > 0
    server = next(line for line in out.splitlines() if "server CPU" in line)
    assert float(server.split("|")[3]) > 0
