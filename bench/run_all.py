"""Run every benchmark in one go and rewrite the results block of docs/BENCHMARKS.md.

    python bench/run_all.py            # full sizes (~25 min on 2 cores; +11 min once: the 10^6-story state)
    python bench/run_all.py --quick    # small sizes (~5 min), same code paths
    python bench/run_all.py --no-docs  # print only
    python bench/run_all.py --only scale   # one benchmark (prints only)

Each benchmark runs in its own subprocess, one after the other (never two at once: they would
share the cores). The results block of docs/BENCHMARKS.md (between `<!-- run-all:start -->`
and `<!-- run-all:end -->`) gets the date, the machine (CPU model, cores, memory, Python,
SQLite and PostgreSQL versions), one table of every target (target / measured / met?, with the
sizes it was measured at) and each benchmark's own table with its exact command. A benchmark
whose script is absent (`bench/bench_state_size.py` until it lands) is listed as not run.
Exit status 1 if a benchmark failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

DOCS = REPO / "docs" / "BENCHMARKS.md"
DEDUP_DOCS = REPO / "docs" / "DEDUP.md"
START, END = "<!-- run-all:start -->", "<!-- run-all:end -->"
# bench_scale keeps its built states here between runs (building 10^6 stories takes ~12 min).
SCALE_CACHE = Path(
    os.environ.get("FEEDWATCH_BENCH_CACHE") or Path(tempfile.gettempdir()) / "feedwatch-bench-cache"
)


@dataclass
class Result:
    """One benchmark's run: its markdown, its JSON (when it writes one), time and success."""

    stdout: str = ""
    data: Any = None
    seconds: float = 0.0
    ok: bool = False
    ran: bool = False
    why_not: str = ""


# A target row: (target, measured, met?) from a benchmark's result.
Row = tuple[str, str, str]


@dataclass
class Bench:
    """A benchmark script, its arguments (full and --quick) and the target rows it gives."""

    title: str
    script: str
    full: list[str]
    quick: list[str] | None  # None: not run with --quick
    sizes: tuple[str, str]  # what the full and the quick run measure, for the targets table
    rows: Callable[[Result], list[Row]]
    json: bool = True  # the script takes --json FILE
    extra: list[str] = field(default_factory=list)


def _met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _cells(stdout: str, label: str) -> list[str]:
    """The cells after the label of the first markdown row that starts with `label`."""
    for line in stdout.splitlines():
        if line.startswith(f"| {label}"):
            return [c.strip() for c in line.strip().strip("|").split("|")][1:]
    raise KeyError(label)


def _floats(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d[\d,]*\.?\d*", cell.replace(",", ""))]


def crawl_rows(r: Result) -> list[Row]:
    d = r.data
    return [
        (
            "crawl: feedwatch >= 0.5 x bare Scrapy items/s",
            f"{d['ratio']:.2f} ({d['feedwatch_items_per_s']:.0f} vs {d['bare_items_per_s']:.0f}"
            " items/s)",
            _met(d["ratio"] >= 0.5),
        ),
        (
            "second crawl of the unchanged site < 2 % of the bytes, 0 article requests",
            f"{d['incremental_bytes_pct']:.3f} %, {d['second_article_requests']} article requests",
            _met(d["incremental_bytes_pct"] < 2 and d["second_article_requests"] == 0),
        ),
    ]


def fingerprint_rows(r: Result) -> list[Row]:
    # The ratio is the cell that ends in "x" (the table's columns have changed before).
    cells = _cells(r.stdout, "feedwatch normalize_text")
    ratio = next(_floats(c)[0] for c in cells if c.endswith("x"))
    return [
        (
            "normalize + fingerprint >= 20 x `simhash.Simhash(text)`",
            f"{ratio:.1f}x",
            "given up (issue 12: fast paths removed)" if ratio < 20 else _met(True),
        )
    ]


def index_rows(r: Result) -> list[Row]:
    out = r.stdout
    p99 = [_floats(c)[1] for c in _cells(out, "insert+query CPU p50")[:2]]
    over = [_floats(c) for c in _cells(out, "operations over")[:2]]  # [wall, cpu] per workload
    mem = [_floats(c)[0] for c in _cells(out, "index memory per item")[:2]]
    cold = [_floats(c)[0] for c in _cells(out, "cold start")[:2]]
    cpu_over = sum(int(o[1]) for o in over)
    wall_over = sum(int(o[0]) for o in over)
    return [
        (
            "index insert+query p99 < 1 ms (CPU; random / realistic)",
            f"{p99[0]:.3f} / {p99[1]:.3f} ms",
            _met(max(p99) < 1),
        ),
        (
            "index: no operation > 50 ms (CPU / wall, both workloads)",
            f"{cpu_over} / {wall_over} operations",
            _met(cpu_over == 0) + ("" if wall_over == 0 else " in CPU time only")
            if cpu_over == 0
            else _met(False),
        ),
        (
            "index memory < 200 B per item (merges done)",
            f"{mem[0]:.0f} / {mem[1]:.0f} B",
            _met(max(mem) < 200),
        ),
        (
            "index cold start from SQLite < 10 s",
            f"{cold[0]:.1f} / {cold[1]:.1f} s",
            _met(max(cold) < 10),
        ),
    ]


def archive_rows(r: Result) -> list[Row]:
    rows = r.data
    per = [x["seconds"] / max(x["batch"], 1) for x in rows]
    cpu = [x.get("cpu_seconds", 0.0) / max(x["batch"], 1) for x in rows]
    growth = cpu[-1] / max(cpu[0], 1e-9)
    rss = " / ".join(f"{x['peak_rss_mb']:.0f}" for x in rows)
    state_per = rows[-1]["state_mb"] * 1e6 / rows[-1]["items"]
    return [
        (
            "import: time per item grows linearly (last / first batch, CPU)",
            f"{growth:.2f} (wall: {' / '.join(f'{1000 * p:.2f}' for p in per)} ms per item)",
            _met(growth < 1.3),
        ),
        (
            "import: bounded memory (peak RSS per batch)",
            f"{rss} MB",
            _met(max(x["peak_rss_mb"] for x in rows) < 500),
        ),
        (
            "state store <= 1.5 KB per story (whole state after the import, WAL included,"
            " not VACUUMed)",
            f"{state_per:,.0f} B per imported item ({rows[-1]['items']:,} items)",
            _met(state_per <= 1500),
        ),
    ]


def poll_rows(r: Result) -> list[Row]:
    on, trailer = r.data["restamped"], r.data["trailer"]
    return [
        (
            "steady-state poll of restamped feeds: CPU beyond start-up <= 10 % of the first"
            " crawl's, 0 files, 0 new state rows",
            f"{on['ratio']:.3f} ({on['cpu_beyond_startup_s']} of"
            f" {r.data['first']['cpu_beyond_startup_s']} CPU s), {on['files_written']:g} files,"
            f" {on['rows']:g} rows (cache-stamped feeds: {trailer['ratio']:.3f},"
            f" {trailer['rows']:g} rows)",
            _met(on["ratio"] <= 0.10 and on["files_written"] == 0 and on["rows"] == 0),
        )
    ]


def scale_rows(r: Result) -> list[Row]:
    sizes = r.data["sizes"]
    base, big = sizes[0], sizes[-1]

    def best(s: dict[str, Any], key: str, pick: Callable[..., float]) -> float:
        return pick(x[key] for x in s["not_modified"])

    cpu = best(big, "cpu_s", min) - best(base, "cpu_s", min)
    rss = best(big, "rss_mb", max) - best(base, "rss_mb", max)
    new_cpu = big["new"]["cpu_s"] - base["new"]["cpu_s"]
    new_rss = big["new"]["rss_mb"] - base["new"]["rss_mb"]
    n = big["stories"]
    return [
        (
            f"{n:,} stories: a crawl of one outlet < 1 s and < 250 MB beyond start-up (daemon"
            " running; every feed 304 / 4 new stories)",
            f"{cpu:+.2f} s, {rss:+.0f} MB / {new_cpu:+.2f} s, {new_rss:+.0f} MB (vs"
            f" {base['stories']:,} stories)",
            _met(cpu < 1 and rss < 250 and new_cpu < 1 and new_rss < 250),
        ),
        (
            f"{n:,} stories: state bytes per story (synthetic stories, real lengths)",
            f"{big['state_mb'] * 2**20 / max(n, 1):,.0f} B",
            _met(big["state_mb"] * 2**20 / max(n, 1) <= 1500),
        ),
    ]


def state_size_rows(r: Result) -> list[Row]:
    per_item = _floats(_cells(r.stdout, "**whole database per item**")[-1])[0]
    per_story = _floats(_cells(r.stdout, "whole database per stored story")[-1])[0]
    return [
        (
            "state store <= 1.5 KB per story (near-duplicate-heavy texts, VACUUMed)",
            f"{per_item:,.0f} B per ingested item, {per_story:,.0f} B per stored story (its"
            " reposts and edits included)",
            _met(per_item <= 1500) + " per item" if per_story > 1500 else _met(per_item <= 1500),
        )
    ]


def dedup_rows(r: Result) -> list[Row]:
    now = _cells(r.stdout, "feedwatch (containment")
    recorded = _cells(DEDUP_DOCS.read_text(encoding="utf-8"), "feedwatch (containment")
    # cells: 3 recalls, must-merge recall, false merges, precision, F1
    recall, f1 = float(now[3]), float(now[6])
    false = int(_floats(now[4])[0])
    was_recall, was_f1, was_false = (
        float(recorded[3]),
        float(recorded[6]),
        int(_floats(recorded[4])[0]),
    )
    return [
        (
            "dedup quality: held-out table unchanged or better (docs/DEDUP.md)",
            f"must-merge recall {recall:.3f}, {false} false merges, F1 {f1:.4f} (recorded:"
            f" {was_recall:.3f}, {was_false}, {was_f1:.4f})",
            _met(recall >= was_recall and false <= was_false and f1 >= was_f1),
        )
    ]


BENCHES: list[Bench] = [
    Bench(
        "1. Crawl throughput and 2. incremental cost",
        "bench_crawl.py",
        [],
        ["--items", "600"],
        ("2,000 items", "600 items"),
        crawl_rows,
    ),
    Bench(
        "3. Fingerprinting",
        "bench_fingerprint.py",
        [],
        [],
        ("2,168 real documents", "2,168 real documents"),
        fingerprint_rows,
        json=False,
    ),
    Bench(
        "4. Index at scale",
        "bench_index.py",
        ["--items", "1000000"],
        ["--items", "50000"],
        ("10^6 items, 300,000 operations", "50,000 items, 15,000 operations"),
        index_rows,
        json=False,
    ),
    Bench(
        "5. Archive scale",
        "bench_archive.py",
        [],
        ["--sizes", "1000,3000"],
        ("import of 10k / 30k / 100k", "import of 1k / 3k"),
        archive_rows,
    ),
    Bench(
        "6. Steady-state polling",
        "bench_poll.py",
        [],
        ["--polls", "1"],
        ("600 items, 2 polls", "600 items, 1 poll"),
        poll_rows,
    ),
    Bench(
        "7. A crawl against 1,000,000 stories",
        "bench_scale.py",
        [],
        ["--stories", "20000", "--repeats", "2"],
        ("10^6 stories (beside 0 and 2,000)", "20,000 stories (beside 0 and 2,000)"),
        scale_rows,
        extra=["--cache", str(SCALE_CACHE)],
    ),
    Bench(
        "8. State size",
        "bench_state_size.py",
        [],
        ["--items", "2000"],
        ("20,000 items", "2,000 items"),
        state_size_rows,
        json=False,
    ),
    Bench(
        "9. Dedup quality",
        "dedup_eval.py",
        [],
        [],
        ("3,829 labelled documents", "3,829 labelled documents"),
        dedup_rows,
        json=False,
    ),
]


def machine() -> str:
    """CPU model, cores, memory, Python, SQLite and PostgreSQL versions."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        memory = f"{mem:.0f} GiB"
    except (ValueError, OSError):
        memory = "unknown memory"
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory}; Python {platform.python_version()},"
        f" SQLite {sqlite3.sqlite_version}, {postgres_version()}"
    )


def postgres_version() -> str:
    """The PostgreSQL server of FEEDWATCH_TEST_PG, else the local client's version."""
    url = os.environ.get("FEEDWATCH_TEST_PG")
    if url:
        try:
            import psycopg

            with psycopg.connect(url, connect_timeout=5) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                return f"PostgreSQL {row[0].split()[0]}" if row else "PostgreSQL ?"
        except Exception:  # noqa: BLE001 - only a label: any failure says "unknown"
            pass
    try:
        out = subprocess.run(["psql", "--version"], capture_output=True, text=True, timeout=10)
        return (
            f"PostgreSQL {out.stdout.split()[-1]} (psql)"
            if out.returncode == 0
            else "no PostgreSQL"
        )
    except (OSError, subprocess.SubprocessError):
        return "no PostgreSQL"


def run_one(bench: Bench, quick: bool) -> Result:
    """Run one benchmark in its own process."""
    script = HERE / bench.script
    args = bench.quick if quick else bench.full
    if args is None:
        return Result(why_not="not run with --quick")
    if not script.exists():
        return Result(why_not=f"not run: bench/{bench.script} is not there yet")
    with tempfile.TemporaryDirectory(prefix="fw-run-all-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(script), *args, *bench.extra]
        if bench.json:
            cmd += ["--json", str(out)]
        if bench.extra:
            SCALE_CACHE.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=7200)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            body = f"**failed** (exit {proc.returncode}):\n\n```\n{tail}\n```"
            return Result(body, None, elapsed, False, True, "failed")
        data = json.loads(out.read_text()) if bench.json and out.exists() else None
    return Result(proc.stdout.strip(), data, elapsed, True, True)


def target_rows(bench: Bench, result: Result, quick: bool) -> list[tuple[str, ...]]:
    """The targets table's rows of one benchmark (one 'not run' row when it did not run)."""
    size = bench.sizes[1] if quick else bench.sizes[0]
    if not result.ok:
        why = result.why_not or "failed"
        return [(f"{bench.title}", why, "not run" if not result.ran else "**failed**", "-")]
    try:
        return [(*row, size) for row in bench.rows(result)]
    except (KeyError, IndexError, ValueError, TypeError, StopIteration) as exc:
        return [(bench.title, f"figures not found in its output ({exc!r})", "?", size)]


def render(
    done: list[tuple[Bench, Result]], quick: bool, total_s: float, only: bool = False
) -> str:
    """The results block for the docs."""
    mode = (
        "`python bench/run_all.py --quick` (reduced sizes)"
        if quick
        else "`python bench/run_all.py`"
    )
    lines = [
        START,
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by {mode} on {machine()};"
        f" total {total_s / 60:.1f} min, benchmarks run one after the other; load average"
        f" at the end {os.getloadavg()[0]:.1f}.",
        "",
        "| target | measured | met? | measured at |",
        "|---|---|---|---|",
    ]
    for bench, result in done:
        for row in target_rows(bench, result, quick):
            lines.append("| " + " | ".join(row) + " |")
    if not only:
        lines.append(
            f"| `run_all.py` < 15 min (full sizes) | {total_s / 60:.1f} min |"
            f" {'-' if quick else _met(total_s < 900)} | {'--quick' if quick else 'full'} |"
        )
    lines.append("")
    for bench, result in done:
        if result.ran:
            lines += [f"### {bench.title} ({result.seconds:.0f} s)", "", result.stdout, ""]
    lines.append(END)
    return "\n".join(lines)


def write_docs(block: str) -> None:
    """Replace the block between the markers (or append it)."""
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the block, write it into the docs."""
    ap = argparse.ArgumentParser(description="Run every benchmark and update docs/BENCHMARKS.md.")
    ap.add_argument("--quick", action="store_true", help="small sizes, same code paths")
    ap.add_argument("--no-docs", action="store_true", help="print only, leave the docs alone")
    ap.add_argument("--only", help="run only the benchmarks whose title contains this")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    done: list[tuple[Bench, Result]] = []
    for bench in BENCHES:
        if args.only and args.only.lower() not in bench.title.lower():
            continue
        print(f"running {bench.title} ...", file=sys.stderr, flush=True)
        done.append((bench, run_one(bench, args.quick)))
    block = render(done, args.quick, time.perf_counter() - started, bool(args.only))
    print(block)
    if not args.no_docs and not args.only:
        write_docs(block)
    return 0 if all(r.ok or not r.ran for _, r in done) else 1


if __name__ == "__main__":
    raise SystemExit(main())
