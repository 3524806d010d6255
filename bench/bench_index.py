"""Benchmark: the near-neighbour index at 1,000,000 fingerprints (real + synthetic).

    python bench/bench_index.py [--items N]

Builds a NearIndex from the real corpus fingerprints/anchors plus synthetic ones (random
fingerprints, anchor counts drawn from the real distribution), then measures insert+query
latency (p50/p99 over 2,000 operations, each a query then an insert, as the engine does),
memory per item (the index arrays), the `simhash` package's SimhashIndex memory per item
(tracemalloc on 50,000 items), and a cold start from SQLite (`dedup_fingerprints`).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simhash  # noqa: E402

import spiders.outlets  # noqa: E402, F401  (registers the outlets' URL rules and boilerplate)
from bench.bench_fingerprint import load_texts  # noqa: E402
from bench.dedup_eval import machine  # noqa: E402
from conf.dedup import DedupConfig  # noqa: E402
from dedup.compare import features_of_text  # noqa: E402
from dedup.index import NearIndex, _to_signed, create_tables  # noqa: E402
from dedup.text import normalize_text  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run and print a markdown table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    n = ap.parse_args(argv).items
    cfg = DedupConfig()
    real = [features_of_text(normalize_text(t), "", cfg) for t in load_texts()]
    rng = np.random.default_rng(42)
    counts = np.array([len(f.anchors) for f in real])
    limit = (1 << 64) // cfg.anchor_rate
    fps = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64) * np.uint64(
        2
    ) + rng.integers(0, 2, size=n, dtype=np.int64).astype(np.uint64)
    n_anchor = rng.choice(counts, size=n)
    anchor_vals = (rng.random(int(n_anchor.sum())) * limit).astype(np.uint64)
    for i, f in enumerate(real):  # real items first
        fps[i] = np.uint64(f.fingerprint)
    blobs = []
    offset = 0
    for i in range(n):
        k = int(n_anchor[i])
        blobs.append(
            real[i].anchors.astype("<u8").tobytes()
            if i < len(real)
            else anchor_vals[offset : offset + k].astype("<u8").tobytes()
        )
        offset += k

    ops = 2000
    base = n - ops
    # The engine's settings (stop-anchors included) and its call: candidates, then add.
    index = NearIndex(cfg.simhash_k, cfg.min_shared_anchors, cfg.max_anchor_items)
    t0 = time.perf_counter()
    index.bulk_load((i, int(fps[i]), blobs[i]) for i in range(base))
    build_s = time.perf_counter() - t0
    lat = []
    for i in range(base, n):
        anchors = np.frombuffer(blobs[i], dtype="<u8").astype(np.uint64)
        t0 = time.perf_counter()
        index.candidates(int(fps[i]), anchors)
        index.add(i, int(fps[i]), anchors)
        lat.append(time.perf_counter() - t0)
    lat_ms = np.array(lat) * 1e3
    bytes_item = index.nbytes() / len(index)
    # near neighbours of real items are found (sanity check, not timed)
    hit = sum(i in index.query(f.fingerprint, f.anchors) for i, f in enumerate(real[:200]))

    pkg_n = 50_000
    tracemalloc.start()
    pkg = simhash.SimhashIndex([], k=3)
    for i in range(pkg_n):
        pkg.add(str(i), simhash.Simhash(int(fps[i])))
    pkg_bytes = tracemalloc.get_traced_memory()[0] / pkg_n
    tracemalloc.stop()
    del pkg

    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "state.db")
        create_tables(conn)
        with conn:
            conn.executemany(
                "INSERT INTO dedup_fingerprints (item_id, simhash, anchors) VALUES (?, ?, ?)",
                ((i, _to_signed(int(fps[i])), blobs[i]) for i in range(n)),
            )
        conn.close()
        conn = sqlite3.connect(Path(tmp) / "state.db")
        t0 = time.perf_counter()
        loaded = NearIndex.load(conn, cfg.simhash_k, cfg.min_shared_anchors, cfg.max_anchor_items)
        cold_s = time.perf_counter() - t0
        assert len(loaded) == n

    print(f"Run {time.strftime('%Y-%m-%d')} on {machine()}; {n:,} fingerprints ({len(real)} real).")
    cmd = "python bench/bench_index.py" + (f" --items {n}" if n != 1_000_000 else "")
    print(f"Command: `{cmd}`\n")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(
        f"| insert+query p50 / p99 / max at {n:,} | {np.percentile(lat_ms, 50):.3f} / {np.percentile(lat_ms, 99):.3f} / {lat_ms.max():.3f} ms | p99 < 1 ms |"
    )
    print(
        f"| index memory per item (arrays; mean {counts.mean():.1f} anchors/item) | {bytes_item:.0f} B | < 200 B |"
    )
    print(
        f"| simhash package SimhashIndex k=3, per item (tracemalloc, {pkg_n:,} items) | {pkg_bytes:.0f} B | (~940) |"
    )
    print(f"| cold start: load {n:,} rows from SQLite and build | {cold_s:.1f} s | < 10 s |")
    print(f"| bulk build of {base:,} items in memory | {build_s:.1f} s | |")
    print(f"| real items found as their own neighbour | {hit}/200 | 200/200 |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
