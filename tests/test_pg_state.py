"""`state_db: postgresql://…`: everything the state holds lives in PostgreSQL.

A one-off crawl of a local feed site (the real Epoch Times feed of tests/cluster_harness.py)
with the state on PostgreSQL: its items, dedup rows and alert outbox rows are found there, and
nothing is written to a SQLite file beside the config.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cluster_harness import REPO, feed_links, split_feed
from servers.feedserver import FeedServer

pytestmark = pytest.mark.slow  # a subprocess crawl (and its consumer beside it)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def write_config(workdir: Path, pg_url: str, server: FeedServer) -> tuple[Path, list[str]]:
    feed = split_feed(1)[0]
    server.set_route("/o0.xml", feed)
    config = workdir / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            archive_dir: archive
            state_db: "{pg_url}"
            http: {{timeout: 20}}
            outlets:
              o0:
                spider: generic
                feeds: [{{url: "{server.base_url}/o0.xml", full_text: true}}]
            alerts:
              channels:
                file: {{kind: jsonl, path: alerts.jsonl}}
              rules:
                - name: every-story
                  any: [的]
                  notify: [file]
            """
        ),
        encoding="utf-8",
    )
    return config, feed_links(feed)


def crawl(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedwatch", "crawl", "o0", "--config", str(config)],
        cwd=config.parent,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=180,
    )


def rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def test_a_crawl_with_the_state_on_postgresql_keeps_all_of_it_there(
    tmp_path: Path, pg_url: str, server: FeedServer
) -> None:
    config, links = write_config(tmp_path, pg_url, server)
    done = crawl(config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"stories {len(links)} new" in done.stdout, done.stdout
    assert sorted(u for (u,) in rows(pg_url, "SELECT url FROM items")) == sorted(links)
    [(dedup_items,)] = rows(pg_url, "SELECT count(*) FROM dedup_items")
    [(stories,)] = rows(pg_url, "SELECT count(*) FROM dedup_stories")
    assert dedup_items == stories == len(links)
    outbox = rows(pg_url, "SELECT state FROM alerts_outbox")
    assert len(outbox) == len(links) and {s for (s,) in outbox} == {"sent"}
    sent = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["url"] for line in sent) == sorted(links)
    [(runs,)] = rows(pg_url, "SELECT count(*) FROM runs")
    assert runs == 1
    assert rows(pg_url, "SELECT count(*) FROM ingest_queue") == [(0,)]
    assert rows(pg_url, "SELECT count(*) FROM feed_state") == [(1,)]
    # Nothing of the state in a SQLite file on this machine.
    assert not list(tmp_path.rglob("*.sqlite3")), list(tmp_path.rglob("*"))
    assert not list(tmp_path.rglob("*.sqlite3-wal"))
    # A second crawl: the feed is unchanged (its validators are in PostgreSQL), nothing new.
    again = crawl(config)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 new items" in again.stdout, again.stdout
    assert len(rows(pg_url, "SELECT url FROM items")) == len(links)
    # `status` reads the outlet part from PostgreSQL too (the cluster part says no roles run).
    report = subprocess.run(
        [sys.executable, "-m", "feedwatch", "status", "--config", str(config)],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ", ok, took" in report.stdout, report.stdout + report.stderr  # the last run
    assert "o0.xml: HTTP 304; ETag" in report.stdout, report.stdout  # its feed's validators
    assert "ingest queue: 0 waiting (no consumer running: start" in report.stdout, report.stdout
    # The read commands build this machine's web index (SQLite) from the PostgreSQL state.
    listing = feedwatch(config, "stories")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert listing.stdout.count("\n") >= len(links), listing.stdout
    assert list(tmp_path.rglob("*.web.sqlite3")), "no web index beside the local folder"
    found = feedwatch(config, "search", "的")
    assert found.returncode == 0 and found.stdout.strip(), found.stdout + found.stderr
    shown = feedwatch(config, "show", links[0])
    assert shown.returncode == 0 and links[0] in shown.stdout, shown.stdout + shown.stderr
    # `check` compares this machine's archive with the items rows in PostgreSQL.
    checked = feedwatch(config, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "PostgreSQL, ok; 5 items" in checked.stdout and "consistent" in checked.stdout
    next(iter((tmp_path / "archive").rglob("*.txt"))).unlink()
    damaged = feedwatch(config, "check")
    assert damaged.returncode == 1 and "recorded files missing" in damaged.stdout, damaged.stdout
    alerts = feedwatch(config, "alerts", "list")
    assert alerts.returncode == 0 and alerts.stdout.count("file: sent") == len(links), alerts.stdout


def feedwatch(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedwatch", *args, "--config", str(config)],
        cwd=config.parent,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
    )
