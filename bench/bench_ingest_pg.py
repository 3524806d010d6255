"""Benchmark: the whole ingest step's cost on PostgreSQL beside SQLite, per stored item.

    python bench/bench_ingest_pg.py --pg postgresql://... [--items 2000]

The state-size workload (bench/bench_state_size.py: real corpus items, 1.5 near-duplicate
variants per story on average: reposts, revisions, summaries, script copies) is put on the
ingest queue and one ingest consumer (`ingest.consumer.Consumer`: dedup, archive files, items,
alert matching with one watch rule and its outbox) settles it, once on a SQLite file and once
in a fresh PostgreSQL schema, in this one process. Reported per queued item: the consumer's
wall time and CPU (this process) and, on PostgreSQL, the CPU of the server backends of this
process's connections (read from /proc before and after, found by client port).

Until the ingest role runs on PostgreSQL itself, the consumer is pointed at the storage
interface's PostgreSQL store here (`store.backends.open_storage` of the URL; two module
attributes set in `_consumer_on`): the same Consumer and Ingestor code on the other backend.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.cluster_harness import client_ports, cpu_s, fresh_schema  # noqa: E402

CONFIG = (
    "archive_dir: archive\nstate_db: '{state_db}'\noutlets: {{}}\ndedup: {{enabled: true}}\n"
    "alerts:\n  channels: {{file: {{kind: jsonl, path: alerts.jsonl}}}}\n"
    "  rules: [{{name: watch, any: [朝鲜, 普京, 特朗普], notify: [file]}}]\n"
)


@contextmanager
def _consumer_on(target: str) -> Iterator[None]:
    """While in it, a new Consumer opens `target` through the storage interface."""
    import ingest.consumer
    import ingest.ingestor
    from store.backends import open_storage
    from store.sqlstore import SQLStore

    # The config keeps a PostgreSQL state_db in `postgres_url` and the machine's SQLite file
    # in `state_db`, which is what the consumer opens today.
    with ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(ingest.consumer, "open_storage", lambda _: open_storage(target))
        )
        if hasattr(ingest.ingestor, "SQLiteState"):
            stack.enter_context(mock.patch.object(ingest.ingestor, "SQLiteState", SQLStore))
        yield


def _backends(port: int) -> dict[int, float]:
    """CPU seconds of the server backends serving this process's connections."""
    import psycopg

    ports = client_ports({os.getpid()}, port)
    if not ports:
        return {}
    with psycopg.connect(os.environ["FW_BENCH_PG"], autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%s)", (sorted(ports),)
        ).fetchall()
    return {int(p): cpu_s(int(p), children=False) for (p,) in pids}


def one(state_db: str, workdir: Path, n: int, port: int | None) -> dict[str, Any]:
    import spiders.outlets  # noqa: F401 (registers the outlets' URL rules)
    from bench.bench_state_size import _workload
    from conf.schema import load_config
    from ingest.consumer import Consumer
    from ingest.ingestor import Story
    from ingest.payload import story_to_payload
    from store.backends import open_storage
    from store.format import StoredItem
    from store.normalize import clean_title, one_line
    from store.unchanged import entry_digest
    from store.urls import canonical_url

    workdir.mkdir(parents=True)
    (workdir / "config.yaml").write_text(CONFIG.format(state_db=state_db), encoding="utf-8")
    os.chdir(workdir)
    config = load_config(workdir / "config.yaml")
    target = state_db if port else str(config.state_db)
    producer = open_storage(target)
    rows = []
    for outlet, url, title, body, ts, full in _workload(n):
        stored = StoredItem(ts, clean_title(title), url, one_line(body))
        story = Story(
            outlet=outlet,
            canonical_url=canonical_url(url),
            stored=stored,
            first_seen_ms=ts + 60_000,
            guid=url,
            feed_url=f"https://{outlet}.example/feed.xml",
            full_text=full,
            body_html=body,
            digest=entry_digest(title, body, ts),
        )
        rows.append(("bench", outlet, "story", story_to_payload(story)))
    producer.queue.put_many(rows)
    with _consumer_on(target):
        consumer = Consumer(config)
    before = _backends(port) if port else {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        consumer.consume(done=lambda: consumer.queue.pending() == 0)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        after = _backends(port) if port else {}
    finally:
        consumer.close()
    stored_items = producer.items.count()
    producer.close()
    server = sum(v - before.get(pid, 0.0) for pid, v in after.items())
    return {"items": n, "stored": stored_items, "wall": wall, "cpu": cpu, "server": server}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("FEEDWATCH_TEST_PG", ""))
    parser.add_argument("--items", type=int, default=2000)
    args = parser.parse_args(argv)
    if not args.pg:
        parser.error("give --pg postgresql://... or set FEEDWATCH_TEST_PG")
    from urllib.parse import urlsplit

    os.environ["FW_BENCH_PG"] = args.pg
    here = os.getcwd()
    try:
        with tempfile.TemporaryDirectory(prefix="fw-ingest-pg-") as tmp:
            sqlite = one("state/feedwatch.sqlite3", Path(tmp) / "sqlite", args.items, None)
            with fresh_schema(args.pg, "fw_ingest") as url:
                pg = one(url, Path(tmp) / "pg", args.items, urlsplit(args.pg).port or 5432)
    finally:
        os.chdir(here)
    print(
        f"{args.items} queued items; stored: SQLite {sqlite['stored']}, PostgreSQL {pg['stored']}"
    )
    print("| per queued item, ms | SQLite | PostgreSQL | ratio |")
    print("|---|---|---|---|")
    for key, label in (("wall", "wall"), ("cpu", "consumer CPU")):
        a, b = 1000 * sqlite[key] / args.items, 1000 * pg[key] / args.items
        print(f"| {label} | {a:.2f} | {b:.2f} | {b / a:.1f}x |")
    print(f"| PostgreSQL server CPU | - | {1000 * pg['server'] / args.items:.3f} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
