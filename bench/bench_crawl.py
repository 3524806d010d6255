"""Benchmark: crawl throughput against bare Scrapy, and the cost of a second (unchanged) crawl.

    python bench/bench_crawl.py [--items 2000] [--per-feed 50] [--json OUT]

A local site (bench/crawl_site.py: feeds and RFI-layout article pages built from real items)
is served from a subprocess on 127.0.0.1. In one run, side by side:

1. bare Scrapy (bench/bare_crawl.py) fetches every feed and article URL and does nothing;
2. `feedwatch crawl` (through bench/feedwatch_driver.py: conditional GET on) crawls the site
   into a fresh archive: fetch, feed parse, article extraction, dedup, archive + state;
3. bare Scrapy again (the ceiling is the faster of its two runs);
4. `feedwatch crawl` again over the unchanged site: requests and bytes against the first;
5. with `--baseline DIR`, the first crawl again by another checkout (the code before a change).

Throughput is feed items per second of wall time of each subprocess (start-up included on both
sides); the crawl's wall time includes waiting for its ingest consumer to settle every story,
and its CPU includes that consumer process. AutoThrottle is off on both sides; concurrency is the config's (8 requests, 4 per host).
`--workers N` sets the crawl's `http.extract_workers` (default 0, as in config.yaml).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.crawl_site import build, served  # noqa: E402

CONFIG = """\
archive_dir: archive
state_db: state/feedwatch.sqlite3
http: {{timeout: 60, concurrent_requests: 8, autothrottle: false, extract_workers: {workers}}}
outlets:
  benchfull:
    spider: generic
    domains: [127.0.0.1]
    feeds:
{full}
  benchrfi:
    spider: rfi
    domains: [127.0.0.1]
    feeds:
{summary}
dedup: {{enabled: true}}
"""


def _get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=30) as resp:  # noqa: S310 - 127.0.0.1 only
        return json.loads(resp.read()) if path == "/__stats" else resp.read()


def _timed(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, str, float]:
    """Run `cmd`; wall seconds, stdout, and CPU seconds of it and its worker processes."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=1800, env=env or dict(os.environ)
    )
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[1]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, proc.stdout, cpu


def run(
    items: int, per_feed: int, workdir: Path, workers: int = 0, baseline: Path | None = None
) -> dict[str, Any]:
    """Build, serve and crawl; returns the measurements."""
    site = workdir / "site"
    built = build(site, items, per_feed)
    with served(site) as base:
        routes = json.loads((site / "site.json").read_text())
        feeds = sorted(p for p in routes if p.startswith("/feeds/"))
        articles = sorted(p for p in routes if not p.startswith("/feeds/"))
        full = [p for p in feeds if "/full-" in p]
        summary = [p for p in feeds if "/summary-" in p]
        (workdir / "config.yaml").write_text(
            CONFIG.format(
                workers=workers,
                full="\n".join(f'      - {{url: "{base}{p}", full_text: true}}' for p in full),
                summary="\n".join(
                    f'      - {{url: "{base}{p}", full_text: false}}' for p in summary
                ),
            )
        )
        (workdir / "urls.json").write_text(
            json.dumps(
                {
                    "benchfull": [base + p for p in full],
                    "benchrfi": [base + p for p in summary + articles],
                }
            )
        )
        bare_cmd = [sys.executable, str(HERE / "bare_crawl.py"), str(workdir / "urls.json")]
        fw_cmd = [
            sys.executable,
            str(HERE / "feedwatch_driver.py"),
            "crawl",
            "--config",
            str(workdir / "config.yaml"),
        ]
        _get(base, "/__reset")
        bare1, out, bare1_cpu = _timed(bare_cmd, workdir)
        bare_counts = json.loads(out.strip().splitlines()[-1])
        bare_stats = _get(base, "/__stats")
        _get(base, "/__reset")
        first_s, first_out, first_cpu = _timed(fw_cmd, workdir)
        first = _get(base, "/__stats")
        _get(base, "/__reset")
        bare2, _, bare2_cpu = _timed(bare_cmd, workdir)
        _get(base, "/__reset")
        second_s, second_out, _ = _timed(fw_cmd, workdir)
        second = _get(base, "/__stats")
        if baseline is not None:
            # The same first crawl by another checkout (e.g. main before a change), into its
            # own fresh archive and state, with its own code only on the path.
            other = workdir / "baseline"
            other.mkdir()
            (other / "config.yaml").write_text((workdir / "config.yaml").read_text())
            base_cmd = [sys.executable, str(baseline / "bench" / "feedwatch_driver.py")]
            base_cmd += ["crawl", "--config", str(other / "config.yaml")]
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            env["PYTHONPATH"] = str(baseline)
            _get(base, "/__reset")
            base_s, base_out, base_cpu = _timed(base_cmd, other, env)
    bare_s = min(bare1, bare2)
    first_bytes = sum(first["bytes"].values())
    second_bytes = sum(second["bytes"].values())
    result: dict[str, Any] = {}
    if baseline is not None:
        result = {
            "baseline": str(baseline),
            "baseline_s": round(base_s, 2),
            "baseline_cpu_s": round(base_cpu, 2),
            "baseline_ratio": round(bare_s / base_s, 3),
            "baseline_summary": base_out.strip().splitlines()[-1],
        }
    return result | {
        "site": built,
        "bare_s": [round(bare1, 2), round(bare2, 2)],
        "bare_responses": bare_counts["responses"],
        "bare_requests": sum(bare_stats["requests"].values()),
        "feedwatch_s": round(first_s, 2),
        "bare_cpu_s": round(bare1_cpu if bare1 <= bare2 else bare2_cpu, 2),
        "feedwatch_cpu_s": round(first_cpu, 2),
        "feedwatch_summary": first_out.strip().splitlines()[-1],
        "bare_items_per_s": round(items / bare_s, 1),
        "feedwatch_items_per_s": round(items / first_s, 1),
        "ratio": round(bare_s / first_s, 3),
        "first": first,
        "second": second,
        "second_s": round(second_s, 2),
        "second_summary": second_out.strip().splitlines()[-1],
        "incremental_bytes_pct": round(100 * second_bytes / max(first_bytes, 1), 3),
        "incremental_requests_pct": round(
            100 * sum(second["requests"].values()) / max(sum(first["requests"].values()), 1), 2
        ),
        "second_article_requests": second["requests"].get("article", 0),
    }


def table(r: dict[str, Any], command: str) -> str:
    """Markdown table of one run."""
    s = r["site"]
    fb, sb = sum(r["first"]["bytes"].values()), sum(r["second"]["bytes"].values())
    fr, sr = sum(r["first"]["requests"].values()), sum(r["second"]["requests"].values())
    ratio_ok = "met" if r["ratio"] >= 0.5 else "missed"
    inc_ok = (
        "met" if r["incremental_bytes_pct"] < 2 and r["second_article_requests"] == 0 else "missed"
    )
    return "\n".join(
        [
            f"Site: {s['items']:,} items in {s['feeds']} feeds (half full text, half summary-only),"
            f" {s['articles']:,} RFI-layout article pages, {s['bytes'] / 1e6:.0f} MB.",
            f"Command: `{command}`",
            "",
            "| measure | value | target |",
            "|---|---|---|",
            f"| bare Scrapy (fetch only), best of 2 | {r['bare_items_per_s']:,} items/s"
            f" ({min(r['bare_s'])} s; runs {r['bare_s'][0]} / {r['bare_s'][1]} s) | |",
            f"| `feedwatch crawl` end to end (fetch, parse, extract, dedup, store) |"
            f" {r['feedwatch_items_per_s']:,} items/s ({r['feedwatch_s']} s) | |",
            f"| CPU seconds (the crawl process and its workers): bare / feedwatch |"
            f" {r['bare_cpu_s']} / {r['feedwatch_cpu_s']} s | |",
            f"| **ratio feedwatch / bare** | **{r['ratio']:.2f}** | >= 0.5 ({ratio_ok}) |",
            f"| first crawl: requests / bytes | {fr:,} / {fb / 1e6:.1f} MB | |",
            f"| second crawl (unchanged site): requests / bytes | {sr:,} / {sb / 1e3:.1f} kB"
            f" ({r['second_s']} s) | |",
            f"| **second / first bytes** | **{r['incremental_bytes_pct']:.3f} %** | < 2 % ({inc_ok}) |",
            f"| second crawl article requests | {r['second_article_requests']} | 0 ({inc_ok}) |",
            *(
                [
                    f"| baseline checkout, same first crawl: time / CPU | {r['baseline_s']} s"
                    f" / {r['baseline_cpu_s']} s | |",
                    f"| **ratio baseline / bare** | **{r['baseline_ratio']:.2f}** | (before) |",
                ]
                if "baseline_s" in r
                else []
            ),
            "",
            f"First crawl: `{r['feedwatch_summary']}`; second: `{r['second_summary']}`.",
            *([f"Baseline first crawl: `{r['baseline_summary']}`."] if "baseline_s" in r else []),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Run and print a markdown table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--per-feed", type=int, default=50)
    ap.add_argument("--json", type=Path, help="also write the raw numbers here")
    ap.add_argument("--workers", type=int, default=0, help="http.extract_workers of the crawl")
    ap.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. `git worktree add /tmp/base main`) crawled side by side",
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fw-bench-crawl-") as tmp:
        result = run(args.items, args.per_feed, Path(tmp), args.workers, args.baseline)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    cmd = "python bench/bench_crawl.py" + (f" --items {args.items}" if args.items != 2000 else "")
    cmd += f" --workers {args.workers}" if args.workers else ""
    print(table(result, cmd))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
