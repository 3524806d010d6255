"""Benchmark: a crawl of one outlet against a state of N stories (issue 13, "Scale").

    python bench/bench_scale.py --cache DIR [--stories 1000000] [--compare 0,2000]

Target: with 1,000,000 stories, a crawl of one outlet costs < 1 s of CPU and < 250 MB beyond
process start-up (the dedup index is not reloaded per crawl: the daemon's consumer holds it).

Build (cached in `--cache DIR/n<N>`, reused by later runs): N stories through the public APIs
of store/ and dedup/ -- `Archive.write_new` (the item file), `ItemState.record` and
`set_digest` (the items row), `DedupEngine.commit` (dedup row, sketch, index rows) -- in
transactions of 5,000 stories. Bodies and titles are the real corpus items (the test fixtures
without the corpus); story i has the dedup features of its real item with every shingle XORed
by a salt of i, so each story has its own fingerprint and anchors with the real length
distribution; one story in five is recorded as a repost of a recent one (its shingles, a tenth
dropped). The builder makes fsync a no-op and syncs once at the end: a cache is rebuilt, not
recovered. The last 40 stories belong to the measured outlet and are its feeds' entries (real
features, so the first crawl finds them known).

Measure, for each size (`--compare` sizes, then N), side by side in one run:

- `feedwatch run` is started on a copy of the state (its consumer loads the index once) and
  the outlet is crawled once (its feed validators stored);
- (a) `feedwatch crawl OUTLET` while every feed answers 304, three times: the crawl hands its
  (zero) stories to the daemon; CPU (user+system) and peak RSS of the crawl process (wait4),
  the daemon's CPU and RSS growth during it (/proc);
- (b) the same crawl when the feeds carry 4 new stories (the daemon classifies them against
  the whole index and writes their files);
- (c) without a daemon, the one-off crawl of (a) and the consumer process it starts beside it.

Start-up is `feedwatch --version` and the 304 crawl on the empty state (N = 0); "beyond
start-up" is the crawl at N minus the crawl at N = 0. The files of (b)'s new stories are
removed from the cached archive afterwards; each run starts from a fresh copy of the state.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from email.utils import formatdate
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # tests/servers: the validating feed server

from servers.feedserver import FeedServer  # noqa: E402

import spiders.outlets  # noqa: E402, F401  (registers the outlets' URL rules and boilerplate)
from bench.crawl_site import real_items  # noqa: E402
from conf.dedup import DedupConfig  # noqa: E402
from dedup.arrays import sorted_unique  # noqa: E402
from dedup.compare import Features, features_of_body  # noqa: E402
from dedup.engine import Decision, DedupEngine, Document  # noqa: E402
from dedup.index import anchors_of  # noqa: E402
from dedup.simhash import fingerprint_hashes  # noqa: E402
from store.archive import Archive  # noqa: E402
from store.document import Body  # noqa: E402
from store.format import StoredItem  # noqa: E402
from store.sqlite import open_storage  # noqa: E402
from store.state import SeenItem  # noqa: E402
from store.unchanged import entry_digest  # noqa: E402
from store.urls import canonical_url  # noqa: E402

OUTLET = "scale"
FEEDS = 4
FEED_ENTRIES = 40  # the last stories built: the outlet's feed entries (10 per feed)
NEW_PER_FEED = 1
BATCH = 5000
T0_MS = 1_600_000_000_000  # stories are spread over ~3 years from here
SPREAD_MS = 3 * 365 * 86_400_000
STATE = Path("state/feedwatch.sqlite3")

CONFIG = """\
archive_dir: {archive}
state_db: {state}
http: {{timeout: 30, autothrottle: false}}
outlets:
  {outlet}:
    spider: generic
    domains: [127.0.0.1]
    schedule: {{cron: "0 0 1 1 *"}}
    feeds:
{feeds}
dedup: {{enabled: true}}
"""


# -- build ---------------------------------------------------------------------------------


@dataclass
class Base:
    """A real item and its dedup features."""

    item: StoredItem
    feats: Features


def _salted(feats: Features, salt: np.uint64, cfg: DedupConfig) -> Features:
    """The features of another story of the same length: every shingle XORed by `salt`."""
    shingles = sorted_unique(feats.shingles ^ salt)
    return replace(
        feats,
        fingerprint=fingerprint_hashes(shingles),
        shingles=shingles,
        anchors=anchors_of(shingles, cfg.anchor_rate),
        text_hash=f"{int(salt):016x}{feats.text_hash[16:]}",
    )


def _trimmed(feats: Features, rng: np.random.Generator, cfg: DedupConfig) -> Features:
    """A repost's features: a tenth of the shingles dropped."""
    keep = feats.shingles[rng.random(feats.shingles.size) >= 0.1]
    return replace(
        feats,
        fingerprint=fingerprint_hashes(keep),
        shingles=keep,
        anchors=anchors_of(keep, cfg.anchor_rate),
        text_hash=feats.text_hash[::-1],
    )


def story_url(i: int) -> str:
    return f"https://news.example.com/{OUTLET if i < 0 else 'a'}/{abs(i)}.html"


def build(out: Path, n: int) -> dict[str, Any]:
    """Build a state and archive of `n` stories in `out` (see the module docstring)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cfg = DedupConfig()
    bases = [Base(it, features_of_body(Body(it.body), it.title, cfg)) for it in real_items()]
    rng = np.random.default_rng(13)
    real_fsync = os.fsync
    os.fsync = lambda fd: None  # a cache is rebuilt, not recovered: one os.sync() at the end
    started = time.perf_counter()
    storage = open_storage(out / STATE)
    try:
        engine = DedupEngine(storage.connection, cfg)
        archive = Archive(out / "archive")
        recent: list[tuple[int, Features]] = []  # (story id, features) of the last new stories
        feed: list[dict[str, Any]] = []
        for start in range(0, n, BATCH):
            with storage.transaction():
                archive.begin_batch()
                for i in range(start, min(n, start + BATCH)):
                    in_feed = i >= n - FEED_ENTRIES
                    base = bases[i % len(bases)]
                    ts = T0_MS + int(SPREAD_MS * i / max(n, 1))
                    url = story_url(-i if in_feed else i)
                    title = base.item.title if in_feed else f"{base.item.title} ({i})"
                    if in_feed:  # as the crawl will see them: real features
                        feats = features_of_body(Body(base.item.body), title, cfg)
                        decision = Decision("new", None, None, features=feats)
                    elif recent and rng.random() < 0.2:
                        story_id, of = recent[int(rng.integers(len(recent)))]
                        feats = _trimmed(of, rng, cfg)
                        decision = Decision("repost", story_id, None, features=feats)
                    else:
                        feats = _salted(base.feats, np.uint64(rng.integers(1, 2**63)), cfg)
                        decision = Decision("new", None, None, features=feats)
                    canonical = canonical_url(url)
                    doc = Document(url, canonical, title, "", "other", ts, True)
                    story_id = engine.commit(doc, decision)
                    if decision.kind == "new":
                        recent.append((story_id, feats))
                        del recent[:-200]
                    stored = StoredItem(ts, title, url, base.item.body)
                    path = archive.write_new(stored, canonical) if decision.kind == "new" else None
                    seen = SeenItem(
                        canonical,
                        OUTLET if in_feed else "other",
                        url,
                        title,
                        ts,
                        ts,
                        story_id,
                        str(path) if path else None,
                    )
                    storage.items.record(seen, url)
                    storage.items.set_digest(canonical, entry_digest(title, base.item.body, ts))
                    if in_feed:
                        feed.append({"title": title, "url": url, "ts": ts, "body": base.item.body})
                archive.sync_batch()
            if start and start % 100_000 == 0:
                rate = (time.perf_counter() - started) / start * 1000
                print(f"built {start:,} stories ({rate:.2f} ms each)", file=sys.stderr, flush=True)
        storage.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        storage.close()
        os.fsync = real_fsync
    os.sync()
    # The new stories of (b): real items the state has no story of (salted or not in the feed).
    fresh = [
        {"title": f"{b.item.title} [new]", "url": story_url(-(10**9 + k)), "body": b.item.body}
        for k, b in enumerate(bases[len(bases) // 2 :][: FEEDS * NEW_PER_FEED])
    ]
    meta = {
        "stories": n,
        "seconds": round(time.perf_counter() - started, 1),
        "state_bytes": (out / STATE).stat().st_size,
        "feed": feed,
        "fresh": fresh,
    }
    (out / "built.json").write_text(json.dumps(meta))
    return meta


def cached(cache: Path, n: int) -> tuple[Path, dict[str, Any]]:
    """The cached build of `n` stories, built first if missing or incomplete."""
    out = cache / f"n{n}"
    marker = out / "built.json"
    layout = _layout()
    if marker.exists():
        meta = json.loads(marker.read_text())
        if meta.get("stories") == n and meta.get("layout") == layout:
            return out, meta
        shutil.rmtree(out)  # built by code with other tables: its sizes would not be ours
    print(f"building {n:,} stories in {out} ...", file=sys.stderr, flush=True)
    meta = build(out, n)
    meta["layout"] = layout
    marker.write_text(json.dumps(meta))
    return out, meta


def _layout() -> str:
    """A digest of the state's table definitions: a cached state of other tables is rebuilt."""
    from store import alert_tables, dedup_tables, queue, state

    schemas = (state._SCHEMA, queue._SCHEMA, dedup_tables.DEDUP_SCHEMA, alert_tables.ALERTS_SCHEMA)
    return hashlib.sha256("".join(schemas).encode()).hexdigest()[:12]


# -- measure -------------------------------------------------------------------------------


def _rss(entries: list[dict[str, Any]]) -> bytes:
    items = "".join(
        f"<item><title>{html.escape(e['title'])}</title><link>{html.escape(e['url'])}</link>"
        f"<guid>{html.escape(e['url'])}</guid>"
        f"<pubDate>{formatdate(e['ts'] / 1000, usegmt=True)}</pubDate>"
        f"<description>{html.escape(e['body'])}</description></item>"
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>scale</title>'
        f"<link>http://127.0.0.1/</link><description>bench</description>{items}</channel></rss>"
    ).encode()


def _feeds(meta: dict[str, Any], with_new: bool) -> dict[str, bytes]:
    """The outlet's feeds: its known stories, and with `with_new` one new story first in each."""
    known, fresh = meta["feed"], meta["fresh"]
    now = int(time.time() * 1000) - 3_600_000
    feeds = {}
    for f in range(FEEDS):
        entries = known[f::FEEDS]
        if with_new:
            entries = [dict(e, ts=now) for e in fresh[f::FEEDS]] + entries
        feeds[f"/feeds/{f}.xml"] = _rss(entries)
    return feeds


@dataclass
class Usage:
    cpu_s: float
    maxrss_mb: float
    wall_s: float
    out: str


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


# Starts the command from a small process: Linux counts the memory of the process that forked
# a child in the child's ru_maxrss (at exec), so a child of this bench (which holds the real
# items and their features) would never show less than the bench's own size.
_LAUNCHER = """
import json, os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump([os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime, ru.ru_maxrss], out)
"""


def _run(cmd: list[str], cwd: Path) -> Usage:
    """Run `cmd` to its end; CPU and peak RSS from wait4 (its waited-for children included)."""
    with tempfile.TemporaryDirectory() as tmp:
        usage = Path(tmp) / "usage.json"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-S", "-c", _LAUNCHER, str(usage), *cmd],
            cwd=cwd,
            capture_output=True,
            env=_env(),
            timeout=1800,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not usage.exists():
            raise RuntimeError(f"{cmd} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
        code, cpu, maxrss_kb = json.loads(usage.read_text())
    if code != 0:
        raise RuntimeError(f"{cmd} exited {code}: {proc.stderr.decode(errors='replace')[-2000:]}")
    return Usage(cpu, maxrss_kb / 1024, wall, proc.stdout.decode(errors="replace"))


def _proc(pid: int) -> tuple[float, float]:
    """CPU seconds and current RSS (MB) of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


def _feedwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "feedwatch", *args]


def _settled(state: Path, timeout: float = 120.0) -> None:
    """Wait until the queue is empty (the daemon consumed what the crawl handed it)."""
    deadline = time.monotonic() + timeout
    storage = open_storage(state)
    try:
        while storage.queue.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        storage.close()
    time.sleep(0.3)  # the batch's end of run: health check, run record


def measure(built: Path, meta: dict[str, Any], work: Path, repeats: int) -> dict[str, Any]:
    """The crawls of the module docstring against one cached build."""
    work.mkdir(parents=True)
    (work / "state").mkdir()
    shutil.copy2(built / STATE, work / STATE)
    server = FeedServer()
    for path, body in _feeds(meta, with_new=False).items():
        server.set_route(path, body)
    base = server.start()
    config = work / "config.yaml"
    config.write_text(
        CONFIG.format(
            archive=built / "archive",
            state=work / STATE,
            outlet=OUTLET,
            feeds="\n".join(
                f'      - {{url: "{base}/feeds/{f}.xml", full_text: true}}' for f in range(FEEDS)
            ),
        )
    )
    crawl = _feedwatch("crawl", OUTLET, "--config", str(config), "-q")
    result: dict[str, Any] = {"stories": meta["stories"], "state_mb": meta["state_bytes"] / 2**20}
    daemon_log = (work / "daemon.log").open("wb")
    t0 = time.perf_counter()
    daemon = subprocess.Popen(
        _feedwatch("run", "--config", str(config), "-q"),
        cwd=work,
        stdout=daemon_log,
        stderr=subprocess.STDOUT,
        env=_env(),
    )
    try:
        storage = open_storage(work / STATE)
        try:
            while not storage.queue.daemon_running():
                if daemon.poll() is not None or time.perf_counter() - t0 > 600:
                    raise RuntimeError(f"the daemon did not start: {work / 'daemon.log'}")
                time.sleep(0.1)
        finally:
            storage.close()
        time.sleep(1.0)  # its consumer has loaded the index before its first heartbeat
        result["daemon_ready_s"] = time.perf_counter() - t0
        result["daemon_start"] = _proc(daemon.pid)
        _run(crawl, work)  # feed validators stored; the known entries recognised
        _settled(work / STATE)

        def with_daemon() -> dict[str, Any]:
            cpu0, rss0 = _proc(daemon.pid)
            use = _run(crawl, work)
            _settled(work / STATE)
            cpu1, rss1 = _proc(daemon.pid)
            return {
                "cpu_s": use.cpu_s,
                "rss_mb": use.maxrss_mb,
                "wall_s": use.wall_s,
                "daemon_cpu_s": cpu1 - cpu0,
                "daemon_rss_mb": rss1 - rss0,
                "summary": use.out.strip().splitlines()[-1] if use.out.strip() else "",
                "detail": use.out.strip().splitlines()[0] if use.out.strip() else "",
            }

        result["not_modified"] = [with_daemon() for _ in range(repeats)]
        for path, body in _feeds(meta, with_new=True).items():
            server.set_route(path, body)
        result["new"] = with_daemon()
        result["daemon_end"] = _proc(daemon.pid)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(120)
        daemon_log.close()
    _remove_new_files(work / STATE, meta)
    # (c) no daemon: the crawl starts a consumer beside it (304 again: the feeds are as in (b)).
    result["no_daemon"] = _run(crawl, work).__dict__
    server.stop()
    return result


def _remove_new_files(state: Path, meta: dict[str, Any]) -> None:
    """Take (b)'s new item files out of the cached archive (this copy of the state is dropped)."""
    storage = open_storage(state)
    try:
        for entry in meta["fresh"]:
            canonical = canonical_url(entry["url"])
            seen = storage.items.lookup(canonical)
            # A repost's row names its story's file, which is the cache's: only a file named
            # after this URL (store/archive.py) was written by this run.
            own = hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:16]
            if seen is not None and seen.path and Path(seen.path).name.startswith(own):
                Path(seen.path).unlink(missing_ok=True)
    finally:
        storage.close()


# -- report --------------------------------------------------------------------------------


def table(results: list[dict[str, Any]], startup: Usage, command: str) -> str:
    """Markdown: one column per size, the target judged at the largest."""
    base = results[0]
    base_a = min(r["cpu_s"] for r in base["not_modified"])
    base_rss = max(r["rss_mb"] for r in base["not_modified"])

    def a_cpu(r: dict[str, Any]) -> float:
        return min(x["cpu_s"] for x in r["not_modified"])

    def a_rss(r: dict[str, Any]) -> float:
        return max(x["rss_mb"] for x in r["not_modified"])

    def row(label: str, values: list[str], target: str = "") -> str:
        return f"| {label} | " + " | ".join(values) + f" | {target} |"

    big = results[-1]
    cpu_over = a_cpu(big) - base_a
    rss_over = a_rss(big) - base_rss
    new_over = big["new"]["cpu_s"] - base["new"]["cpu_s"]
    new_rss_over = big["new"]["rss_mb"] - base["new"]["rss_mb"]
    ok = cpu_over < 1.0 and rss_over < 250 and new_over < 1.0 and new_rss_over < 250
    head = " | ".join(f"{r['stories']:,} stories" for r in results)
    lines = [
        f"Command: `{command}`",
        "",
        f"Process start-up: `feedwatch --version` {startup.cpu_s:.2f} CPU s, peak RSS"
        f" {startup.maxrss_mb:.0f} MB; the 304 crawl on the state of"
        f" {base['stories']:,} stories is the start-up the other columns are compared with.",
        "",
        f"| measure | {head} | target |",
        "|---|" + "---|" * len(results) + "---|",
        row("state database", [f"{r['state_mb']:,.0f} MB" for r in results]),
        row(
            "daemon: ready (index loaded) / RSS then",
            [f"{r['daemon_ready_s']:.1f} s / {r['daemon_start'][1]:.0f} MB" for r in results],
        ),
        row(
            f"(a) crawl, every feed 304: CPU s, best of {len(big['not_modified'])}",
            [f"{a_cpu(r):.2f}" for r in results],
        ),
        row("(a) crawl: peak RSS", [f"{a_rss(r):.0f} MB" for r in results]),
        row(
            "(a) beyond start-up: CPU / RSS",
            [f"{a_cpu(r) - base_a:+.2f} s / {a_rss(r) - base_rss:+.0f} MB" for r in results],
            f"< 1 s / < 250 MB ({'met' if cpu_over < 1.0 and rss_over < 250 else 'missed'})",
        ),
        row(
            "(a) daemon while it runs: CPU / RSS growth",
            [
                f"{max(x['daemon_cpu_s'] for x in r['not_modified']):.2f} s /"
                f" {max(x['daemon_rss_mb'] for x in r['not_modified']):+.0f} MB"
                for r in results
            ],
        ),
        row(
            f"(b) crawl, {FEEDS * NEW_PER_FEED} new stories: CPU s / peak RSS",
            [f"{r['new']['cpu_s']:.2f} / {r['new']['rss_mb']:.0f} MB" for r in results],
        ),
        row(
            "(b) beyond start-up: CPU / RSS",
            [
                f"{r['new']['cpu_s'] - base['new']['cpu_s']:+.2f} s /"
                f" {r['new']['rss_mb'] - base['new']['rss_mb']:+.0f} MB"
                for r in results
            ],
            f"< 1 s / < 250 MB ({'met' if new_over < 1 and new_rss_over < 250 else 'missed'})",
        ),
        row(
            "(b) daemon consuming them: CPU / RSS growth",
            [
                f"{r['new']['daemon_cpu_s']:.2f} s / {r['new']['daemon_rss_mb']:+.0f} MB"
                for r in results
            ],
        ),
        row(
            "(c) no daemon: crawl + its consumer process, CPU s / peak RSS / wall",
            [
                f"{r['no_daemon']['cpu_s']:.2f} / {r['no_daemon']['maxrss_mb']:.0f} MB /"
                f" {r['no_daemon']['wall_s']:.1f} s"
                for r in results
            ],
        ),
        "",
        f"Target (1,000,000 stories: a crawl of one outlet < 1 s and < 250 MB beyond start-up,"
        f" the index not reloaded per crawl) at {big['stories']:,} stories with the daemon"
        f" running: **{'met' if ok else 'missed'}**.",
        "",
        f"(a) at {big['stories']:,}: `{big['not_modified'][-1]['detail']}`; (b):"
        f" `{big['new']['detail']}`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Build (or reuse) the states, measure each, print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, required=True, help="where built states are kept")
    ap.add_argument("--stories", type=int, default=1_000_000)
    ap.add_argument("--compare", default="0,2000", help="smaller sizes measured beside it")
    ap.add_argument("--repeats", type=int, default=3, help="304 crawls per size")
    ap.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = ap.parse_args(argv)
    sizes = sorted({int(s) for s in args.compare.split(",") if s.strip()} | {args.stories})
    builds = [cached(args.cache, n) for n in sizes]
    startup = min((_run(_feedwatch("--version"), REPO) for _ in range(3)), key=lambda u: u.cpu_s)
    results = []
    with tempfile.TemporaryDirectory(prefix="fw-bench-scale-", dir=args.cache) as tmp:
        for (built, meta), n in zip(builds, sizes, strict=True):
            print(f"measuring {n:,} stories ...", file=sys.stderr, flush=True)
            results.append(measure(built, meta, Path(tmp) / f"n{n}", args.repeats))
    if args.json:
        args.json.write_text(json.dumps({"startup": startup.__dict__, "sizes": results}, indent=1))
    cmd = f"python bench/bench_scale.py --cache DIR --stories {args.stories}"
    cmd += f" --compare {args.compare}" if args.compare != "0,2000" else ""
    print(table(results, startup, cmd))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
