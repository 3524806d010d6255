"""Benchmark: the web app at 100,000 stories: story list, story page and search, p95.

    python bench/bench_web.py [--stories N] [--requests R]

Generates a state database and the web index directly (no crawl, no dedup: rows written with
executemany, texts cut from the real items in tests/fixtures/alerts), then times, over R
requests each, whole requests through the Flask app (query + template) and the query alone,
side by side with a plain SQL scan of the same question:

  story list   first page, a page deep in the list (keyset cursor), one outlet's first page
               plain scan: the newest first items per story straight from `items` (sort of every row)
  story page   /story/<id> with its archive file, items, dedup records and rule matches
               plain scan: the page's items lookup with the `items_story` index not used
  search       1-, 2-, 4- and 5-character terms, newest first and by relevance
               plain scan: LIKE '%term%' over every stored text

The default (20,000 stories, 100 requests) runs in about 30 s; the figures in
docs/BENCHMARKS.md are from `--stories 100000 --requests 200`.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conf.schema import load_config  # noqa: E402
from dedup.text import html_to_text  # noqa: E402
from store.format import StoredItem, render_item  # noqa: E402
from store.imports import read_item_file  # noqa: E402
from store.state import open_state  # noqa: E402
from web.app import create_app  # noqa: E402
from web.index import WebIndex, index_path_for  # noqa: E402
from web.queries import StateReader  # noqa: E402
from web.searchtext import index_text  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "alerts"
OUTLETS = ["rfi", "dw", "voa", "epochtimes", "feedx"]
TERMS = {
    "1 char 国": "国",
    "2 chars 朝鲜": "朝鲜",
    "4 chars 国际刑事": "国际刑事",
    "5 chars 霍夫曼斯基": "霍夫曼斯基",
}
TEXT_CHARS = 400


def _corpus() -> str:
    texts = [html_to_text(read_item_file(p).body) for p in sorted(FIXTURES.glob("*_*.md"))]
    return "".join(re.findall("[\u4e00-\u9fff]", "".join(texts)))  # ideographs only


def generate(root: Path, n: int, seed: int = 7) -> tuple[Path, list[int]]:
    """Write config, state DB and web index for n stories; return the config and sampled ids."""
    rng = random.Random(seed)
    corpus = _corpus()
    # The corpus folded and spaced once (index_text is per character for CJK text): a story's
    # indexed text is then a slice of tokens, which keeps generating 100,000 stories fast.
    tokens = index_text(corpus).split()
    assert len(tokens) == len(corpus), "one token per character"
    (root / "config.yaml").write_text(
        "archive_dir: archive\nstate_db: state/feedwatch.sqlite3\noutlets:\n"
        + "".join(
            f"  {o}: {{spider: generic, feeds: [{{url: 'https://{o}.example/feed'}}]}}\n"
            for o in OUTLETS
        )
        + "alerts:\n  rules: [{name: korea, any: [朝鲜]}]\n",
        encoding="utf-8",
    )
    config = load_config(root / "config.yaml")
    state = open_state(config.state_db)
    from store.compact import hash64
    from store.sqlite import SQLiteState

    SQLiteState.on(state)  # the dedup and alert tables
    base_ts = 1_600_000_000_000
    items: list[tuple[Any, ...]] = []
    dedup: list[tuple[Any, ...]] = []
    matches: list[tuple[Any, ...]] = []
    stories: list[tuple[Any, ...]] = []
    story_outlets: list[tuple[Any, ...]] = []
    story_rules: list[tuple[Any, ...]] = []
    docs: list[tuple[Any, ...]] = []
    item_id = 0
    sample = set(rng.sample(range(1, n + 1), min(n, 300)))
    texts: dict[int, tuple[str, str, str]] = {}
    for sid in range(1, n + 1):
        start = rng.randrange(0, len(corpus) - TEXT_CHARS)
        text = corpus[start : start + TEXT_CHARS]
        title = text[:24]
        ts = base_ts + sid * 60_000 + rng.randrange(-3_600_000, 3_600_000)
        outlet = rng.choice(OUTLETS)
        url = f"https://{outlet}.example/a/{sid}"
        path = str(config.archive_dir / f"{sid}.txt")
        item_id += 1
        items.append((item_id, url, outlet, url, title, ts, ts + 1000, sid, path))
        outlets, hosts, reposts = [outlet], [f"{outlet}.example"], 0
        dedup.append(
            (hash64(url), url, url, sid, "new", outlet, ts + 1000, 0, 0, len(text), 1, None, "{}")
        )
        if rng.random() < 0.1:  # a repost from another outlet
            other = rng.choice([o for o in OUTLETS if o != outlet])
            rurl = f"https://{other}.example/r/{sid}"
            item_id += 1
            items.append((item_id, rurl, other, rurl, title, ts, ts + 5000, sid, path))
            dedup.append(
                (
                    hash64(rurl),
                    rurl,
                    rurl,
                    sid,
                    "repost",
                    other,
                    ts + 5000,
                    0,
                    0,
                    len(text),
                    1,
                    url,
                    '{"containment":0.9}',
                )
            )
            outlets.append(other)
            hosts.append(f"{other}.example")
            reposts = 1
            story_outlets.append((other, ts, sid))
        if "朝鲜" in text:
            matches.append(("korea", sid, outlet, title, url, ts, path, '["any: 朝鲜"]', ts + 2000))
            story_rules.append(("korea", ts, sid))
        story_outlets.append((outlet, ts, sid))
        day = time.strftime("%Y-%m-%d", time.gmtime(ts / 1000))
        stories.append(
            (ts * 1024 + sid % 1024, sid, item_id - reposts, outlet, ts, day, ts + 1000, ts + 1000 + 4000 * reposts, title,
             url, url, path, reposts, " ".join(outlets), " ".join(hosts), None, text[:160])
        )  # fmt: skip
        docs.append(
            (
                ts * 1024 + sid % 1024,
                " ".join(tokens[start : start + 24]),
                " ".join(tokens[start : start + TEXT_CHARS]),
            )
        )
        if sid in sample:
            texts[sid] = (title, url, text)
    with state:
        state.executemany(
            "INSERT INTO items (id, canonical_url, outlet, url, title, ts, first_seen_ms, story_id, path)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            items,
        )
        state.executemany(
            "INSERT INTO dedup_items (url_hash, key, canonical_url, story_id, kind, outlet,"
            " seen_ms, title_hash, text_hash, text_len, full_text, matched_key, scores)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            dedup,
        )
        state.executemany(
            "INSERT INTO alerts_matches (rule, story_id, outlet, title, url, ts_ms, path, reasons,"
            " matched_ms) VALUES (?,?,?,?,?,?,?,?,?)",
            matches,
        )
    state.close()
    index = WebIndex(index_path_for(config.state_db))
    with index.conn:
        index.conn.execute("BEGIN")
        index.conn.executemany(
            "INSERT INTO stories (doc, id, item_id, outlet, ts, day, first_seen_ms, updated_ms, title, url,"
            " canonical_url, path, reposts, outlets, hosts, file_mtime_ns, summary)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            stories,
        )
        index.conn.executemany("INSERT OR IGNORE INTO story_outlets VALUES (?,?,?)", story_outlets)
        index.conn.executemany("INSERT OR IGNORE INTO story_rules VALUES (?,?,?)", story_rules)
        index.conn.executemany("INSERT INTO docs (rowid, title, body) VALUES (?,?,?)", docs)
        reader = StateReader.open(config.state_db)
        meta = {
            "state": repr(reader.first_item()),
            "schema": "2",
            "items": str(item_id),
            "dedup": str(reader.conn.execute("SELECT MAX(id) FROM dedup_items").fetchone()[0]),
            "matches": str(len(matches)),
        }
        reader.close()
        index.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)", meta.items())
        index.conn.execute("COMMIT")
    index.conn.execute("PRAGMA optimize")
    index.close()
    config.archive_dir.mkdir(parents=True, exist_ok=True)
    for sid, (title, url, text) in texts.items():  # only the stories the page benchmark opens
        body = "".join(f"<p>{text[i : i + 80]}</p>" for i in range(0, len(text), 80))
        (config.archive_dir / f"{sid}.txt").write_bytes(
            render_item(StoredItem(base_ts, title, url, body))
        )
    return root / "config.yaml", sorted(texts)


def p95(fn: Callable[[], object], runs: int) -> float:
    """95th percentile wall time of fn() in milliseconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.quantiles(times, n=20)[-1] if len(times) >= 20 else max(times)


def main(argv: list[str] | None = None) -> int:
    """Generate, measure, print a markdown table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--stories", type=int, default=20_000)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        config_path, sample = generate(Path(tmp), args.stories)
        build_s = time.perf_counter() - t0
        config = load_config(config_path)
        client = create_app(config).test_client()
        index = WebIndex(index_path_for(config.state_db))
        reader = StateReader.open(config.state_db)
        state_ro = reader.conn
        rng = random.Random(1)
        mid = index.stories(limit=1, before=(1_600_000_000_000 + args.stories * 30_000, 0))[0]
        cursor = f"{mid.ts}.{mid.id}"

        def get(url: str) -> Callable[[], object]:
            def run() -> object:
                response = client.get(url)
                assert response.status_code == 200, url
                return response

            return run

        rows: list[tuple[str, float, float, float]] = []
        r = args.requests
        rows.append(("story list, first page", p95(get("/"), r), p95(lambda: index.stories(limit=51), r),
                     p95(lambda: reader.scan_stories(limit=51), max(5, r // 10))))  # fmt: skip
        rows.append(("story list, page in the middle", p95(get(f"/?before={cursor}"), r),
                     p95(lambda: index.stories(limit=51, before=(mid.ts, mid.id)), r),
                     p95(lambda: state_ro.execute(
                         "SELECT COALESCE(story_id, id) AS sid, ts FROM items i WHERE NOT EXISTS"
                         " (SELECT 1 FROM items j WHERE j.story_id = i.story_id AND j.id < i.id)"
                         " AND (ts, sid) < (?, ?) ORDER BY ts DESC, sid DESC LIMIT 51",
                         (mid.ts, mid.id)).fetchall(), max(5, r // 10))))  # fmt: skip
        rows.append(("story list, one outlet", p95(get("/?outlet=dw"), r),
                     p95(lambda: index.stories(outlet="dw", limit=51), r),
                     p95(lambda: reader.scan_stories(outlet="dw", limit=51), max(5, r // 10))))  # fmt: skip

        def page() -> object:
            return client.get(f"/story/{rng.choice(sample)}")

        def page_scan() -> object:
            sid = rng.choice(sample)
            return state_ro.execute(
                "SELECT id FROM items NOT INDEXED WHERE story_id = ?", (sid,)
            ).fetchall()

        rows.append(("story page", p95(page, r),
                     p95(lambda: reader.story_items(rng.choice(sample)), r), p95(page_scan, max(5, r // 10))))  # fmt: skip
        for label, term in TERMS.items():
            for order in ("time", "relevance"):
                rows.append((f"search {label}, {order}", p95(get(f"/search?q={term}&order={order}"), r),
                             p95(lambda t=term, o=order: index.search(t, order=o, limit=51), r),  # type: ignore[misc]
                             p95(lambda t=term: index.scan_search(t, limit=51), max(5, r // 10)) if order == "time" else float("nan")))  # fmt: skip
        counts = {label: len(index.search(term, limit=10**9)) for label, term in TERMS.items()}
        reader.close()
        index.close()
    print(
        f"{args.stories:,} stories (generated and indexed in {build_s:.0f} s); p95 over {args.requests} requests (scan: {max(5, args.requests // 10)})\n"
    )
    print("| what | app request p95 (ms) | index query p95 (ms) | plain SQL scan p95 (ms) |")
    print("|---|---:|---:|---:|")
    for what, app_ms, query_ms, scan_ms in rows:
        scan = "–" if scan_ms != scan_ms else f"{scan_ms:.1f}"
        print(f"| {what} | {app_ms:.1f} | {query_ms:.2f} | {scan} |")
    print("\nmatching stories per term: " + ", ".join(f"{k}: {v:,}" for k, v in counts.items()))
    if args.json:
        print(
            json.dumps(
                {"stories": args.stories, "rows": rows, "matches": counts}, ensure_ascii=False
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
