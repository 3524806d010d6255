"""Run every benchmark in one go and rewrite the results block of docs/BENCHMARKS.md.

    python bench/run_all.py            # full sizes (~10 min on 2 cores, 8 of them the 100k import)
    python bench/run_all.py --quick    # small sizes (~4 min), same code paths
    python bench/run_all.py --no-docs  # print only

Each benchmark runs in its own subprocess, one after the other (never two at once: they would
share the cores); its markdown table is copied between the `<!-- run-all:start -->` and
`<!-- run-all:end -->` markers of docs/BENCHMARKS.md together with the date, the machine
(nproc, CPU model) and each exact command. Exit status 1 if a benchmark failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.dedup_eval import machine  # noqa: E402

DOCS = REPO / "docs" / "BENCHMARKS.md"
START, END = "<!-- run-all:start -->", "<!-- run-all:end -->"

# (title, script and arguments for a full run, arguments for --quick)
BENCHES: list[tuple[str, list[str], list[str]]] = [
    ("1. Crawl throughput and 2. incremental cost", ["bench_crawl.py"], ["--items", "600"]),
    ("3. Fingerprinting", ["bench_fingerprint.py"], []),
    # The last --items wins: the full run has 10**6 items (300,000 timed operations per workload).
    ("4. Index at scale", ["bench_index.py", "--items", "1000000"], ["--items", "100000"]),
    (
        "5. Archive scale",
        ["bench_archive.py"],
        ["--sizes", "1000,3000,10000"],
    ),
    ("6. Steady-state polling", ["bench_poll.py"], ["--polls", "1"]),
    ("7. State size", ["bench_state_size.py"], ["--items", "2000"]),
]


def run_one(script: list[str], extra: list[str]) -> tuple[str, float, bool]:
    """Run one benchmark; returns its stdout (a markdown block), seconds and success."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE / script[0]), *script[1:], *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        return f"**failed** (exit {proc.returncode}):\n\n```\n{tail}\n```", elapsed, False
    return proc.stdout.strip(), elapsed, True


def render(sections: list[tuple[str, str, float]], quick: bool, total_s: float) -> str:
    """The results block for the docs."""
    mode = (
        "`python bench/run_all.py --quick` (reduced sizes)"
        if quick
        else "`python bench/run_all.py`"
    )
    lines = [
        START,
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()} by {mode};"
        f" total {total_s / 60:.1f} min, benchmarks run one after the other.",
        "",
    ]
    for title, body, seconds in sections:
        lines += [f"### {title} ({seconds:.0f} s)", "", body, ""]
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
    sections = []
    ok = True
    for title, script, quick_args in BENCHES:
        if args.only and args.only.lower() not in title.lower():
            continue
        print(f"running {title} ...", file=sys.stderr, flush=True)
        body, seconds, success = run_one(script, quick_args if args.quick else [])
        ok = ok and success
        sections.append((title, body, seconds))
    block = render(sections, args.quick, time.perf_counter() - started)
    print(block)
    if not args.no_docs and not args.only:
        write_docs(block)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
