"""Benchmark: bytes of the state database per story, per table and index (issue 13: <= 1.5 KB).

    python bench/bench_state_size.py                      # 20,000 items, this tree
    python bench/bench_state_size.py --items 100000
    python bench/bench_state_size.py --baseline 63e1730   # the same workload on another commit too

A state of N items is built through the real ingest path: crawl-shaped stories (GUID, feed URL,
entry digest, as the store pipeline makes them) are put on the ingest queue and one ingest
consumer settles them (dedup, archive files, items, alerts with one watch rule), then the
producer forgets its outcomes as a crawl does. The items are near-duplicate-heavy texts made
from the real corpus items (bench/crawl_site.real_items): each story (a real item, or beyond
those a copy with its CJK characters moved, bench/bench_archive._shift) is followed, a few
hundred items later, by 1.5 variants on average (geometric, as bench/index_workload.py): a
repost with a boilerplate line at another outlet's URL, a paragraph dropped, a paragraph added,
a summary (feed summary only), an OpenCC Traditional copy, or an edition at the story's own URL.
After VACUUM, SQLite's dbstat gives the pages of each table and index. With `--baseline REV`,
the same workload is built on REV's code (git archive into a temporary folder) in the same
run, and both are printed side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

OUTLETS = {
    "rfi": "www.rfi.fr",
    "voa": "www.voachinese.com",
    "dw": "www.dw.com",
    "epochtimes": "www.epochtimes.com",
}
BOILER = "<p>（本文转载自合作媒体，版权归原作者所有。）</p>"


def _workload(n: int, seed: int = 7):  # noqa: ANN202 - runs on old trees too: plain tuples
    """(outlet, url, title, body_html, ts_ms, full_text) for n items in arrival order."""
    import numpy as np
    import opencc

    from bench.bench_archive import _shift
    from bench.crawl_site import real_items

    to_traditional = opencc.OpenCC("s2t").convert
    rng = np.random.default_rng(seed)
    base = real_items()
    names = list(OUTLETS)
    sizes = rng.geometric(0.4, size=n)
    stories = int(np.searchsorted(np.cumsum(sizes), n)) + 1
    arrival: list[tuple[float, int, int]] = []
    for s in range(stories):
        arrival.append((s * 2.5, s, 0))
        for v in range(1, int(sizes[s])):
            arrival.append((s * 2.5 + float(rng.exponential(300.0)), s, v))
    arrival.sort()
    for _, s, v in arrival[:n]:
        real = base[s % len(base)]
        shift = s // len(base)
        title = _shift(real.title, shift * 97) if shift else real.title
        body = _shift(real.body, shift * 97) if shift else real.body
        # The real URL (a moved copy: its path with the round appended), its outlet by host.
        parts = urlsplit(real.url)
        outlet = next((n for n, host in OUTLETS.items() if host == parts.netloc), names[0])
        path = parts.path.rstrip("/") + (f"-v{shift}" if shift else "")
        url = f"https://{parts.netloc}{path}"
        ts = real.ts + shift * 60_000
        if v == 0:
            yield outlet, url, title, body, ts, True
            continue
        paras = [p + "</p>" for p in body.split("</p>") if p.strip()] or [body]
        kind = rng.choice(["repost", "drop", "add", "summary", "script", "edition"])
        other = names[(names.index(outlet) + v) % len(names)]
        there = f"https://{OUTLETS[other]}/repost{path}-{v}"
        full = True
        if kind == "repost":
            body = body + BOILER
        elif kind == "drop" and len(paras) > 2:
            paras.pop(int(rng.integers(len(paras))))
            body = "".join(paras)
        elif kind == "add":
            paras.insert(int(rng.integers(len(paras) + 1)), f"<p>（补充报道，第{s}-{v}号。）</p>")
            body = "".join(paras)
        elif kind == "summary":
            body, full = paras[0], False
        elif kind == "script":
            title, body = to_traditional(title), to_traditional(body)
        else:  # an edition of the story at its own URL
            there, other = url, outlet
            body = body + f"<p>（更新：第{v}版。）</p>"
        yield other, there, title, body, ts + v * 3_600_000, full


CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2])
import spiders.outlets  # registers the outlets' URL rules
from bench.bench_state_size import _workload
from conf.schema import load_config
from ingest.consumer import consume_all
from ingest.ingestor import Story
from ingest.payload import story_to_payload
from store.format import StoredItem
from store.normalize import clean_title, one_line
from store.sqlite import open_storage
from store.unchanged import entry_digest
from store.urls import canonical_url
config = load_config(Path(sys.argv[3]))
n = int(sys.argv[4])
t0 = time.perf_counter()
storage = open_storage(config.state_db)
rows, token, done = [], "bench-state-size", 0
def flush():
    storage.queue.put_many(rows)
    rows.clear()
    consume_all(config)
for outlet, url, title, body, ts, full in _workload(n):
    stored = StoredItem(ts, clean_title(title), url, one_line(body))
    story = Story(outlet=outlet, canonical_url=canonical_url(url), stored=stored,
        first_seen_ms=ts + 60_000, guid=url, feed_url=f"https://{outlet}.example/feed.xml",
        full_text=full, body_html=body, digest=entry_digest(title, body, ts))
    rows.append((token, outlet, "story", story_to_payload(story)))
    if len(rows) >= 2000:
        flush()
flush()
outcomes = storage.queue.outcomes(token)
storage.queue.forget(token)
storage.close()
counts = {k: sum(c[k] for c in outcomes.counts.values()) for k in ("new", "merged", "revision", "seen")}
print(json.dumps({"seconds": time.perf_counter() - t0, "counts": counts}))
"""


def build(code_root: Path, workdir: Path, n: int) -> dict[str, object]:
    """Build a state of n items with the code at `code_root`; measure it after VACUUM."""
    config = workdir / "config.yaml"
    config.write_text(
        "archive_dir: archive\nstate_db: state/feedwatch.sqlite3\noutlets: {}\n"
        "dedup: {enabled: true}\n"
        "alerts:\n  channels: {file: {kind: jsonl, path: alerts.jsonl}}\n"
        "  rules: [{name: watch, any: [朝鲜, 普京, 特朗普], notify: [file]}]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(code_root), str(REPO), str(config), str(n)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"building the state failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    db = workdir / "state" / "feedwatch.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    sizes = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
    stories = conn.execute("SELECT COUNT(DISTINCT path) FROM items").fetchone()[0]
    conn.close()
    result.update(sizes=sizes, total=db.stat().st_size, items=n, stories=stories)
    return result


def export(rev: str, into: Path) -> Path:
    """The tree of commit `rev` as plain files (git archive)."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main(argv: list[str] | None = None) -> int:
    """Build, measure and print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--baseline", metavar="REV", help="also build the state on this commit")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        trees = {}
        if args.baseline:
            trees[f"before ({args.baseline})"] = export(args.baseline, Path(tmp) / "base")
        trees["after"] = REPO
        for label, root in trees.items():
            work = Path(tmp) / f"w{len(runs)}"
            work.mkdir()
            runs[label] = build(root, work, args.items)
            print(f"  {label}: built in {runs[label]['seconds']:.0f} s", file=sys.stderr)
    first = next(iter(runs.values()))
    print(
        f"{args.items:,} items ({first['counts']}), {first['stories']:,} stored stories;"
        f" {time.perf_counter() - started:.0f} s."
        f" Command: `python bench/bench_state_size.py --items {args.items}"
        + (f" --baseline {args.baseline}`" if args.baseline else "`")
    )
    names = sorted(
        {name for r in runs.values() for name in r["sizes"]},
        key=lambda x: -max(r["sizes"].get(x, 0) for r in runs.values()),
    )
    print("\n| table or index, bytes per item | " + " | ".join(runs) + " |")
    print("|---|" + "---|" * len(runs))
    for name in names:
        cells = [f"{r['sizes'].get(name, 0) / r['items']:,.0f}" for r in runs.values()]
        if any(c != "0" for c in cells):
            print(f"| {name} | " + " | ".join(cells) + " |")
    print(
        "| **whole database per item** | "
        + " | ".join(f"**{r['total'] / r['items']:,.0f}**" for r in runs.values())
        + " |"
    )
    print(
        "| whole database per stored story | "
        + " | ".join(f"{r['total'] / max(r['stories'], 1):,.0f}" for r in runs.values())
        + " |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
