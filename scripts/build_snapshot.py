"""Build the bundled replay snapshot `feedwatch/data/snapshot.warc.gz` and its SNAPSHOT.md.

Every response is made from real corpus data under /work/shared/corpus: real files served as they
are, and feeds and article pages we had to rebuild around real items (the corpus has items, not
raw feeds or pages), marked as built by us in the file and in SNAPSHOT.md. The URLs are the feed
URLs of the demo config and the article/mirror pages they link to, so `feedwatch demo` (a crawl
with `--replay` of this file) runs end to end with no network and no request that misses.

What the selection shows: each outlet's direct feed and its feedx or mirror twin (the same items,
recognised as already stored), reposts across outlets (the corpus' ranked cross-outlet pairs of
October 2020), a Simplified/Traditional pair, an edited article (two real versions of one URL)
and stories that the example alert rule matches.

The HTTP headers (Date, Content-Type, ETag, Last-Modified, Content-Encoding) are plausible values
we set: the corpus holds bodies, not headers. The build is reproducible (fixed record ids, dates
and gzip mtimes), so rebuilding from the same corpus gives the same bytes.

    python scripts/build_snapshot.py [--corpus /work/shared/corpus] [--out feedwatch/data]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import html
import io
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit
from xml.sax.saxutils import escape

import opencc
import yaml
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import spiders.outlets  # noqa: E402, F401  (registers the outlets' URL rules and boilerplate)

# The repo root must be on sys.path for these (the script runs from anywhere).
from conf.dedup import DedupConfig  # noqa: E402
from dedup.compare import features_of_html  # noqa: E402
from scripts.snapshot_pages import (  # noqa: E402
    BUILT_MARK,
    Item,
    dw_page,
    dw_rdf,
    feedx_feed,
    http_date,
    plain_text,
    rfi_page,
    rss,
    rss_entry,
    summary_of,
    voa_page,
)
from spiders.outlets.dw import extract_dw_body  # noqa: E402
from spiders.outlets.rfi import extract_rfi_body  # noqa: E402
from spiders.outlets.voa import extract_voa_body  # noqa: E402
from store.imports import read_item_file  # noqa: E402

PageBuilder = Callable[[Item], bytes]

DEFAULT_CORPUS = Path("/work/shared/corpus")
RFI_PAGE = "rfi/html/RadarFlow_rfi_detail_20251130_taiwan-defense.html"
DW_RDF = "dw/rss/greatfire_dw.xml_2015-03-16.xml"
DW_MACA = "?maca=chi-rss-chi-all-1127-rdf"  # the tracking parameter on every DW RDF link
WAIMEI = "waimei-2020-10-12_to_16"  # items of the four outlets over the same five days
MIRROR_CHANNEL = "ncid1078159"
MIRROR_PAGES = 5
MIRROR_ROOT = "https://raw.githubusercontent.com/gfw-breaker/epoch-news/master"
MIRROR_DIR = "epochtimes/gfw-breaker-pages/epoch-news"

# Items by the key at the end of their file name. Cross-outlet reposts (corpus
# near-duplicates/cross-outlet-candidates_waimei-window.csv): 自由之家 (RFI 43649341, VOA
# 9efae5bf), 孔子学院 (RFI 7c3bd240, VOA 8775ee55), 民调 台湾 (RFI dd776441, VOA e2450ede),
# 欧洲议会 华为 (VOA f6402498, Epoch Times 24e77f09). Same-outlet reposts under another URL:
# 泰国示威 (RFI 6de1adb6, 19b6003f), 太空站 (RFI 734cf047, 8cf6c9d8). Alert rule terms (朝鲜, 普京): RFI 1336a837,
# 01ad0809; VOA a31b39ff, da09012f; DW ead37995; Epoch Times d2bcd91e, 81c1d550.
RFI_DIRECT = [
    "43649341", "7c3bd240", "dd776441", "6de1adb6", "19b6003f", "1336a837", "01ad0809",
    "734cf047", "8cf6c9d8",
]  # fmt: skip
RFI_FEEDX_ONLY = ["63f4ae3f", "7ed749a3"]
RFI_TRADITIONAL = ["1336a837", "7c3bd240"]  # served as RFI's /tw/ edition, converted by OpenCC
DW_DIRECT = ["4efdc903", "8f82771d", "b1cf93d4", "b4e9fefa", "b86dd298", "30deb138", "ead37995"]
# DW retitled and edited two articles within hours (one URL, a-55238150 and a-55270336): the
# direct feed has the later versions, the feedx twin still the first ones, so both are recorded
# as edits of one story.
DW_FIRST_VERSIONS = ["d2b4b691", "302f3ee5"]
DW_FEEDX_ONLY = ["13d4eaac", "55fc1a47"]
VOA_DIRECT = [
    "9efae5bf", "8775ee55", "e2450ede", "e96aede9", "f6402498", "a31b39ff", "da09012f",
    "b04f3d8b", "e50140f9",
]  # fmt: skip
VOA_FEEDX_ONLY = ["22de6134", "b4afa784"]
# Epoch Times channel feeds: real nsc413 items whose article the gfw-breaker banned-news2 mirror
# has in that channel (corpus near-duplicates/epoch-feed-vs-gfwbreaker/pairs.csv). The two
# versions of n12473298 (retitled: 披露…来源 / 公布…) go to two channels: one is an edit.
EPOCH_CHANNELS = {
    "nsc412": [
        "3f95bf8c", "d2bcd91e", "81c1d550", "561b9729", "26e1d746", "934c29b6", "aaaff0de",
        "3009780a", "87728844", "273bcd32",
    ],
    "nsc418": ["6a07afbb", "24e77f09", "d081ccc9", "06f9f893", "c1589fad", "e9310663", "ddc29caa"],
    "nsc415": ["edf9d5c6", "655321c8", "b99c1ea2", "fa3c6575"],
    "nf4514": ["b6621ccf", "ae6a4f3c", "9dc51248", "54bd5ac4", "3d86390c"],
}  # fmt: skip


@dataclass
class Capture:
    """One HTTP response of the snapshot and where its body came from."""

    url: str
    body: bytes
    content_type: str
    provenance: str  # real | real, excerpt | real, transcribed | built from real items | built
    what: str
    sources: list[str] = field(default_factory=list)  # corpus paths
    captured: datetime = datetime(2025, 12, 1, tzinfo=UTC)
    last_modified: datetime | None = None
    etag: bool = True
    gzip: bool = False
    status: int = 200


# Second-pass corpus files that SOURCES.md documents but manifests/*.csv do not list.
EXTRA_CITES = {
    "epochtimes/rss/nsc413_2019-04-04_reconstructed.xml": (
        "zztianx1x/zddadfsdaaaa",
        "scripts/nsc413.xml",
        "14ca0f4ff8f608dcbec09817ccfbefab045aa8fd",
    ),
}


class Manifests:
    """corpus path -> (repo, repo path, commit) from corpus/manifests/*.csv."""

    def __init__(self, corpus: Path) -> None:
        self.rows: dict[str, tuple[str, str, str]] = {}
        for path in sorted((corpus / "manifests").glob("*.csv")):
            with path.open(encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    self.rows[row["corpus_path"]] = (
                        row["repo"],
                        row["repo_path"],
                        row["repo_commit"],
                    )

    def cite(self, corpus_path: str) -> str:
        """`repo` `path` @ commit for a corpus file, or a note that it is ours."""
        if corpus_path.startswith("derived/"):
            return "generated by us from the real items listed with it"
        row = self.rows.get(corpus_path) or EXTRA_CITES.get(corpus_path)
        if row is None:
            return "see corpus/SOURCES.md"
        repo, repo_path, commit = row
        return f"{repo} `{repo_path}` @ {commit[:12]}"


def _meta(page: str, attr: str, name: str) -> str:
    m = re.search(rf'<meta {attr}="{re.escape(name)}" content="([^"]*)"', page)
    return html.unescape(m.group(1)) if m else ""


def _newest_pubdate(feed: bytes) -> datetime:
    dates = [
        parsedate_to_datetime(d.decode())
        for d in re.findall(rb"<(?:pubDate|lastBuildDate)>([^<]+)<", feed)
    ]
    dates += [
        datetime.fromisoformat(d.decode().replace("Z", "+00:00"))
        for d in re.findall(rb"<dc:date>([^<]+)<", feed)
    ]
    return max(dates)


def _item(corpus: Path, rel: str) -> Item:
    stored = read_item_file(corpus / rel)
    return Item(rel, stored.ts, stored.title, stored.url, stored.body)


def _items(corpus: Path, outlet: str, keys: list[str]) -> list[Item]:
    """Waimei items of `outlet` by the key in their file name (`<date>_<url hash>_<key>.md`)."""
    folder = corpus / outlet / "items" / WAIMEI
    items = []
    for key in keys:
        found = sorted(folder.glob(f"*_{key}.md"))
        if len(found) != 1:
            raise SystemExit(f"{outlet} item {key}: {len(found)} files in {folder}")
        items.append(_item(corpus, str(found[0].relative_to(corpus))))
    return sorted(items, key=lambda i: i.ts, reverse=True)  # feeds list the newest first


def _text_hash(body: str) -> str:
    return features_of_html(body, "", DedupConfig()).text_hash


def _check_twins(
    items: list[Item], extract: Callable[[str], str | None], page: PageBuilder
) -> None:
    """Each built page must give the text of its feedx twin, or the demo records false edits."""
    for item in items:
        body = extract(page(item).decode("utf-8")) or ""
        if _text_hash(body) != _text_hash(item.body):
            raise SystemExit(f"page built from {item.source} does not extract to the item's text")


def _newest(items: list[Item]) -> datetime:
    return max(item.when for item in items)


def _feed_capture(url: str, body: bytes, what: str, items: list[Item], **kw: Any) -> Capture:
    newest = _newest(items) if items else datetime(2020, 10, 16, tzinfo=UTC)
    kw.setdefault("content_type", "application/rss+xml; charset=utf-8")
    return Capture(
        url,
        body,
        provenance=kw.pop("provenance", "built from real items"),
        what=what,
        sources=kw.pop("sources", [i.source for i in items]),
        captured=newest + timedelta(minutes=20),
        last_modified=newest,
        gzip=len(body) > 20_000,
        **kw,
    )


def _page_captures(
    items: list[Item],
    page: PageBuilder,
    template: str,
    url_of: Callable[[Item], str] = lambda i: i.url,
) -> list[Capture]:
    return [
        Capture(
            url_of(item),
            page(item),
            content_type="text/html; charset=utf-8",
            provenance="built from a real item",
            what=f"{template} page 《{item.title}》: the item's blocks in the outlet's template",
            sources=[item.source],
            captured=item.when + timedelta(minutes=30),
            last_modified=item.when,
            etag=False,
            gzip=len(page(item)) > 20_000,
        )
        for item in items
    ]


def rfi_captures(corpus: Path, tw_feed: bool) -> list[Capture]:
    """RFI: summary feed + article pages (one real, the others built), feedx twin, /tw/ edition."""
    page_bytes = (corpus / RFI_PAGE).read_bytes()
    page = page_bytes.decode("utf-8")
    found = re.search(r'<link rel="canonical" href="([^"]+)"', page)
    if found is None:
        raise SystemExit(f"{RFI_PAGE}: no canonical link")
    canonical = found.group(1)
    published = datetime.fromisoformat(_meta(page, "property", "article:published_time"))
    modified = datetime.fromisoformat(_meta(page, "property", "article:modified_time"))
    real = Item(
        RFI_PAGE + " (meta tags)",
        int(published.timestamp() * 1000),
        _meta(page, "property", "og:title"),
        canonical,
        "",
    )
    direct = _items(corpus, "rfi", RFI_DIRECT)
    _check_twins(direct, extract_rfi_body, rfi_page)
    twins = _items(corpus, "rfi", RFI_DIRECT + RFI_FEEDX_ONLY)
    entries = [rss_entry(real, escape(_meta(page, "property", "og:description")))]
    entries += [rss_entry(i, escape(_chapo(i))) for i in direct]
    channel = {
        "title": "RFI - 法国国际广播电台",
        "link": "https://www.rfi.fr/cn/",
        "description": "法国国际广播电台中文网",
        "language": "zh-CN",
        "lastBuildDate": http_date(published),
    }
    feed = rss(
        channel,
        entries,
        f"{BUILT_MARK}: not a real RFI feed. Summary-only RSS rebuilt from real RFI items "
        "(title, link, date, chapo text); channel metadata is ours.",
    )
    captures = [
        _feed_capture(
            "https://www.rfi.fr/cn/rss",
            feed,
            f"RFI 中文 summary feed: {len(entries)} entries, description = the article's chapo",
            [real, *direct],
            sources=[RFI_PAGE, *(i.source for i in direct)],
        ),
        Capture(
            canonical,
            page_bytes,
            content_type="text/html; charset=UTF-8",
            provenance="real",
            what="RFI article page 台湾增加400亿美元国防开支 (fetched for its body)",
            sources=[RFI_PAGE],
            captured=modified + timedelta(minutes=30),
            last_modified=modified,
            etag=False,
            gzip=True,
        ),
        *_page_captures(direct, rfi_page, "rfi.fr article"),
        _feed_capture(
            "https://feedx.net/rss/rfi.xml",
            feedx_feed("法广 RFI", twins),
            f"feedx full-text RFI feed: {len(twins)} real items, {len(direct)} of them also"
            " in the direct feed",
            twins,
            content_type="application/xml; charset=utf-8",
        ),
    ]
    if tw_feed:
        captures += rfi_traditional_captures(corpus)
    return captures


def _chapo(item: Item) -> str:
    """The chapo (bold lead) of an RFI item, as RFI's feed carries it in <description>."""
    match = re.search(r"<p><strong>(.*?)</strong></p>", item.body, re.S)
    return plain_text(match.group(1) if match else item.body)[:300]


def _traditional(item: Item) -> Item:
    """The item as RFI's Traditional edition (/tw/) shows it: OpenCC s2t of title, body and slug."""
    s2t = opencc.OpenCC("s2t").convert
    parts = urlsplit(item.url)
    path = quote(s2t(unquote(parts.path.replace("/cn/", "/tw/", 1))), safe="/")
    url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return Item(item.source + " (OpenCC s2t)", item.ts, s2t(item.title), url, s2t(item.body))


def rfi_traditional_captures(corpus: Path) -> list[Capture]:
    """RFI 中文's Traditional edition: no real copy exists, so OpenCC s2t of real /cn/ items."""
    items = [_traditional(i) for i in _items(corpus, "rfi", RFI_TRADITIONAL)]
    channel = {
        "title": "RFI - 法國國際廣播電台",
        "link": "https://www.rfi.fr/tw/",
        "description": "法國國際廣播電台中文網",
        "language": "zh-TW",
        "lastBuildDate": http_date(_newest(items)),
    }
    feed = rss(
        channel,
        [rss_entry(i, escape(_chapo(i))) for i in items],
        f"{BUILT_MARK}: not a real RFI feed. The Traditional edition of real RFI items, converted"
        " by OpenCC s2t (the corpus holds no Traditional copy); channel metadata is ours.",
    )
    sources = [i.source.removesuffix(" (OpenCC s2t)") for i in items]
    return [
        _feed_capture(
            "https://www.rfi.fr/tw/rss",
            feed,
            f"RFI 中文 Traditional edition feed: {len(items)} entries, OpenCC s2t of real items",
            items,
            provenance="built from real items (converted)",
            sources=sources,
        ),
        *(
            replace(c, provenance="built from a real item (converted)", sources=[s])
            for c, s in zip(
                _page_captures(items, rfi_page, "rfi.fr/tw article"), sources, strict=True
            )
        ),
    ]


def dw_captures(corpus: Path) -> list[Capture]:
    """DW: the RDF summary feed and article pages, both built from real items; feedx twin."""
    direct = _items(corpus, "dw", DW_DIRECT)
    _check_twins(direct, extract_dw_body, dw_page)
    later = set(DW_DIRECT[: len(DW_FIRST_VERSIONS)])
    twins = _items(
        corpus,
        "dw",
        [k for k in DW_DIRECT if k not in later] + DW_FIRST_VERSIONS + DW_FEEDX_ONLY,
    )
    return [
        _feed_capture(
            "https://rss.dw.com/rdf/rss-chi-all",
            dw_rdf(direct, DW_MACA),
            f"DW 中文 RSS 1.0/RDF summary feed: {len(direct)} entries (links carry ?maca=…)",
            direct,
            content_type="application/rdf+xml; charset=UTF-8",
            sources=[DW_RDF + " (channel shape only)", *(i.source for i in direct)],
        ),
        *_page_captures(direct, dw_page, "dw.com article", lambda i: i.url + DW_MACA),
        _feed_capture(
            "https://feedx.net/rss/dw.xml",
            feedx_feed("德国之声 DW", twins),
            f"feedx full-text DW feed: {len(twins)} real items: {len(direct) - len(later)} as in"
            f" the direct feed, {len(later)} in their first version",
            twins,
            content_type="application/xml; charset=utf-8",
        ),
    ]


def voa_captures(corpus: Path) -> list[Capture]:
    """VOA: the API feed (summaries, so `full_text: auto` fetches pages), pages, feedx twin."""
    direct = _items(corpus, "voa", VOA_DIRECT)
    _check_twins(direct, extract_voa_body, voa_page)
    twins = _items(corpus, "voa", VOA_DIRECT + VOA_FEEDX_ONLY)
    channel = {
        "title": "美国之音中文网 - VOA Chinese",
        "link": "https://www.voachinese.com",
        "description": "美国之音中文网",
        "language": "zh-cn",
        "lastBuildDate": http_date(_newest(direct)),
    }
    feed = rss(
        channel,
        [rss_entry(i, escape(summary_of(i))) for i in direct],
        f"{BUILT_MARK}: not a real VOA feed. RSS 2.0 rebuilt from real VOA items (title, link,"
        " date, first sentence as summary); channel metadata is ours.",
    )
    return [
        _feed_capture(
            "https://www.voachinese.com/api/zm_yql-vomx-tpeybti",
            feed,
            f"VOA 中文 feed: {len(direct)} entries with one-sentence summaries",
            direct,
        ),
        *_page_captures(direct, voa_page, "voachinese.com article"),
        _feed_capture(
            "https://feedx.net/rss/mgzy1.xml",
            feedx_feed("美国之音 VOA", twins),
            f"feedx full-text VOA feed: {len(twins)} real items, {len(direct)} of them also in"
            " the direct feed",
            twins,
            content_type="application/xml; charset=utf-8",
        ),
    ]


def _empty_channel(url: str, when: datetime) -> bytes:
    channel = {
        "title": "大纪元 (snapshot placeholder: no items)",
        "link": "http://www.epochtimes.com",
        "description": "大纪元新闻网",
        "language": "zh_CN",
        "lastBuildDate": http_date(when),
    }
    comment = f"{BUILT_MARK}: placeholder for {url}; the corpus holds no item of this channel."
    return rss(channel, [], comment)


def _epoch_channel(channel_id: str, items: list[Item]) -> bytes:
    """A WordPress channel feed as nsc413's: plain-text teaser + un-namespaced <content>."""
    channel = {
        "title": f"大纪元 {channel_id}",
        "link": "http://www.epochtimes.com",
        "description": "大纪元新闻网",
        "language": "zh_CN",
        "lastBuildDate": http_date(_newest(items)),
    }
    comment = (
        f"{BUILT_MARK}: not a real Epoch Times feed. Entries are real nsc413 full-text items of"
        f" October 2020 whose article the gfw-breaker mirror lists in channel {channel_id}"
        " (title, link, time, body); channel metadata is ours."
    )
    entries = [rss_entry(i, escape(summary_of(i)), content=i.body) for i in items]
    return rss(channel, entries, comment)


def epochtimes_captures(corpus: Path, config_urls: list[str]) -> list[Capture]:
    """Epoch Times: nsc413 (transcribed real), nsc424 (real excerpt), channels built from real
    items by their mirror channel, empty channels where the corpus has nothing."""
    nsc413 = "epochtimes/rss/nsc413_2019-04-04_reconstructed.xml"
    nsc424 = "epochtimes/rss/nsc424_excerpt_first-item_2019-04-04.xml"
    captures = []
    for url in config_urls:
        if not url.startswith("https://www.epochtimes.com/"):
            continue
        channel_id = url.rsplit("/", 1)[-1].removesuffix(".xml")
        if channel_id in ("nsc413", "nsc424"):
            real = nsc413 if channel_id == "nsc413" else nsc424
            body = (corpus / real).read_bytes()
            newest = _newest_pubdate(body)
            what = (
                "大陆新闻 WordPress feed, 60 full-text items (6 invisible characters missing)"
                if channel_id == "nsc413"
                else "纪元特稿 feed: channel header + first item, closing tags added"
            )
            captures.append(
                Capture(
                    url,
                    body,
                    content_type="application/rss+xml; charset=UTF-8",
                    provenance="real, transcribed" if channel_id == "nsc413" else "real, excerpt",
                    what=what,
                    sources=[real],
                    captured=datetime(2019, 4, 4, 10, 15, tzinfo=UTC),
                    last_modified=newest,
                    gzip=channel_id == "nsc413",
                )
            )
        elif channel_id in EPOCH_CHANNELS:
            items = _items(corpus, "epochtimes", EPOCH_CHANNELS[channel_id])
            captures.append(
                _feed_capture(
                    url,
                    _epoch_channel(channel_id, items),
                    f"{channel_id} WordPress feed: {len(items)} full-text entries (real items)",
                    items,
                    content_type="application/rss+xml; charset=UTF-8",
                )
            )
        else:
            when = datetime(2020, 10, 16, 12, 0, tzinfo=UTC)
            captures.append(
                Capture(
                    url,
                    _empty_channel(url, when),
                    content_type="application/rss+xml; charset=UTF-8",
                    provenance="built",
                    what="valid RSS channel with no items (placeholder)",
                    sources=[],
                    captured=when,
                    last_modified=when,
                )
            )
    return captures


def mirror_captures(corpus: Path, index_url: str) -> list[Capture]:
    """gfw-breaker: a channel index in the real README format and a few real mirror pages."""
    pages = sorted((corpus / MIRROR_DIR / MIRROR_CHANNEL).glob("n*.md"))[:MIRROR_PAGES]
    channel_names = dict(
        line.split(",", 1)
        for line in (corpus / MIRROR_DIR / "_meta/index.csv").read_text("utf-8").splitlines()
        if "," in line
    )
    lines = [f"### {channel_names.get(MIRROR_CHANNEL, MIRROR_CHANNEL)}", "---"]
    captures = []
    for path in reversed(pages):  # the real index lists the newest first
        body = path.read_bytes()
        title = body.decode("utf-8").splitlines()[0].removeprefix("### ").strip()
        lines.append(f"#### [{title}](../../pages/{MIRROR_CHANNEL}/{path.name}) ")
        rel = str(path.relative_to(corpus))
        captures.append(
            Capture(
                f"{MIRROR_ROOT}/pages/{MIRROR_CHANNEL}/{path.name}",
                body,
                "text/plain; charset=utf-8",  # what raw.githubusercontent.com sends for .md
                "real",
                f"gfw-breaker mirror page 《{title}》",
                [rel],
                captured=datetime(2023, 9, 24, 12, 0, tzinfo=UTC),
                last_modified=None,
            )
        )
    lines += ["", "---", ""]
    index = "\n".join(lines).encode("utf-8")
    meta = f"{MIRROR_DIR}/_meta/indexes__{MIRROR_CHANNEL}__README.md"
    index_capture = Capture(
        index_url,
        index,
        "text/plain; charset=utf-8",
        "built from real items",
        f"mirror channel index ({MIRROR_CHANNEL}) in the real README format, listing {len(pages)} real pages",
        [meta, *(c.sources[0] for c in captures)],
        captured=datetime(2023, 9, 24, 12, 0, tzinfo=UTC),
        last_modified=None,
    )
    return [index_capture, *captures]


def config_feed_urls(config_path: Path) -> dict[str, list[str]]:
    """outlet -> feed URLs, read from a config file."""
    data = yaml.safe_load(config_path.read_text("utf-8"))
    return {
        name: [feed["url"] for feed in outlet.get("feeds", [])]
        for name, outlet in data["outlets"].items()
    }


def http_headers(cap: Capture, body: bytes) -> list[tuple[str, str]]:
    """Plausible response headers for one capture (set by us; the corpus has no headers)."""
    headers = [("Date", http_date(cap.captured)), ("Content-Type", cap.content_type)]
    if cap.gzip:
        headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
    headers.append(("Content-Length", str(len(body))))
    if cap.last_modified is not None:
        headers.append(("Last-Modified", http_date(cap.last_modified)))
    if cap.etag:
        headers.append(("ETag", f'"{hashlib.md5(cap.body).hexdigest()}"'))
    return headers


def write_warc(captures: list[Capture], out: Path) -> None:
    """Write the captures as a reproducible gzipped WARC (warcinfo + one response per URL)."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    info = writer.create_warcinfo_record(
        out.name,
        {
            "software": "feedwatch scripts/build_snapshot.py (warcio)",
            "format": "WARC File Format 1.1",
            "description": "offline replay snapshot built from real corpus data; see SNAPSHOT.md",
        },
    )
    info.rec_headers.replace_header("WARC-Date", "2025-12-01T00:00:00Z")
    info.rec_headers.replace_header(
        "WARC-Record-ID", f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, out.name)}>"
    )
    writer.write_record(info)
    for cap in captures:
        body = gzip.compress(cap.body, mtime=0) if cap.gzip else cap.body
        http = StatusAndHeaders(f"{cap.status} OK", http_headers(cap, body), protocol="HTTP/1.1")
        record = writer.create_warc_record(
            cap.url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http,
            warc_headers_dict={
                "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, cap.url)}>",
                "WARC-Date": cap.captured.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
        writer.write_record(record)
    out.write_bytes(buf.getvalue())


def write_snapshot_md(captures: list[Capture], manifests: Manifests, out: Path, size: int) -> None:
    """Write SNAPSHOT.md: what every URL is and where its body came from."""
    rows = []
    for cap in captures:
        # A source may carry a note after the path: "path (meta tags)".
        cites = "; ".join(f"`{s}` ({manifests.cite(s.split(' (')[0])})" for s in cap.sources)
        rows.append(f"| {cap.url} | {cap.provenance} | {cap.what} | {cites or '–'} |")
    text = SNAPSHOT_MD.format(count=len(captures), size=size, rows="\n".join(rows))
    out.write_text(text, encoding="utf-8")


SNAPSHOT_MD = """# The bundled replay snapshot

`snapshot.warc.gz` ({size:,} bytes, {count} HTTP responses) is what `feedwatch demo` crawls with
`--replay`: every feed URL of the demo config (`demo-config.yaml`) and every page they link to,
served with no network; no request of the demo misses. It is generated by
`python scripts/build_snapshot.py` from the real corpus (`/work/shared/corpus`, provenance in its
`SOURCES.md` and `manifests/*.csv`); do not edit it by hand.

What it shows: the four outlets over the same five days (12–16 October 2020, the corpus' waimei
items), each through its direct feed and its feedx twin or gfw-breaker mirror, plus the real
2019 Epoch Times feeds, real 2023 gfw-breaker mirror pages and the real 2025 RFI page. Among them: the same story reposted across
outlets (RFI, VOA, the Epoch Times: the corpus' ranked cross-outlet pairs), the Simplified and
Traditional editions of two RFI stories, an Epoch Times article retitled after publication (two
real versions of one URL, in two channel feeds), and stories that the example alert rule matches.

Provenance classes used below:
- **real**: the body is a real file, byte for byte.
- **real, excerpt** / **real, transcribed**: real, with the cut or the transcription gaps the
  corpus documents.
- **built from real items**: a feed or index we assembled from real items (titles, links, dates,
  bodies are real; channel metadata is ours). Marked in the file by a `BUILT BY` comment; each
  entry names its corpus item in a `<!-- source: … -->` comment.
- **built from a real item**: an article page we made for a real item: the outlet's page
  template (the selectors its spider reads) around the item's title, link and body blocks
  verbatim. Only RFI has a real article page in the corpus; VOA, DW and the other RFI pages are
  built this way. Marked in the page by a `BUILT BY` comment.
- **… (converted)**: the RFI Traditional edition (`/tw/`): the corpus has no Traditional copy of
  any RFI story, so the feed and pages are OpenCC `s2t` conversions of real `/cn/` items.
- **built**: placeholder feeds with no items, marked in the file.

Decisions:
- HTTP headers are plausible values we set (Date, Content-Type with charset, Content-Length,
  ETag and Last-Modified on feeds and indexes, `Content-Encoding: gzip` on the large responses):
  the corpus holds bodies only. Bodies are stored raw, so gzip-encoded records are decoded by
  Scrapy's HttpCompressionMiddleware on replay, exactly as live.
- Every entry of a summary feed (RFI, DW, VOA) has its article page in the snapshot, and the
  builder checks that each built page extracts to the same text as the item's feedx copy: the
  twins are then recognised as the same version, not recorded as edits.
- The DW RDF keeps the shape of the real 2015 `rss-chi-all` feed (RSS 1.0, `?maca=` links) with
  entries from October 2020; its pages follow dw.com's article template (`article`, `h1`,
  `figure`, `div.rich-text`). VOA pages follow the Pangea template (`div.cover-media`,
  `#article-content .wsw`). feedx's byline and caption lines are `<p>`s there, so they are kept.
- Epoch Times channel feeds other than nsc413/nsc424 hold real nsc413 items of October 2020
  whose article the gfw-breaker banned-news2 mirror lists in that channel; nsc422, nsc423 and
  nsc993 (no such item) are valid, empty RSS channels (200), not 404s.
- The mirror index omits the `?MMDDHHMM` cache-buster the real index appends to each link
  (raw.githubusercontent.com ignores it); pages are recorded under the plain URL.

| URL | provenance | what | corpus source (repo, path, commit) |
|---|---|---|---|
{rows}
"""


def build(corpus: Path, out_dir: Path, config_path: Path) -> list[Capture]:
    """Build every capture, write the WARC and SNAPSHOT.md; returns the captures."""
    feeds = config_feed_urls(config_path)
    tw_feed = "https://www.rfi.fr/tw/rss" in feeds.get("rfi", [])
    captures = rfi_captures(corpus, tw_feed) + dw_captures(corpus) + voa_captures(corpus)
    captures += epochtimes_captures(corpus, feeds.get("epochtimes", []))
    mirror = feeds.get("epochtimes_mirror", [])
    if mirror:
        captures += mirror_captures(corpus, mirror[0])
    urls = [c.url for c in captures]
    if len(urls) != len(set(urls)):
        raise SystemExit("two captures for one URL")
    missing = {url for urls in feeds.values() for url in urls} - set(urls)
    if missing:
        raise SystemExit(f"{config_path.name} feed URLs with no capture: {sorted(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    warc = out_dir / "snapshot.warc.gz"
    write_warc(captures, warc)
    write_snapshot_md(captures, Manifests(corpus), out_dir / "SNAPSHOT.md", warc.stat().st_size)
    return captures


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=ROOT / "feedwatch" / "data")
    parser.add_argument(
        "--config", type=Path, default=ROOT / "feedwatch" / "data" / "demo-config.yaml"
    )
    args = parser.parse_args(argv)
    captures = build(args.corpus, args.out, args.config)
    size = (args.out / "snapshot.warc.gz").stat().st_size
    print(f"wrote {len(captures)} responses, {size} bytes, to {args.out / 'snapshot.warc.gz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
