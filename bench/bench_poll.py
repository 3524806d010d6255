"""Benchmark: steady-state polling of unchanged feeds from a server that restamps them.

    python bench/bench_poll.py [--items 600] [--polls 2] [--json OUT]

The bench site (bench/crawl_site.py, built from real items: half full-text feeds, half
summary-only feeds with RFI-layout article pages) is served with `--restamp`: the server
ignores validators and gives every feed response a new `<lastBuildDate>`, so each poll gets a
200 with a new body. In one run, side by side:

1. a no-op crawl (one outlet, one empty feed, empty state): process start-up, best of 2;
2. `feedwatch crawl` of the site into a fresh archive (through bench/feedwatch_driver.py);
3. copies of that archive and state, then `--polls` polls with nothing new on each copy:
   - "before": FEEDWATCH_UNCHANGED_CHECK off, the path as it was: the whole feed body is
     hashed, so every feed is parsed and every known entry goes through sanitizing, dedup
     classify and commit;
   - "restamped": with the checks of store/unchanged.py: the feed hash starts at the first
     entry, so a restamped feed is skipped unparsed;
   - "restamped + cache stamp": the server also appends `<!-- served from cache at DATE -->`
     after the entries, so every feed is parsed and each entry stops at the entry digest.

CPU is user+system seconds of each crawl subprocess (RUSAGE_CHILDREN), minus the no-op's.
Per poll: files created or changed in the archive, rows added to each state table (the run
records counted apart), and bytes the state database grew by (after a WAL checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.bench_crawl import CONFIG, _get, _timed  # noqa: E402
from bench.crawl_site import build, served  # noqa: E402

NOOP_CONFIG = """\
archive_dir: archive
state_db: state/feedwatch.sqlite3
http: {{timeout: 60, autothrottle: false}}
outlets:
  benchfull:
    spider: generic
    domains: [127.0.0.1]
    feeds: [{{url: "{base}/feeds/noop.xml", full_text: true}}]
dedup: {{enabled: true}}
"""
EMPTY_FEED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>noop</title>'
    b"<link>http://127.0.0.1/</link><description>no entries</description></channel></rss>\n"
)
STATE = Path("state/feedwatch.sqlite3")


def _files(archive: Path) -> dict[str, tuple[int, int]]:
    """Every archive file with its size and modification time."""
    if not archive.exists():
        return {}
    return {
        str(p.relative_to(archive)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in archive.rglob("*")
        if p.is_file()
    }


def _state(db: Path) -> tuple[dict[str, int], int]:
    """Rows per table and the database size in bytes, after folding the WAL into it."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        rows = {t: int(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]) for t in tables}
    finally:
        conn.close()
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return rows, size


def _poll(cmd: list[str], workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """One crawl of `workdir`'s config: CPU, files written, state rows and bytes added."""
    files_before = _files(workdir / "archive")
    rows_before, size_before = _state(workdir / STATE)
    wall, out, cpu = _timed(cmd, workdir, env)
    files_after = _files(workdir / "archive")
    rows_after, size_after = _state(workdir / STATE)
    added = {t: n - rows_before.get(t, 0) for t, n in rows_after.items()}
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "files_written": sum(1 for k, v in files_after.items() if files_before.get(k) != v),
        "run_rows": added.pop("runs", 0),
        "rows": sum(added.values()),
        "rows_by_table": {t: n for t, n in added.items() if n},
        "bytes": size_after - size_before,
        "summary": out.strip().splitlines()[-1],
        "outlets": [line for line in out.strip().splitlines() if line.startswith("bench")],
    }


def _mean(polls: list[dict[str, Any]], key: str) -> float:
    return sum(p[key] for p in polls) / len(polls)


def run(items: int, per_feed: int, polls: int, workdir: Path) -> dict[str, Any]:
    """Build and serve the restamping site, crawl once, poll; returns the measurements."""
    site = workdir / "site"
    built = build(site, items, per_feed)
    (site / "feeds" / "noop.xml").write_bytes(EMPTY_FEED)
    routes = json.loads((site / "site.json").read_text())
    feeds = sorted(p for p in routes if p.startswith("/feeds/"))
    routes["/feeds/noop.xml"] = ("feeds/noop.xml", "application/rss+xml; charset=utf-8")
    (site / "site.json").write_text(json.dumps(routes))
    env = dict(os.environ)
    env_off = env | {"FEEDWATCH_BENCH_SETTINGS": json.dumps({"FEEDWATCH_UNCHANGED_CHECK": False})}
    with served(site, restamp=True) as base:
        on, off, noop = workdir / "restamped", workdir / "before", workdir / "noop"
        trailer = workdir / "trailer"
        for folder in (on, noop):
            folder.mkdir()
        full = [p for p in feeds if "/full-" in p]
        summary = [p for p in feeds if "/summary-" in p]
        (on / "config.yaml").write_text(
            CONFIG.format(
                workers=0,
                full="\n".join(f'      - {{url: "{base}{p}", full_text: true}}' for p in full),
                summary="\n".join(
                    f'      - {{url: "{base}{p}", full_text: false}}' for p in summary
                ),
            )
        )
        (noop / "config.yaml").write_text(NOOP_CONFIG.format(base=base))

        def crawl_cmd(folder: Path) -> list[str]:
            config = str(folder / "config.yaml")
            return [sys.executable, str(HERE / "feedwatch_driver.py"), "crawl", "--config", config]

        startup = []
        for _ in range(2):
            shutil.rmtree(noop / "state", ignore_errors=True)
            shutil.rmtree(noop / "archive", ignore_errors=True)
            startup.append(_timed(crawl_cmd(noop), noop, env)[2])
        (on / "state").mkdir()
        sqlite3.connect(on / STATE).close()
        first = _poll(crawl_cmd(on), on, env)
        shutil.copytree(on, off)
        shutil.copytree(on, trailer)
        _get(base, "/__reset")
        sides: dict[str, list[dict[str, Any]]] = {"before": [], "restamped": [], "trailer": []}
        for _ in range(polls):  # alternated, so every side sees the same machine load
            sides["before"].append(_poll(crawl_cmd(off), off, env_off))
            sides["restamped"].append(_poll(crawl_cmd(on), on, env))
            _get(base, "/__restamp/trailer")
            sides["trailer"].append(_poll(crawl_cmd(trailer), trailer, env))
            _get(base, "/__restamp/channel")
        requests = _get(base, "/__stats")["requests"]
    start = min(startup)
    first_cpu = first["cpu_s"] - start
    result: dict[str, Any] = {
        "site": built,
        "polls": polls,
        "startup_cpu_s": round(start, 2),
        "first": first | {"cpu_beyond_startup_s": round(first_cpu, 2)},
        "requests_per_poll": {k: v / (3 * polls) for k, v in requests.items()},
    }
    for name, runs in sides.items():
        cpu = _mean(runs, "cpu_s") - start
        result[name] = {
            "cpu_beyond_startup_s": round(cpu, 2),
            "ratio": round(cpu / first_cpu, 3),
            "files_written": _mean(runs, "files_written"),
            "rows": _mean(runs, "rows"),
            "run_rows": _mean(runs, "run_rows"),
            "bytes": _mean(runs, "bytes"),
            "polls": runs,
        }
    return result


def table(r: dict[str, Any], command: str) -> str:
    """Markdown table of one run."""
    s = r["site"]
    sides = [r["before"], r["restamped"], r["trailer"]]

    def row(label: str, key: str, fmt: str = "{:g}") -> str:
        return f"| {label} | " + " | ".join(fmt.format(x[key]) for x in sides)

    def met(ok: bool) -> str:
        return "met" if ok else "missed"

    on = r["restamped"]
    return "\n".join(
        [
            f"Site: {s['items']:,} items in {s['feeds']} feeds (half full text, half summary-only),"
            f" {s['articles']:,} article pages; the server ignores validators and restamps"
            f" `<lastBuildDate>` on every feed response. {r['polls']} polls per column.",
            f"Command: `{command}`",
            "",
            f"Process start-up (a no-op crawl): {r['startup_cpu_s']} CPU s. First crawl:"
            f" {r['first']['cpu_beyond_startup_s']} CPU s beyond start-up.",
            "",
            "| per poll with nothing new | before (whole-body hash, no entry check) |"
            " restamped `<lastBuildDate>` | restamped + cache stamp after the entries | target |",
            "|---|---|---|---|---|",
            row("CPU s beyond start-up", "cpu_beyond_startup_s") + " | |",
            row("**poll / first crawl**", "ratio", "**{:.3f}**")
            + f" | <= 0.10 ({met(on['ratio'] <= 0.10)}) |",
            row("files written", "files_written") + f" | 0 ({met(on['files_written'] == 0)}) |",
            row("state rows added (besides run records)", "rows")
            + f" | 0 ({met(on['rows'] == 0 and r['trailer']['rows'] == 0)}) |",
            row("run records added", "run_rows") + " | |",
            row("state database bytes added", "bytes", "{:,.0f}") + " | |",
            "",
            "Summary of the last poll of each column:",
            "",
            *[
                f"- {name}: `{'; '.join(x['polls'][-1]['outlets'])}`"
                for name, x in zip(
                    ("before", "restamped", "restamped + cache stamp"), sides, strict=True
                )
            ],
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Run and print a markdown table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=600)
    ap.add_argument("--per-feed", type=int, default=50)
    ap.add_argument("--polls", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fw-bench-poll-") as tmp:
        result = run(args.items, args.per_feed, args.polls, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    cmd = "python bench/bench_poll.py"
    cmd += f" --items {args.items}" if args.items != 600 else ""
    cmd += f" --polls {args.polls}" if args.polls != 2 else ""
    print(table(result, cmd))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
