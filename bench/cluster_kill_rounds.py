"""Fault rounds: random roles of a cluster killed (SIGKILL) and restarted during a crawl.

    python bench/cluster_kill_rounds.py --pg postgresql://... [--rounds 20] [--kills 4]
                                        [--items 120] [--per-feed 15] [--seed 1] [--ingest]

Each round, in a fresh PostgreSQL schema and a fresh archive + SQLite state: two schedulers
and three workers (and, with `--ingest`, two ingest consumers: one active, one standby) crawl
the bench site (bench/crawl_site.py, one outlet per feed); meanwhile `--kills` times, after a
random 0.5-2 s, a random role is killed with SIGKILL and started again. When every outlet's
job is done and the ingest queue is empty, the roles are stopped and the round checks, through
the storage interface (`store.backends.open_storage`: the PostgreSQL tables when the items
live there, else the machine's SQLite file), that every feed entry is stored (none lost: an
item row and an archive file of its URL) and stored once (none doubled: no item row beyond one
per entry, no second story opened for one entry in the dedup index, no two archive files of one
URL). Entries recorded as seen again (a dedup "duplicate" row: no item row, no file) are
counted apart. Prints one line per round and the totals; exits 1 on any loss or double. A
checkout without `--role ingest` says so in one line and goes on without it.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.bench_cluster import config_text  # noqa: E402
from bench.cluster_harness import (  # noqa: E402
    Watch,
    fresh_schema,
    open_items,
    probe_ingest,
    start_role,
)
from bench.crawl_site import build, served  # noqa: E402
from store.backends import open_storage  # noqa: E402
from store.imports import iter_item_paths, read_item_file  # noqa: E402
from store.urls import canonical_url  # noqa: E402

ROLES = {"s1": "scheduler", "s2": "scheduler", "w1": "worker", "w2": "worker", "w3": "worker"}
INGEST_ROLES = {"i1": "ingest", "i2": "ingest"}
CLUSTER = "lease: 3s, heartbeat: 1s, poll: 0.2s, max_attempts: 20"


@dataclass
class Round:
    lost: int = 0
    doubled: int = 0
    redone: int = 0
    kills: list[str] = field(default_factory=list)
    items_in: str = ""
    breakdown: tuple[int, int, int] = (0, 0, 0)  # extra item rows, stories, archive files
    # Entries recorded as seen again (a dedup row of kind "duplicate"): no item row, no file.
    # Seen so far: a restarted worker's start-up check rebuilding an "empty" state from archive
    # files whose rows the writing crawl had not committed yet (docs/CLUSTER.md, kill rounds).
    reseen: int = 0
    unfinished: str = ""  # why the round timed out, when it did


def expected_paths(site: Path) -> list[str]:
    """The path of every entry's link in the site's feeds."""
    links = []
    for feed in sorted((site / "feeds").glob("*.xml")):
        links += re.findall(r"<link>@@BASE@@(.*?)</link>", feed.read_text(encoding="utf-8"))
    return sorted(links)


def check(url: str, workdir: Path, base: str, expected: list[str], result: Round) -> None:
    """Lost and doubled entries of a finished round, read through the storage interface."""
    store, result.items_in = open_items(url, workdir)
    try:
        found = [store.items.lookup(canonical_url(base + path)) for path in expected]
        rows = store.items.count()
        kinds = Counter(kind for _, _, kind in store.dedup.rows_after(0))
    finally:
        store.close()
    archived = [read_item_file(f).url for f in iter_item_paths([workdir / "archive"])]
    files = {urlsplit(url).path for url in archived}
    # Lost: no item row, or no archive file of its URL.
    with_row = [seen is not None for seen in found]
    result.lost = sum(
        1
        for has_row, path in zip(with_row, expected, strict=True)
        if not has_row or path not in files
    )
    result.breakdown = (
        max(0, rows - sum(with_row)),  # rows beyond one per entry
        max(0, kinds["new"] - rows),  # a second story opened for one entry
        len(archived) - len(set(archived)),
    )
    result.doubled = sum(result.breakdown)
    result.reseen = kinds["duplicate"]


def one_round(
    pg: str,
    base: str,
    feeds: list[str],
    expected: list[str],
    workdir: Path,
    rng: random.Random,
    kills: int,
    roles: dict[str, str],
) -> Round:
    workdir.mkdir(parents=True)
    result = Round()
    with fresh_schema(pg, "fw_rounds") as url:
        config = workdir / "config.yaml"
        config.write_text(config_text(url, base, feeds, CLUSTER))
        procs: dict[str, subprocess.Popen[bytes]] = {}
        try:
            procs = {name: start_role(role, name, config, workdir) for name, role in roles.items()}
            queue = open_storage(url) if set(INGEST_ROLES) & set(roles) else None
            watch = Watch(url)
            try:
                deadline = time.monotonic() + 120
                next_kill = time.monotonic() + rng.uniform(0.5, 2.0)
                while time.monotonic() < deadline:
                    if len(result.kills) < kills and time.monotonic() >= next_kill:
                        name = rng.choice(sorted(roles))
                        procs[name].send_signal(signal.SIGKILL)
                        procs[name].wait(10)
                        procs[name] = start_role(roles[name], name, config, workdir)
                        result.kills.append(name)
                        next_kill = time.monotonic() + rng.uniform(0.5, 2.0)
                    row = watch.jobs()
                    if (
                        row
                        and row[0] >= len(feeds)
                        and len(result.kills) >= kills
                        and watch.queue_empty(queue)
                    ):
                        result.redone = int(row[2])
                        break
                    time.sleep(0.2)
                else:
                    # Kept apart (the run's folder is temporary) and counted: the check below
                    # still runs, and main exits 1.
                    states = watch.query(
                        "SELECT outlet, status, attempts, worker, outcome FROM cluster_jobs ORDER BY id"
                    )
                    kept = Path(tempfile.mkdtemp(prefix="fw-kill-round-unfinished-"))
                    shutil.copytree(
                        workdir, kept / workdir.name, ignore=shutil.ignore_patterns("archive")
                    )
                    result.unfinished = f"not finished in 120 s (jobs: {states}; logs in {kept})"
            finally:
                watch.close()
                if queue is not None:
                    queue.close()
        finally:
            for proc in procs.values():
                proc.send_signal(signal.SIGTERM)
            for proc in procs.values():
                proc.wait(60)
        check(url, workdir, base, expected, result)
    return result


def ingest_roles(pg: str, workdir: Path) -> tuple[dict[str, str], str | None]:
    """The ingest consumers to add, or none and the line saying this checkout has no such role."""
    workdir.mkdir(parents=True)
    with fresh_schema(pg, "fw_probe") as url:
        config = workdir / "config.yaml"
        config.write_text(config_text(url, "http://127.0.0.1:9", ["/feeds/full-000.xml"], CLUSTER))
        proc = start_role("ingest", "ingest", config, workdir)
        try:
            note = probe_ingest(proc, workdir / "ingest.log")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    return ({} if note else dict(INGEST_ROLES)), note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("FEEDWATCH_TEST_PG", ""))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--items", type=int, default=120)
    parser.add_argument("--per-feed", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--ingest",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ingest consumers among the roles (the cluster stores nothing without one)",
    )
    parser.add_argument("--keep", type=Path, help="run in this new folder and keep it (logs)")
    args = parser.parse_args(argv)
    if not args.pg:
        parser.error("give --pg postgresql://... or set FEEDWATCH_TEST_PG")
    rng = random.Random(args.seed)
    roles = dict(ROLES)
    lost = doubled = redone = killed = reseen = unfinished = 0
    with tempfile.TemporaryDirectory(prefix="fw-kill-rounds-") as tmp:
        workdir = args.keep or Path(tmp)
        if args.ingest:
            more, note = ingest_roles(args.pg, workdir / "probe")
            roles |= more
            if note:
                print(note, flush=True)
        site = workdir / "site"
        build(site, args.items, args.per_feed)
        expected = expected_paths(site)
        with served(site) as base:
            feeds = sorted(f"/feeds/{p.name}" for p in (site / "feeds").glob("*.xml"))
            for n in range(1, args.rounds + 1):
                began = time.monotonic()
                r = one_round(
                    args.pg, base, feeds, expected, workdir / f"round-{n}", rng, args.kills, roles
                )
                print(
                    f"round {n}: killed {', '.join(r.kills)}; {len(expected)} entries"
                    f" ({r.items_in}), {r.lost} lost, {r.doubled} doubled"
                    f"{f' (item rows, stories, archive files: {r.breakdown})' if r.doubled else ''};"
                    f" {r.redone} job(s) redone after a lease, {r.reseen} entries seen again;"
                    f" {time.monotonic() - began:.1f} s",
                    flush=True,
                )
                if r.unfinished:
                    print(f"round {n}: {r.unfinished}", flush=True)
                    unfinished += 1
                lost, doubled = lost + r.lost, doubled + r.doubled
                redone, killed = redone + r.redone, killed + len(r.kills)
                reseen += r.reseen
    print(
        f"{args.rounds} rounds, {killed} kills of {', '.join(sorted(roles))}: {lost} lost,"
        f" {doubled} doubled, {redone} job(s) redone after a lease, {reseen} entries seen again"
        + (f"; {unfinished} round(s) not finished" if unfinished else "")
    )
    return 1 if lost or doubled or unfinished else 0


if __name__ == "__main__":
    raise SystemExit(main())
