"""Fault rounds: random roles of a cluster killed (SIGKILL) and restarted during a crawl.

    python bench/cluster_kill_rounds.py --pg postgresql://... [--rounds 4] [--kills 4]
                                        [--items 120] [--per-feed 15] [--seed 1]

Each round, in a fresh PostgreSQL schema and a fresh archive + SQLite state: two schedulers
and three workers crawl the bench site (bench/crawl_site.py, one outlet per feed); meanwhile
`--kills` times, after a random 0.5-2 s, a random role is killed with SIGKILL and started
again. When every outlet's job is done the roles are stopped and the round checks that every
feed entry is stored (none lost) exactly once (none doubled: one item row per entry, no two
archive files of one URL). Prints one line per round and the totals.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.bench_cluster import config_text  # noqa: E402
from bench.crawl_site import build, served  # noqa: E402

ROLES = {"s1": "scheduler", "s2": "scheduler", "w1": "worker", "w2": "worker", "w3": "worker"}


def start(name: str, config: Path, workdir: Path) -> subprocess.Popen[bytes]:
    log = open(workdir / f"{name}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "feedwatch", "-v", "run", "--role", ROLES[name]]
        + ["--config", str(config)],
        cwd=workdir,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    return proc


def expected_paths(site: Path) -> list[str]:
    """The path of every entry's link in the site's feeds."""
    links = []
    for feed in sorted((site / "feeds").glob("*.xml")):
        links += re.findall(r"<link>@@BASE@@(.*?)</link>", feed.read_text(encoding="utf-8"))
    return sorted(links)


def one_round(
    pg: str,
    base: str,
    feeds: list[str],
    expected: list[str],
    workdir: Path,
    rng: random.Random,
    kills: int,
) -> tuple[int, int, int, list[str]]:
    """(lost, doubled, jobs redone, kills made) of one round."""
    schema = f"fw_rounds_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{pg}{'&' if '?' in pg else '?'}options={quote(f'-csearch_path={schema}')}"
    workdir.mkdir(parents=True)
    config = workdir / "config.yaml"
    text = config_text(url, base, feeds).replace(
        "cluster: {lease: 30s, heartbeat: 2s, poll: 0.2s}",
        "cluster: {lease: 3s, heartbeat: 1s, poll: 0.2s, max_attempts: 20}",
    )
    config.write_text(text)
    procs = {name: start(name, config, workdir) for name in ROLES}
    made: list[str] = []
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            deadline = time.monotonic() + 300
            next_kill = time.monotonic() + rng.uniform(0.5, 2.0)
            while time.monotonic() < deadline:
                if len(made) < kills and time.monotonic() >= next_kill:
                    name = rng.choice(sorted(ROLES))
                    procs[name].send_signal(signal.SIGKILL)
                    procs[name].wait(10)
                    procs[name] = start(name, config, workdir)
                    made.append(name)
                    next_kill = time.monotonic() + rng.uniform(0.5, 2.0)
                try:
                    row = conn.execute(
                        "SELECT count(*) FILTER (WHERE status = 'done'),"
                        " coalesce(sum(attempts - 1), 0) FROM cluster_jobs"
                    ).fetchone()
                except psycopg.errors.UndefinedTable:
                    row = None
                if row and row[0] >= len(feeds) and len(made) >= kills:
                    break
                time.sleep(0.2)
            else:
                raise SystemExit(f"round did not finish; logs in {workdir}")
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(60)
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    state = sqlite3.connect(workdir / "state" / "feedwatch.sqlite3")
    stored = sorted(urlsplit(u).path for (u,) in state.execute("SELECT url FROM items"))
    state.close()
    archived = [
        f.read_text(encoding="utf-8").splitlines()[1] for f in (workdir / "archive").rglob("*.txt")
    ]
    lost = len(set(expected) - set(stored))
    doubled = (len(stored) - len(set(stored))) + (len(archived) - len(set(archived)))
    return lost, doubled, int(row[1]), made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("FEEDWATCH_TEST_PG", ""))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--items", type=int, default=120)
    parser.add_argument("--per-feed", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.pg:
        parser.error("give --pg postgresql://... or set FEEDWATCH_TEST_PG")
    rng = random.Random(args.seed)
    totals = [0, 0, 0, 0]
    with tempfile.TemporaryDirectory(prefix="fw-kill-rounds-") as tmp:
        workdir = Path(tmp)
        site = workdir / "site"
        build(site, args.items, args.per_feed)
        expected = expected_paths(site)
        with served(site) as base:
            feeds = sorted(f"/feeds/{p.name}" for p in (site / "feeds").glob("*.xml"))
            for n in range(1, args.rounds + 1):
                began = time.monotonic()
                lost, doubled, redone, made = one_round(
                    args.pg, base, feeds, expected, workdir / f"round-{n}", rng, args.kills
                )
                print(
                    f"round {n}: killed {', '.join(made)}; {len(expected)} entries,"
                    f" {lost} lost, {doubled} doubled; {redone} job(s) redone after a lease;"
                    f" {time.monotonic() - began:.1f} s",
                    flush=True,
                )
                for i, value in enumerate((lost, doubled, redone, len(made))):
                    totals[i] += value
    print(
        f"{args.rounds} rounds, {totals[3]} kills: {totals[0]} lost, {totals[1]} doubled,"
        f" {totals[2]} job(s) redone after a lease"
    )
    return 1 if totals[0] or totals[1] else 0


if __name__ == "__main__":
    raise SystemExit(main())
