"""Benchmark: a cluster on this machine, 1, 2 and 3 crawl workers side by side in one run.

    python bench/bench_cluster.py --pg postgresql://... [--items 360] [--per-feed 30]
                                  [--workers 1 2 3] [--json OUT]

The bench site (bench/crawl_site.py: half full-text feeds, half summary feeds whose RFI-layout
article pages are fetched) is served from a subprocess; every feed is one outlet. For each
worker count, in a fresh PostgreSQL schema and a fresh archive + SQLite state: start one
`feedwatch run --role scheduler` and N `--role worker` processes, wait until every outlet's
crawl job is done, stop them. Reported per run:

- items/s: items stored ÷ the span from the first job queued to the last job finished
  (the database's timestamps, so role start-up before the first claim is not counted);
- CPU seconds of each role: the process itself plus its crawl subprocesses (reaped children),
  read from /proc just before it is stopped; and of PostgreSQL (every postgres process and
  the backends it reaped), its delta over the run, per item.

PG's URL comes from --pg or FEEDWATCH_TEST_PG (.ci/postgres.sh prints one).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.crawl_site import build, served  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICKS


def postgres_cpu_s() -> float:
    """CPU of every postgres process (the postmaster's reaped backends included)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "postgres":
                    total += cpu_s(int(proc.name))
            except OSError:
                continue
    return total


def config_text(pg_url: str, base: str, feeds: list[str]) -> str:
    outlets = []
    for i, path in enumerate(feeds):
        full = "/full-" in path
        outlets.append(
            f"  o{i:02d}:\n    spider: {'generic' if full else 'rfi'}\n    domains: [127.0.0.1]\n"
            f'    feeds: [{{url: "{base}{path}", full_text: {str(full).lower()}}}]\n'
        )
    return (
        "archive_dir: archive\n"
        f'state_db: "{pg_url}"\n'
        "cluster: {lease: 30s, heartbeat: 2s, poll: 0.2s}\n"
        "http: {timeout: 60, concurrent_requests: 8, autothrottle: false}\n"
        "dedup: {enabled: true}\n"
        "outlets:\n" + "".join(outlets)
    )


def one_run(pg: str, base: str, feeds: list[str], workers: int, workdir: Path) -> dict[str, Any]:
    schema = f"fw_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{pg}{'&' if '?' in pg else '?'}options={quote(f'-csearch_path={schema}')}"
    workdir.mkdir(parents=True)
    config = workdir / "config.yaml"
    config.write_text(config_text(url, base, feeds))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    pg_before = postgres_cpu_s()
    try:
        for name in ["scheduler"] + [f"worker{i + 1}" for i in range(workers)]:
            role = "scheduler" if name == "scheduler" else "worker"
            log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "feedwatch", "-v", "run", "--role", role]
                + ["--config", str(config)],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            log.close()
        deadline = time.monotonic() + 600
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                try:
                    row = conn.execute(
                        "SELECT count(*) FILTER (WHERE status IN ('done', 'failed')),"
                        " count(*) FILTER (WHERE status = 'failed'),"
                        " extract(epoch FROM max(finished_at) - min(enqueued_at))::float8"
                        " FROM cluster_jobs"
                    ).fetchone()
                except psycopg.errors.UndefinedTable:
                    row = None
                if row and row[0] >= len(feeds):
                    break
                time.sleep(0.2)
            else:
                raise SystemExit(f"jobs not done in time; logs in {workdir}")
            per_worker = dict(
                conn.execute("SELECT worker, count(*) FROM cluster_jobs GROUP BY worker").fetchall()
            )
        cpu = {name: round(cpu_s(p.pid), 2) for name, p in procs.items()}
        pg_cpu = postgres_cpu_s() - pg_before
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            p.wait(60)
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    state = sqlite3.connect(workdir / "state" / "feedwatch.sqlite3")
    items = state.execute("SELECT count(*) FROM items").fetchone()[0]
    state.close()
    span = float(row[2])
    return {
        "workers": workers,
        "items": items,
        "span_s": round(span, 2),
        "items_per_s": round(items / span, 1),
        "failed_jobs": int(row[1]),
        "jobs_per_worker": sorted(per_worker.values()),
        "cpu_s": cpu,
        "worker_cpu_ms_per_item": round(
            1000 * sum(v for k, v in cpu.items() if k.startswith("worker")) / max(items, 1), 2
        ),
        "postgres_cpu_s": round(pg_cpu, 2),
        "postgres_cpu_ms_per_item": round(1000 * pg_cpu / max(items, 1), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("FEEDWATCH_TEST_PG", ""))
    parser.add_argument("--items", type=int, default=360)
    parser.add_argument("--per-feed", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.pg:
        parser.error("give --pg postgresql://... or set FEEDWATCH_TEST_PG")
    with tempfile.TemporaryDirectory(prefix="fw-bench-cluster-") as tmp:
        workdir = Path(tmp)
        site = workdir / "site"
        built = build(site, args.items, args.per_feed)
        with served(site) as base:
            routes = json.loads((site / "site.json").read_text())
            feeds = sorted(p for p in routes if p.startswith("/feeds/"))
            runs = [one_run(args.pg, base, feeds, n, workdir / f"run-{n}") for n in args.workers]
    result = {"site": built, "load_avg": os.getloadavg(), "runs": runs}
    print(
        "| workers | items | span s | items/s | jobs per worker | CPU s: scheduler | workers (with crawls) | worker ms/item | PostgreSQL ms/item |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        workers_cpu = " + ".join(f"{v:g}" for k, v in r["cpu_s"].items() if k.startswith("worker"))
        print(
            f"| {r['workers']} | {r['items']} | {r['span_s']} | {r['items_per_s']} |"
            f" {r['jobs_per_worker']} | {r['cpu_s']['scheduler']} | {workers_cpu} |"
            f" {r['worker_cpu_ms_per_item']} | {r['postgres_cpu_ms_per_item']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
