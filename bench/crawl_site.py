"""A synthetic news site for the crawl benchmarks, built from real items, and its HTTP server.

    python bench/crawl_site.py build OUT_DIR --items N
    python bench/crawl_site.py serve OUT_DIR --port-file FILE

`build` writes `site.json` (path -> file, content type) and the files: RSS 2.0 feeds of
`--per-feed` entries each, half of them full text (the real item body in <description>, as
feedx does) and half summary-only (first paragraph as <description>) whose links point to
article pages in the RFI page layout that `spiders/rfi.py` extracts. The page template is the
real rfi.fr page of the outlet fixtures with its scripts, styles and SVGs removed (121 KB);
title, chapo, date and body are replaced by the item's. Items are the real corpus items
and gfw-breaker mirror pages (`FEEDWATCH_CORPUS`, default /work/shared/corpus; ~2,100 usable),
else the test fixtures; when more are asked
for than exist, copies get a numbered title and an extra paragraph.

`serve` answers from memory with ETag / Last-Modified and 304 on a matching conditional GET
(with `--restamp`, like many real feed servers, it ignores validators and gives each feed
response a new `<lastBuildDate>`, so every poll gets a 200 with a new body; after GET
/__restamp/trailer it also appends a cache stamp `<!-- served ... -->` after the entries, as
WordPress cache plugins do, and GET /__restamp/channel goes back), counts requests and bytes
(status line + headers + body) per kind (feed, article), and has two more control paths:
GET /__stats (JSON counts) and GET /__reset.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import spiders.outlets  # noqa: E402, F401  (registers the outlets' URL rules and boilerplate)
from store.format import StoredItem  # noqa: E402
from store.imports import iter_item_paths, read_item_file  # noqa: E402

CORPUS = Path(os.environ.get("FEEDWATCH_CORPUS", "/work/shared/corpus"))
RFI_PAGE = REPO / "tests/fixtures/outlets/rfi/rfi_article_20251130_taiwan-defense.html.gz"
BASE = b"@@BASE@@"  # links are written with this prefix; the server puts its own URL there
LAST_MODIFIED = formatdate(1_700_000_000, usegmt=True)
_PARA = re.compile(r"<p\b[^>]*>(.*?)</p>", re.S | re.I)
_TAGS = re.compile(r"<[^>]+>")


def real_items() -> list[StoredItem]:
    """Every real item file of the corpus (or of the test fixtures when the corpus is absent)."""
    if CORPUS.is_dir():
        roots = [CORPUS / o / "items" for o in ("rfi", "voa", "dw", "epochtimes")]
        roots.append(CORPUS / "epochtimes" / "gfw-breaker-pages")  # real mirror pages
    else:
        roots = [REPO / "tests/fixtures/outlets", REPO / "tests/fixtures/dedup"]
    items = []
    for path in iter_item_paths([r for r in roots if r.exists()]):
        try:
            item = read_item_file(path)
        except Exception:  # noqa: BLE001 - notes and meta files are not items
            continue
        if item.title.strip() and len(item.body) > 200:
            items.append(item)
    return items


def items_for(count: int) -> Iterator[tuple[int, StoredItem]]:
    """`count` items: the real ones, then numbered variants of them."""
    base = real_items()
    if not base:
        raise SystemExit("no real items found (corpus and fixtures missing)")
    for i in range(count):
        item = base[i % len(base)]
        round_ = i // len(base)
        if round_:
            extra = f"<p>（第{round_}次转载，补充说明第{i}号。）</p>"
            item = StoredItem(item.ts, f"{item.title}（{round_}）", item.url, item.body + extra)
        yield i, item


def page_template() -> str:
    """The real RFI page without scripts/styles/SVGs, with placeholders for the item's parts."""
    page = gzip.decompress(RFI_PAGE.read_bytes()).decode("utf-8")
    for tag in ("script", "style", "svg"):
        page = re.sub(rf"<{tag}\b.*?</{tag}>", "", page, flags=re.S | re.I)
    page = re.sub(r"(<h1\b[^>]*>).*?(</h1>)", r"\1@@TITLE@@\2", page, count=1, flags=re.S)
    page = re.sub(
        r'(<p class="t-content__chapo">).*?(</p>)', r"\1@@CHAPO@@\2", page, count=1, flags=re.S
    )
    page = re.sub(r"(<time\b[^>]*>).*?(</time>)", r"\1@@DATE@@\2", page, count=1, flags=re.S)
    start = page.index('<div class="t-content__body')
    body_open = page.index(">", start) + 1
    # The body div ends where its nested divs balance out.
    depth, pos = 1, body_open
    for m in re.finditer(r"<(/?)div\b", page[body_open:]):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            pos = body_open + m.start()
            break
    return page[:body_open] + "@@BODY@@" + page[pos:]


def _paragraphs(body: str) -> list[str]:
    paras = [p for p in _PARA.findall(body) if _TAGS.sub("", p).strip()]
    return paras or [html.escape(_TAGS.sub(" ", body).strip())]


def _rss(title: str, entries: list[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{html.escape(title)}</title><link>http://127.0.0.1/</link>"
        "<description>feedwatch crawl benchmark (built from real items)</description>"
        + "".join(entries)
        + "</channel></rss>\n"
    ).encode("utf-8")


def build(out: Path, count: int, per_feed: int, base_url: str = BASE.decode()) -> dict[str, int]:
    """Write the site into `out`; returns counts (items, feeds, articles, bytes)."""
    out.mkdir(parents=True, exist_ok=True)
    template = page_template()
    routes: dict[str, tuple[str, str]] = {}
    feeds: dict[str, list[str]] = {}
    articles = 0
    total_bytes = 0
    for i, item in items_for(count):
        full = (i // per_feed) % 2 == 0
        feed_path = f"/feeds/{'full' if full else 'summary'}-{i // per_feed:03d}.xml"
        date = formatdate(item.ts / 1000, usegmt=True)
        paras = _paragraphs(item.body)
        if full:
            link = f"{base_url}/story/{i}.html"  # never fetched: the feed has the full text
            desc = item.body
        else:
            link = f"{base_url}/cn/{i}.html"
            desc = _TAGS.sub("", paras[0])[:300]
            chapo = html.escape(_TAGS.sub("", paras[0]).strip())
            page = (
                template.replace("@@TITLE@@", html.escape(item.title))
                .replace("@@CHAPO@@", chapo)
                .replace("@@DATE@@", "30/11/2025 - 10:13")
                .replace("@@BODY@@", "".join(f"<p>{p}</p>" for p in paras[1:] or paras))
            )
            name = f"cn/{i}.html"
            data = page.encode("utf-8")
            (out / "cn").mkdir(exist_ok=True)
            (out / name).write_bytes(data)
            routes[f"/cn/{i}.html"] = (name, "text/html; charset=utf-8")
            articles += 1
            total_bytes += len(data)
        feeds.setdefault(feed_path, []).append(
            f"<item><title>{html.escape(item.title)}</title><link>{link}</link>"
            f'<guid isPermaLink="false">bench-{i}</guid><pubDate>{date}</pubDate>'
            f"<description>{html.escape(desc)}</description></item>"
        )
    (out / "feeds").mkdir(exist_ok=True)
    for path, entries in feeds.items():
        data = _rss(path, entries)
        (out / path.lstrip("/")).write_bytes(data)
        routes[path] = (path.lstrip("/"), "application/rss+xml; charset=utf-8")
        total_bytes += len(data)
    (out / "site.json").write_text(json.dumps(routes))
    return {"items": count, "feeds": len(feeds), "articles": articles, "bytes": total_bytes}


class _Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: dict[str, int] = {}
        self.bytes: dict[str, int] = {}
        self.status: dict[str, int] = {}

    def add(self, kind: str, status: int, nbytes: int) -> None:
        with self.lock:
            self.requests[kind] = self.requests.get(kind, 0) + 1
            self.bytes[kind] = self.bytes.get(kind, 0) + nbytes
            self.status[str(status)] = self.status.get(str(status), 0) + 1


def restamped(body: bytes, stamp: int, trailer: bool = False) -> bytes:
    """The feed with a `<lastBuildDate>` of `stamp` seconds past the site's Last-Modified."""
    date = formatdate(1_700_000_000 + stamp, usegmt=True).encode()
    body = body.replace(b"<channel>", b"<channel><lastBuildDate>" + date + b"</lastBuildDate>", 1)
    return body + b"<!-- served from cache at " + date + b" -->\n" if trailer else body


def serve(out: Path, port_file: Path, restamp: bool = False) -> None:
    """Serve the built site on 127.0.0.1 (port 0) until killed; the port goes to `port_file`."""
    routes = json.loads((out / "site.json").read_text())
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}".encode()
    bodies = {
        path: ((out / name).read_bytes().replace(BASE, base), ctype)
        for path, (name, ctype) in routes.items()
    }
    etags = {path: '"' + hashlib.sha1(b).hexdigest()[:16] + '"' for path, (b, _) in bodies.items()}
    counts = _Counts()
    stamps = itertools.count(1)
    trailer = [False]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base API
            pass

        def flush_headers(self) -> None:
            self.header_bytes = sum(map(len, getattr(self, "_headers_buffer", [])))
            super().flush_headers()

        def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/__stats":
                data = json.dumps(counts.__dict__ | {"lock": None}).encode()
                return self._send(200, data, "application/json", {})
            if path.startswith("/__restamp/"):
                trailer[0] = path == "/__restamp/trailer"
                return self._send(200, b"ok", "text/plain", {})
            if path == "/__reset":
                counts.reset()
                return self._send(200, b"ok", "text/plain", {})
            kind = "feed" if path.startswith("/feeds/") else "article"
            if path not in bodies:
                self._send(404, b"not found", "text/plain", {})
                counts.add(kind, 404, self.header_bytes + 9)
                return
            body, ctype = bodies[path]
            validators = {"ETag": etags[path], "Last-Modified": LAST_MODIFIED}
            if restamp and kind == "feed":
                # Validators ignored, the feed restamped: a new body (and ETag) every time.
                stamp = next(stamps)
                body = restamped(body, stamp, trailer[0])
                validators = {
                    "ETag": '"' + hashlib.sha1(body).hexdigest()[:16] + '"',
                    "Last-Modified": formatdate(1_700_000_000 + stamp, usegmt=True),
                }
                self._send(200, body, ctype, validators)
                counts.add(kind, 200, self.header_bytes + len(body))
                return
            if self.headers.get("If-None-Match") == etags[path]:
                self._send(304, b"", ctype, validators)
                counts.add(kind, 304, self.header_bytes)
                return
            self._send(200, body, ctype, validators)
            counts.add(kind, 200, self.header_bytes + len(body))

    server.RequestHandlerClass = Handler
    server.daemon_threads = True
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


@contextmanager
def served(site: Path, restamp: bool = False) -> Iterator[str]:
    """Serve a built site from a subprocess on 127.0.0.1; yields its base URL, stops it after."""
    with tempfile.TemporaryDirectory(prefix="fw-site-") as tmp:
        port_file = Path(tmp) / "port"
        command = [sys.executable, __file__, "serve", str(site), "--port-file", str(port_file)]
        server = subprocess.Popen(command + (["--restamp"] if restamp else []))
        try:
            for _ in range(600):
                if port_file.exists() and port_file.read_text():
                    break
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port_file.read_text()}"
        finally:
            server.terminate()
            server.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """Build or serve the site."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("out", type=Path)
    b.add_argument("--items", type=int, default=2000)
    b.add_argument("--per-feed", type=int, default=50)
    s = sub.add_parser("serve")
    s.add_argument("out", type=Path)
    s.add_argument("--port-file", type=Path, required=True)
    s.add_argument("--restamp", action="store_true", help="ignore validators, restamp feeds")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        print(json.dumps(build(args.out, args.items, args.per_feed)))
    else:
        serve(args.out, args.port_file, args.restamp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
