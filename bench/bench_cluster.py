"""Benchmark: a cluster on this machine, 1, 2 and 3 crawl workers side by side in one run.

    python bench/bench_cluster.py --pg postgresql://... [--items 360] [--per-feed 30]
                                  [--workers 1 2 3] [--ingest] [--json OUT]

The bench site (bench/crawl_site.py: half full-text feeds, half summary feeds whose RFI-layout
article pages are fetched) is served from a subprocess; every feed is one outlet. For each
worker count, in a fresh PostgreSQL schema and a fresh archive + SQLite state: start one
`feedwatch run --role scheduler`, N `--role worker` processes and, with `--ingest`, one
`--role ingest` (a checkout without that role says so: one line, measured without it); wait
until every outlet's crawl job is done and the ingest queue is empty, stop them. Per run:

- items/s: items stored ÷ the span from the first job queued to the last job finished (the
  database's timestamps, so role start-up before the first claim does not count) or, with an
  ingest role, to the moment the queue was seen empty (polled every 0.2 s);
- CPU seconds of each role process: the process plus its reaped children (a worker's crawl
  subprocesses), read from /proc just before it is stopped;
- PostgreSQL: the CPU of the backends serving this run's processes (found by their client
  ports, sampled every 0.2 s: other users of the server do not count) and, as an upper bound,
  of every postgres process on the machine (the shared server's other clients included).

PG's URL comes from --pg or FEEDWATCH_TEST_PG (.ci/postgres.sh prints one); over TCP (the
backends are found by client port).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.cluster_harness import (  # noqa: E402
    PgBackendMeter,
    Watch,
    cpu_s,
    fresh_schema,
    open_items,
    postgres_cpu_s,
    probe_ingest,
    start_role,
)
from bench.crawl_site import build, served  # noqa: E402
from store.backends import open_storage  # noqa: E402


def config_text(pg_url: str, base: str, feeds: list[str], cluster: str = "") -> str:
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
        f"cluster: {{{cluster or 'lease: 30s, heartbeat: 2s, poll: 0.2s'}}}\n"
        "http: {timeout: 60, concurrent_requests: 8, autothrottle: false}\n"
        "dedup: {enabled: true}\n"
        "outlets:\n" + "".join(outlets)
    )


def one_run(
    pg: str, base: str, feeds: list[str], workers: int, workdir: Path, ingest: bool
) -> dict[str, Any]:
    """One cluster run; `ingest_note` in the result says when the ingest role was missing."""
    workdir.mkdir(parents=True)
    with fresh_schema(pg, "fw_bench") as url:
        config = workdir / "config.yaml"
        config.write_text(config_text(url, base, feeds))
        procs: dict[str, subprocess.Popen[bytes]] = {}
        note = None
        if ingest:
            procs["ingest"] = start_role("ingest", "ingest", config, workdir)
            note = probe_ingest(procs["ingest"], workdir / "ingest.log")
            if note:
                del procs["ingest"]
        pg_before = postgres_cpu_s()
        try:
            procs["scheduler"] = start_role("scheduler", "scheduler", config, workdir)
            for i in range(workers):
                procs[f"worker{i + 1}"] = start_role("worker", f"worker{i + 1}", config, workdir)
            meter, watch = PgBackendMeter(pg), Watch(url)
            queue = open_storage(url) if "ingest" in procs else None
            try:
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    meter.sample(p.pid for p in procs.values())
                    row = watch.jobs()
                    if row and row[0] >= len(feeds) and watch.queue_empty(queue):
                        drained = time.time()
                        break
                    time.sleep(0.2)
                else:
                    raise SystemExit(f"jobs not done in time; logs in {workdir}")
                per_worker = dict(
                    watch.query("SELECT worker, count(*) FROM cluster_jobs GROUP BY worker") or []
                )
                meter.sample(p.pid for p in procs.values())
            finally:
                for closing in (queue, watch, meter.monitor):
                    if closing is not None:
                        closing.close()
            cpu = {name: round(cpu_s(p.pid), 2) for name, p in procs.items()}
            pg_all = postgres_cpu_s() - pg_before
        finally:
            for p in procs.values():
                p.send_signal(signal.SIGTERM)
            for p in procs.values():
                p.wait(60)
        store, where = open_items(url, workdir)
        try:
            items = store.items.count()
        finally:
            store.close()
    end = drained if "ingest" in procs else float(row[4])
    span = end - float(row[3])
    worker_cpu = sum(v for k, v in cpu.items() if k.startswith("worker"))

    def per_item(seconds: float) -> float:
        return round(1000 * seconds / max(items, 1), 2)

    return {
        "workers": workers,
        "ingest_role": "ingest" in procs,
        "ingest_note": note,
        "items": items,
        "items_in": where,
        "span_s": round(span, 2),
        "items_per_s": round(items / span, 1),
        "failed_jobs": int(row[1]),
        "jobs_per_worker": sorted(per_worker.values()),
        "cpu_s": cpu,
        "pg_backends_cpu_s": round(meter.total(), 2),
        "pg_server_cpu_s": round(pg_all, 2),
        "ms_per_item": {
            "scheduler": per_item(cpu["scheduler"]),
            "workers": per_item(worker_cpu),
            "ingest": per_item(cpu.get("ingest", 0.0)),
            "pg_backends": per_item(meter.total()),
            "pg_server": per_item(pg_all),
        },
    }


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| workers | ingest role | items | span s | items/s | jobs per worker"
        " | CPU s: scheduler | each worker (with its crawls) | ingest | PG backends | PG server (all)"
        " | ms/item: workers | ingest | PG backends |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        each = " + ".join(f"{v:g}" for k, v in r["cpu_s"].items() if k.startswith("worker"))
        ms = r["ms_per_item"]
        lines.append(
            f"| {r['workers']} | {'yes' if r['ingest_role'] else 'no'} | {r['items']} |"
            f" {r['span_s']} | {r['items_per_s']} | {r['jobs_per_worker']} |"
            f" {r['cpu_s']['scheduler']:g} | {each} | {r['cpu_s'].get('ingest', '-')} |"
            f" {r['pg_backends_cpu_s']:g} | {r['pg_server_cpu_s']:g} |"
            f" {ms['workers']} | {ms['ingest'] if r['ingest_role'] else '-'} | {ms['pg_backends']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("FEEDWATCH_TEST_PG", ""))
    parser.add_argument("--items", type=int, default=360)
    parser.add_argument("--per-feed", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--ingest",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run one --role ingest (the cluster stores nothing without one)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.pg:
        parser.error("give --pg postgresql://... or set FEEDWATCH_TEST_PG")
    ingest = args.ingest
    runs = []
    with tempfile.TemporaryDirectory(prefix="fw-bench-cluster-") as tmp:
        workdir = Path(tmp)
        site = workdir / "site"
        built = build(site, args.items, args.per_feed)
        with served(site) as base:
            routes = json.loads((site / "site.json").read_text())
            feeds = sorted(p for p in routes if p.startswith("/feeds/"))
            for n in args.workers:
                run = one_run(args.pg, base, feeds, n, workdir / f"run-{n}", ingest)
                if run["ingest_note"]:
                    print(run["ingest_note"], flush=True)
                    ingest = False  # said once; the other runs go without it
                runs.append(run)
    result = {"site": built, "load_avg": os.getloadavg(), "runs": runs}
    print(f"items in: {runs[0]['items_in']}; load average after: {os.getloadavg()[0]:.2f}")
    print(table(runs))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
