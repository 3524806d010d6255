"""Benchmark: the state store's per-operation cost on SQLite and on PostgreSQL, side by side.

    python bench/bench_storage.py --pg postgresql://... [--items 5000] [--batch 50]

Same code (`store.backends.open_storage`), same operations, in one run:

- record: new items, `--batch` per write transaction (the ingest consumer's shape);
- lookup: known canonical URLs, one autocommit read each (the crawl's seen check);
- queue put + take/settle: `put_many` of `--batch` rows, then `take` + `settle` of them in one
  write transaction (crawl process hands over, consumer takes);
- the wrapper's overhead: the lookup statement through `store.pg.PgConnection.execute` against
  the same statement through raw psycopg on the same connection, interleaved, best of 5.

Reported per operation: wall time and this process's CPU, and on PostgreSQL the CPU of this
connection's own server process (its /proc entry: the server is local), so other clients of
the same server do not count. SQLite in WAL mode with synchronous=NORMAL, as feedwatch opens
it; PostgreSQL as configured (fsync on, synchronous_commit on), over TCP to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from store.backends import open_storage  # noqa: E402
from store.pg import PgConnection, to_postgres  # noqa: E402
from store.sqlstore import SQLStore  # noqa: E402
from store.state import SeenItem  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
MS = 1_764_540_000_000


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one local process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Meter:
    """Wall, client CPU and (PostgreSQL) server-backend CPU of a block, per operation."""

    def __init__(self, store: SQLStore) -> None:
        self.backend: int | None = None
        if isinstance(store.connection, PgConnection):
            self.backend = int(store.connection.execute("SELECT pg_backend_pid()").fetchone()[0])

    def run(self, ops: int, block: Callable[[], None]) -> dict[str, float]:
        server0 = proc_cpu_s(self.backend) if self.backend else 0.0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        block()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        server = (proc_cpu_s(self.backend) - server0) if self.backend else 0.0
        return {
            "wall_us": wall / ops * 1e6,
            "cpu_us": cpu / ops * 1e6,
            "server_us": server / ops * 1e6,
        }


def item(n: int) -> SeenItem:
    url = f"https://www.rfi.fr/fr/afrique/20251130-article-{n}"
    return SeenItem(url, "rfi", url, f"Un titre d'article {n}", MS + n, MS + n, n, f"rfi/{n}.md")


def bench_store(store: SQLStore, items: int, batch: int) -> dict[str, dict[str, float]]:
    meter = Meter(store)
    results: dict[str, dict[str, float]] = {}

    def record() -> None:
        for start in range(0, items, batch):
            with store.transaction():
                for n in range(start, min(start + batch, items)):
                    store.items.record(item(n), f"guid-{n}", "https://www.rfi.fr/fr/rss")

    results["record (batch per transaction)"] = meter.run(items, record)
    order = random.Random(1).sample(range(items), items)

    def lookup() -> None:
        for n in order:
            assert store.items.lookup(item(n).canonical_url) is not None

    results["lookup (known URL)"] = meter.run(items, lookup)
    payload = "x" * 2000  # a queued story is a few kB of JSON

    def queue() -> None:
        for _ in range(0, items, batch):
            store.queue.put_many([("tok", "rfi", "story", payload)] * batch)
            with store.transaction():
                for row in store.queue.take(batch):
                    store.queue.settle(row, "new", text_length=2000)
        store.queue.forget("tok")

    results["queue put + take/settle"] = meter.run(items, queue)
    return results


def wrapper_overhead(store: SQLStore, rounds: int) -> tuple[float, float]:
    """µs per lookup statement: through the wrapper, and raw psycopg (best of 5 each)."""
    conn = store.connection
    assert isinstance(conn, PgConnection)
    sql = "SELECT canonical_url, outlet, url, title, ts, first_seen_ms, story_id, path FROM items WHERE canonical_url = ?"
    raw_sql = to_postgres(sql)
    urls = [(item(n % 1000).canonical_url,) for n in range(rounds)]
    best = {"wrapper": float("inf"), "raw": float("inf")}
    runners: dict[str, Callable[[tuple[Any, ...]], Any]] = {
        "wrapper": lambda args: conn.execute(sql, args).fetchone(),
        "raw": lambda args: conn.raw.execute(raw_sql, args).fetchone(),  # type: ignore[arg-type]
    }
    for _ in range(5):
        for name, one in runners.items():
            t0 = time.perf_counter()
            for args in urls:
                one(args)
            best[name] = min(best[name], (time.perf_counter() - t0) / rounds * 1e6)
    return best["wrapper"], best["raw"]


def translation_us(rounds: int = 100_000) -> float:
    """µs for the wrapper's statement rewrite once cached (what it adds to every statement)."""
    sql = "SELECT path FROM items WHERE story_id = ? AND path IS NOT NULL ORDER BY id LIMIT 1"
    to_postgres(sql)
    t0 = time.perf_counter()
    for _ in range(rounds):
        to_postgres(sql)
    return (time.perf_counter() - t0) / rounds * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("FEEDWATCH_TEST_PG", ""))
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args(argv)
    if not args.pg:
        print("bench_storage: needs --pg postgresql://... or FEEDWATCH_TEST_PG", file=sys.stderr)
        return 2
    from pg import fresh_schema

    with tempfile.TemporaryDirectory() as tmp, fresh_schema(args.pg) as url:
        t0 = time.perf_counter()
        sqlite_store = open_storage(Path(tmp) / "state.sqlite3")
        pg_store = open_storage(url)
        try:
            lite = bench_store(sqlite_store, args.items, args.batch)
            pg = bench_store(pg_store, args.items, args.batch)
            wrapped, raw = wrapper_overhead(pg_store, 2000)
        finally:
            sqlite_store.close()
            pg_store.close()
        elapsed = time.perf_counter() - t0

    print(f"{args.items:,} items, {args.batch} per transaction; {elapsed:.0f} s.")
    print(f"Command: `python bench/bench_storage.py --items {args.items} --batch {args.batch}`\n")
    print(
        "| operation | SQLite wall / CPU µs | PostgreSQL wall / client CPU / server CPU µs | PG ÷ SQLite wall |"
    )
    print("|---|---|---|---|")
    for op, s in lite.items():
        p = pg[op]
        print(
            f"| {op} | {s['wall_us']:.0f} / {s['cpu_us']:.0f} | {p['wall_us']:.0f} / "
            f"{p['cpu_us']:.0f} / {p['server_us']:.0f} | {p['wall_us'] / s['wall_us']:.1f}x |"
        )
    print(
        f"\nThe wrapper (`store/pg.py`) on that lookup: {wrapped:.1f} µs per statement against "
        f"{raw:.1f} µs for raw psycopg ({wrapped - raw:+.1f} µs, {wrapped / raw - 1:+.1%}); its statement rewrite, cached, "
        f"takes {translation_us():.2f} µs."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
