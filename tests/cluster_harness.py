"""A cluster on one machine for the fault tests: a local feed site, roles as real processes.

The site is the real Epoch Times nsc413 feed (tests/fixtures/scheduler, provenance there) cut
into OUTLETS feeds of ITEMS_PER_OUTLET entries each, one outlet per feed. Every role is a
`python -m feedwatch run --role ...` process with its own log file; all of them share one
PostgreSQL schema (the `pg_url` fixture), which holds the whole state, and one archive (the
ingest role's: it runs in the same folder).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from servers.feedserver import FeedServer

REPO = Path(__file__).resolve().parent.parent
FEED = Path(__file__).parent / "fixtures" / "scheduler" / "nsc413_2019-04-04_reconstructed.xml"
ITEMS_PER_OUTLET = 5


def split_feed(outlets: int) -> list[bytes]:
    """The real feed cut into `outlets` feeds of ITEMS_PER_OUTLET different entries."""
    raw = FEED.read_bytes()
    items = re.findall(rb"<item>.*?</item>", raw, re.S)
    head, tail = raw.split(items[0], 1)[0], raw.rsplit(items[-1], 1)[1]
    return [
        head + b"\n".join(items[i * ITEMS_PER_OUTLET : (i + 1) * ITEMS_PER_OUTLET]) + tail
        for i in range(outlets)
    ]


def feed_links(feed: bytes) -> list[str]:
    return [m.decode().strip() for m in re.findall(rb"<item>.*?<link>(.*?)</link>", feed, re.S)]


class Cluster:
    """The site, the config and the role processes of one test."""

    def __init__(self, workdir: Path, pg_url: str, server: FeedServer, outlets: int, lease: float):
        self.workdir = workdir
        self.pg_url = pg_url
        self.server = server
        self.feeds = split_feed(outlets)
        self.outlets = [f"o{i}" for i in range(outlets)]
        for name, feed in zip(self.outlets, self.feeds, strict=True):
            server.set_route(f"/{name}.xml", feed)
        outlet_yaml = "".join(
            f"  {name}:\n    spider: generic\n    schedule: {{every: 60s}}\n"
            f'    feeds: [{{url: "{server.base_url}/{name}.xml", full_text: true}}]\n'
            for name in self.outlets
        )
        self.config = workdir / "config.yaml"
        self.config.write_text(
            textwrap.dedent(
                f"""\
                archive_dir: archive
                state_db: "{pg_url}"
                cluster: {{lease: {lease}s, heartbeat: 1s, poll: 0.3s}}
                http: {{timeout: 20}}
                outlets:
                """
            )
            + outlet_yaml
        )
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- processes -----------------------------------------------------------------------

    def start(self, name: str, role: str) -> subprocess.Popen[bytes]:
        """Start a role as its own process; its output goes to `<name>.log`."""
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", "feedwatch", "-v", "run", "--role", role]
            + ["--config", str(self.config)],
            cwd=self.workdir,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to clean up (a crash, an OOM kill)."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> dict[str, int | None]:
        """SIGTERM every role still running; their exit codes."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = None
        return codes

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
            for p in sorted(self.workdir.glob("*.log"))
        )

    # -- what the roles did --------------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def jobs(self) -> list[tuple[Any, ...]]:
        """(id, outlet, status, attempts, worker, enqueued_at) of every crawl job."""
        return self.query(
            "SELECT id, outlet, status, attempts, worker, enqueued_at FROM cluster_jobs ORDER BY id"
        )

    def members(self) -> list[tuple[Any, ...]]:
        """(role, pid, detail, seconds since the last beat) of every heartbeat row."""
        return self.query(
            "SELECT role, pid, detail, extract(epoch FROM now() - last_beat)::float8"
            " FROM cluster_members ORDER BY started_at"
        )

    def archive_urls(self) -> list[str]:
        root = self.workdir / "archive"
        files = sorted(p for p in root.rglob("*.txt")) if root.exists() else []
        return [f.read_text(encoding="utf-8").splitlines()[1].split("](", 1)[1][:-1] for f in files]

    def stored_urls(self) -> list[str]:
        """The URL of every item row of the state (in PostgreSQL)."""
        return [row[0] for row in self.query("SELECT url FROM items")]

    def queued(self) -> int:
        """Stories (and end-of-run markers) still in the shared ingest queue."""
        return int(self.query("SELECT count(*) FROM ingest_queue")[0][0])


def wait_for(what: str, check: Callable[[], Any], timeout: float, logs: Callable[[], str]) -> Any:
    """Poll `check` until it returns something truthy; fail with the roles' logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except psycopg.Error:  # the roles have not made the tables yet, or the server restarts
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs()}")
