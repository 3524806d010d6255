"""Benchmark: import and dedup 100,000 items; time and peak memory as the archive grows.

    python bench/bench_archive.py [--sizes 10000,30000,100000]

Item files are built from the real corpus items (bench/crawl_site.real_items). Variant v of a
real item has every CJK character shifted by a per-variant offset inside the CJK block, so it
reads like Chinese to the n-gram features (same lengths, repetitions and structure) but is a
different story; one variant in ten is instead a repost of an earlier one (a paragraph added,
its own URL), so the repost path is exercised too. Files are split into batches of 10k/20k/70k
(the differences of --sizes) and imported by ONE `feedwatch import` process in turn (through
`feedwatch.importer.import_paths`, the function behind the CLI), so the curve shows how the
per-item time and the peak RSS change as the state database, index and archive grow.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import spiders.outlets  # noqa: E402, F401  (registers the outlets' URL rules and boilerplate)
from bench.crawl_site import real_items  # noqa: E402
from store.format import StoredItem, render_item  # noqa: E402

_CJK_LO, _CJK_HI = 0x4E00, 0x9FA5  # CJK Unified Ideographs (the common block)


_SHIFT_TABLES: dict[int, dict[int, int]] = {}


def _shift(text: str, offset: int) -> str:
    """Move every CJK character `offset` places inside the block (other characters stay)."""
    table = _SHIFT_TABLES.get(offset)
    if table is None:
        span = _CJK_HI - _CJK_LO
        table = {c: _CJK_LO + (c - _CJK_LO + offset) % span for c in range(_CJK_LO, _CJK_HI)}
        _SHIFT_TABLES[offset] = table
    return text.translate(table)


def _variant_url(url: str, v: int, i: int) -> str:
    """A URL of the same host that no other item has (canonicalization keeps it distinct)."""
    parts = urlsplit(url)
    return f"{parts.scheme or 'https'}://{parts.netloc or 'variant.example'}/v{v}/{i}.html"


def make_item(i: int, base: list[StoredItem]) -> StoredItem:
    """Item number `i` of the synthetic archive (a pure function of i: nothing is kept)."""
    if i >= len(base) and i % 10 == 9:
        src = make_item(i // 2, base)  # a repost of an earlier story, under its own URL
        return StoredItem(
            src.ts + 3_600_000,
            src.title,
            f"https://repost.example/{i}.html",
            src.body + f"<p>（转载，第{i}号）</p>",
        )
    real = base[i % len(base)]
    v = i // len(base)
    if not v:
        return real
    return StoredItem(
        real.ts + v * 60_000,
        _shift(real.title, v * 97),
        _variant_url(real.url, v, i),
        _shift(real.body, v * 97),
    )


def write_items(out: Path, sizes: list[int]) -> list[Path]:
    """Write max(sizes) item files into one folder per batch; returns the batch folders."""
    base = real_items()
    bounds = [0, *sizes]
    dirs = []
    for b, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        folder = out / f"batch{b}"
        folder.mkdir(parents=True)
        for i in range(lo, hi):
            (folder / f"{i:06d}.md").write_bytes(render_item(make_item(i, base)))
        dirs.append(folder)
    return dirs


CHILD = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from conf.schema import load_config
from feedwatch.importer import import_paths
config = load_config(Path({config!r}))
done = 0
for folder in {dirs!r}:
    t0, c0 = time.perf_counter(), time.process_time()
    report = import_paths(config, [Path(folder)], alerts=False)
    n = sum(report.counts.values())
    done += n
    print(json.dumps({{"items": done, "batch": n, "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counts": report.counts}}), flush=True)
"""


def run(sizes: list[int], workdir: Path) -> list[dict]:
    """Build the files and import them batch by batch in one child process."""
    t0 = time.perf_counter()
    dirs = write_items(workdir / "items", sizes)
    build_s = time.perf_counter() - t0
    config = workdir / "config.yaml"
    config.write_text(
        "archive_dir: archive\nstate_db: state/feedwatch.sqlite3\n"
        "outlets: {}\ndedup: {enabled: true}\n"
    )
    code = CHILD.format(repo=str(HERE.parent), config=str(config), dirs=[str(d) for d in dirs])
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rows = []
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:  # one line per batch, shown as it comes (a full run takes minutes)
        if line.startswith("{"):
            rows.append(json.loads(line))
            print(f"  imported {rows[-1]['items']:,} items", file=sys.stderr, flush=True)
    errors = proc.stderr.read()
    if proc.wait() != 0 or not rows:
        raise RuntimeError(f"import failed:\n{errors[-3000:]}")
    for r in rows:
        r["build_s"] = build_s
    archive_mb = sum(p.stat().st_size for p in (workdir / "archive").rglob("*") if p.is_file())
    state_mb = sum(p.stat().st_size for p in (workdir / "state").rglob("*") if p.is_file())
    rows[-1]["archive_mb"] = archive_mb / 1e6
    rows[-1]["state_mb"] = state_mb / 1e6
    return rows


def table(rows: list[dict], command: str) -> str:
    """Markdown table of one run."""
    lines = [
        f"Command: `{command}` (one `feedwatch import` process, batches imported in turn;"
        f" files built from {len(real_items()):,} real items in {rows[0]['build_s']:.0f} s).",
        "",
        "| items in archive | batch | batch time | per item | CPU per item | cumulative time"
        " | peak RSS | outcomes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    total = 0.0
    for r in rows:
        total += r["seconds"]
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items()))
        lines.append(
            f"| {r['items']:,} | {r['batch']:,} | {r['seconds']:.1f} s |"
            f" {1000 * r['seconds'] / max(r['batch'], 1):.2f} ms |"
            f" {1000 * r.get('cpu_seconds', 0.0) / max(r['batch'], 1):.2f} ms | {total:.1f} s |"
            f" {r['peak_rss_mb']:.0f} MB | {outcomes} |"
        )
    first = rows[0]["seconds"] / max(rows[0]["batch"], 1)
    last = rows[-1]["seconds"] / max(rows[-1]["batch"], 1)
    cpu_first = rows[0].get("cpu_seconds", 0.0) / max(rows[0]["batch"], 1)
    cpu_last = rows[-1].get("cpu_seconds", 0.0) / max(rows[-1]["batch"], 1)
    lines += [
        "",
        f"Per-item time of the last batch / first batch: **{last / first:.2f}** (1.0 = linear"
        f" growth; CPU time of the importing process: {cpu_last / max(cpu_first, 1e-9):.2f},"
        " which other load on the machine does not inflate); archive"
        f" {rows[-1]['archive_mb']:.0f} MB, state database {rows[-1]['state_mb']:.0f} MB.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run and print a markdown table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="fw-bench-archive-") as tmp:
        rows = run(sizes, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    cmd = "python bench/bench_archive.py" + (
        f" --sizes {args.sizes}" if args.sizes != "10000,30000,100000" else ""
    )
    print(table(rows, cmd))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
