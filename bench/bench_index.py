"""Benchmark: the near-neighbour index on random and on near-duplicate-heavy real texts.

    python bench/bench_index.py                    # 100,000 items, 30,000 timed operations
    python bench/bench_index.py --items 1000000    # the full figure: 300,000 timed operations

Two workloads (bench/index_workload.py): random fingerprints, and items built from the real
corpus texts with their reposts and editions (a story's variants arrive a few hundred items
after it, as in real feeds). For each, the index is bulk-loaded with all but the last `ops`
items, then each remaining item is one operation as the engine does it: `candidates`, then
`add`. Latency is measured per operation as wall time and as the thread's CPU time (this
machine is shared: wall time includes waits for a core, CPU time does not); p50/p99/max, and
how many operations took more than 50 ms. Also: memory per item (the index arrays), the
`simhash` package's SimhashIndex memory per item (tracemalloc on 50,000 items), a cold start
from SQLite (`dedup_fingerprints`), and the dedup state's bytes per real item (the engine run
on real corpus items; texts as stored before sketches vs sketches).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simhash  # noqa: E402

import spiders.outlets  # noqa: E402, F401  (registers the outlets' URL rules and boilerplate)
from bench.bench_fingerprint import load_texts  # noqa: E402
from bench.dedup_corpus import CORPUS  # noqa: E402
from bench.dedup_eval import machine  # noqa: E402
from bench.index_workload import Workload, random_workload, realistic_workload  # noqa: E402
from conf.dedup import DedupConfig  # noqa: E402
from dedup.compare import features_of_text  # noqa: E402
from dedup.engine import DedupEngine, Document  # noqa: E402
from dedup.index import NearIndex  # noqa: E402
from dedup.text import normalize_text  # noqa: E402
from store.dedup_tables import to_signed  # noqa: E402
from store.imports import iter_item_paths, read_item_file  # noqa: E402
from store.sqlite import open_storage  # noqa: E402
from store.urls import canonical_url  # noqa: E402

STALL_MS = 50.0


def _pct(values: np.ndarray) -> str:
    return (
        f"{np.percentile(values, 50):.3f} / {np.percentile(values, 99):.3f} / {values.max():.1f} ms"
    )


def run_ops(w: Workload, ops: int, cfg: DedupConfig) -> dict[str, object]:
    """Bulk-load all but `ops` items, then time `ops` candidates+add operations."""
    n = len(w)
    base = n - ops
    off = w.offsets()
    index = NearIndex(cfg.simhash_k, cfg.min_shared_anchors, cfg.max_anchor_items)
    t0 = time.perf_counter()
    index.bulk_load((i, int(w.fps[i]), w.blob(i, off)) for i in range(base))
    build_s = time.perf_counter() - t0
    wall = np.zeros(ops)
    cpu = np.zeros((ops, 2))  # candidates, add
    found = np.zeros(ops, dtype=np.int64)
    same_story = with_prior = 0
    seen = np.zeros(int(w.story.max()) + 1 if w.story.size and w.story.max() >= 0 else 0, bool)
    seen[w.story[:base][w.story[:base] >= 0]] = True
    clock, tick = time.thread_time, time.perf_counter
    for j, i in enumerate(range(base, n)):
        anchors = w.anchors[off[i] : off[i + 1]]
        fp = int(w.fps[i])
        w0, c0 = tick(), clock()
        cands = index.candidates(fp, anchors)
        c1 = clock()
        index.add(i, fp, anchors)
        c2, w1 = clock(), tick()
        wall[j], cpu[j] = w1 - w0, (c1 - c0, c2 - c1)
        found[j] = len(cands)
        if w.story[i] >= 0:  # realistic: was an earlier item of the same story found?
            if seen[w.story[i]]:
                with_prior += 1
                same_story += bool(np.any(w.story[cands.ids] == w.story[i]))
            seen[w.story[i]] = True
    wall_ms, cpu_ms = wall * 1e3, cpu * 1e3
    runs = max(len(t.runs) for t in [*index.simhash.tables, index.anchors.table])
    memory = (index.nbytes(), index.merge_nbytes())
    index.finish_merges()  # not timed: the memory once the merges in progress are done
    return {
        "index": index,
        "build_s": build_s,
        "wall": wall_ms,
        "cpu": cpu_ms.sum(axis=1),
        "query": cpu_ms[:, 0],
        "add": cpu_ms[:, 1],
        "found": found,
        "same_story": same_story,
        "with_prior": with_prior,
        "runs": runs,
        "memory": memory,
    }


def cold_start(w: Workload, cfg: DedupConfig) -> float:
    """Seconds to load the workload's rows from SQLite and build the index."""
    off = w.offsets()
    with tempfile.TemporaryDirectory() as tmp:
        storage = open_storage(Path(tmp) / "state.db")
        with storage.transaction():
            storage.connection.executemany(
                "INSERT INTO dedup_fingerprints (item_id, simhash, anchors) VALUES (?, ?, ?)",
                # Ids from 1, as the dedup tables number their rows (the load reads ids > 0).
                ((i + 1, to_signed(int(w.fps[i])), w.blob(i, off)) for i in range(len(w))),
            )
        storage.close()
        storage = open_storage(Path(tmp) / "state.db")
        t0 = time.perf_counter()
        loaded = NearIndex.load(
            storage.dedup, cfg.simhash_k, cfg.min_shared_anchors, cfg.max_anchor_items
        )
        seconds = time.perf_counter() - t0
        assert len(loaded) == len(w)
        storage.close()
    return seconds


def state_bytes(cfg: DedupConfig, limit: int = 2000) -> tuple[int, float, float]:
    """Dedup state bytes per item for real corpus items: (items, with texts, with sketches).

    The engine processes the items into a fresh state; "with texts" puts back the zlib text
    each row held before sketches (what the old engine wrote) and drops the sketch. Bytes are
    SQLite pages of the dedup tables and their indexes after VACUUM (dbstat).
    """
    roots = [CORPUS / o / "items" for o in ("rfi", "voa", "dw", "epochtimes")]
    docs = []
    for path in iter_item_paths(roots):
        try:
            item = read_item_file(path)
        except Exception:  # noqa: BLE001 - meta files are not items
            continue
        url = canonical_url(item.url)
        docs.append(Document(item.url, url, item.title, item.body, path.parent.name, 0, True))
        if len(docs) >= limit:
            break
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "state.db", isolation_level=None)
        engine = DedupEngine(conn, cfg)
        texts: dict[int, bytes] = {}
        for doc in docs:
            decision = engine.classify(doc)
            engine.commit(doc, decision)
            assert decision.features is not None
            item_id = conn.execute("SELECT MAX(id) FROM dedup_items").fetchone()[0]
            texts[item_id] = zlib.compress(decision.features.text.encode("utf-8"))

        def dedup_bytes() -> float:
            conn.execute("VACUUM")
            total = conn.execute(
                "SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'dedup%'"
                " OR name LIKE 'sqlite_autoindex_dedup%'"
            ).fetchone()[0]
            return total / len(docs)

        with_sketch = dedup_bytes()
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO dedup_texts (item_id, text) VALUES (?, ?)", list(texts.items())
        )
        conn.execute("UPDATE dedup_items SET sketch = NULL, shingles = NULL")
        conn.execute("COMMIT")
        with_text = dedup_bytes()
        conn.close()
    return len(docs), with_text, with_sketch


def main(argv: list[str] | None = None) -> int:
    """Run and print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--ops", type=int, help="timed operations (default: 30%% of items, <= 300k)")
    args = ap.parse_args(argv)
    n = args.items
    ops = args.ops or min(300_000, int(n * 0.3))
    cfg = DedupConfig()
    started = time.perf_counter()
    texts = [normalize_text(t) for t in load_texts()]
    real_counts = np.array([len(features_of_text(t, "", cfg).anchors) for t in texts])
    t0 = time.perf_counter()
    realistic = realistic_workload(n, texts, cfg)
    gen_s = time.perf_counter() - t0
    workloads = [random_workload(n, real_counts, cfg), realistic]
    results = {w.name: run_ops(w, ops, cfg) for w in workloads}
    colds = {w.name: cold_start(w, cfg) for w in workloads}

    pkg_n = min(50_000, n)
    tracemalloc.start()
    pkg = simhash.SimhashIndex([], k=3)
    for i in range(pkg_n):
        pkg.add(str(i), simhash.Simhash(int(workloads[0].fps[i])))
    pkg_bytes = tracemalloc.get_traced_memory()[0] / pkg_n
    tracemalloc.stop()
    del pkg
    state_items, text_b, sketch_b = state_bytes(cfg)

    cmd = "python bench/bench_index.py" + (f" --items {n}" if n != 100_000 else "")
    print(
        f"Run {time.strftime('%Y-%m-%d')} on {machine()}; {n:,} items per workload, "
        f"{ops:,} timed operations each; {time.perf_counter() - started:.0f} s "
        f"(realistic workload built in {gen_s:.0f} s); load average at the end"
        f" {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."
    )
    print(f"Command: `{cmd}`\n")
    names = [w.name for w in workloads]
    print("| measure | " + " | ".join(names) + " | target |")
    print("|---|" + "---|" * len(names) + "---|")

    def row(label: str, cells: list[str], target: str = "") -> None:
        print(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    r = [results[x] for x in names]
    row(
        "insert+query CPU p50 / p99 / max",
        [_pct(x["cpu"]) for x in r],  # type: ignore[arg-type]
        "p99 < 1 ms",
    )
    row("insert+query wall p50 / p99 / max", [_pct(x["wall"]) for x in r])  # type: ignore[arg-type]
    row(
        f"operations over {STALL_MS:.0f} ms (wall / CPU)",
        [
            f"{int((x['wall'] > STALL_MS).sum())} / {int((x['cpu'] > STALL_MS).sum())}"  # type: ignore[operator]
            for x in r
        ],
        "0",
    )
    row(
        f"the operations over {STALL_MS:.0f} ms of wall time: their most CPU time",
        [
            f"{x['cpu'][x['wall'] > STALL_MS].max():.1f} ms"  # type: ignore[index]
            if (x["wall"] > STALL_MS).any()  # type: ignore[operator]
            else "-"
            for x in r
        ],
    )
    row("query (candidates) CPU p50 / p99 / max", [_pct(x["query"]) for x in r])  # type: ignore[arg-type]
    row("insert (add) CPU p50 / p99 / max", [_pct(x["add"]) for x in r])  # type: ignore[arg-type]
    row(
        "candidates per query: mean / p99 / max",
        [
            f"{x['found'].mean():.1f} / {np.percentile(x['found'], 99):.0f} / {x['found'].max()}"  # type: ignore[union-attr, arg-type]
            for x in r
        ],
    )
    row(
        "items of a known story that found an earlier item of it",
        [
            f"{x['same_story']:,} of {x['with_prior']:,}" if w.story[0] >= 0 else "-"
            for x, w in zip(r, workloads, strict=True)
        ],
    )
    row("sorted runs per table at the end (most)", [str(x["runs"]) for x in r])
    row(
        "index memory per item (arrays), merges done",
        [
            f"{x['index'].nbytes() / n:.0f} B ({w.counts.mean():.1f} anchors/item)"  # type: ignore[attr-defined]
            for x, w in zip(r, workloads, strict=True)
        ],
        "< 200 B",
    )
    row(
        "the same at the end of the run: all / of it merge output in progress",
        [f"{x['memory'][0] / n:.0f} B / {x['memory'][1] / n:.0f} B" for x in r],  # type: ignore[index]
    )
    row("cold start: load from SQLite and build", [f"{colds[x]:.1f} s" for x in names], "< 10 s")
    row(f"bulk build of {n - ops:,} items in memory", [f"{x['build_s']:.1f} s" for x in r])
    print(
        f"\n`simhash` package SimhashIndex k=3: {pkg_bytes:.0f} B per item "
        f"(tracemalloc, {pkg_n:,} items).\n"
    )
    print(
        f"Dedup state per item ({state_items:,} real corpus items through the engine, VACUUMed):\n"
    )
    print("| dedup tables | bytes per item |")
    print("|---|---|")
    print(f"| with the text (before sketches) | {text_b:,.0f} B |")
    print(f"| with the sketch | {sketch_b:,.0f} B |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
