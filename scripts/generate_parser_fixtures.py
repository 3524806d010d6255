"""Build the outlet parser fixtures and their expected JSON (fundus' generate_parser_test_files).

    python scripts/generate_parser_fixtures.py --copy   # copy/build fixtures from ../shared/corpus
    python scripts/generate_parser_fixtures.py          # regenerate *.expected.json only

The expected files are written for every case in manifest.json, including cases added there
by hand for a new outlet (docs/OUTLETS.md); `--copy` rewrites the corpus-built cases only.

Every case records where its fixture came from (`source`) and the date of the data (`date`) in
tests/fixtures/outlets/manifest.json; PROVENANCE.md says which fixtures were built by us from
real items. Review the diff of the expected files before committing them: they pin behaviour.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import sys
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import spiders.outlets  # noqa: E402, F401  (registers the outlets' URL rules and boilerplate)
from spiders.testing import run_case  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "outlets"
CORPUS = ROOT.parent / "shared" / "corpus"
RSS = "application/rss+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
RFI_PAGE = "rfi/html/RadarFlow_rfi_detail_20251130_taiwan-defense.html"
RFI_URL = "https://www.rfi.fr/cn/%E6%94%BF%E6%B2%BB/20251130-%E5%8F%B0%E6%B9%BE%E5%A2%9E%E5%8A%A0400%E4%BA%BF%E7%BE%8E%E5%85%83%E5%9B%BD%E9%98%B2%E5%BC%80%E6%94%AF-%E5%8A%A0%E9%80%9F%E9%83%A8%E7%BD%B2t-dome%E9%98%B2%E7%A9%BA%E7%B3%BB%E7%BB%9F"
DW_URL = "https://www.dw.com/zh/%E7%89%B9%E6%9C%97%E6%99%AE%E4%B8%BA%E4%B9%8C%E5%85%8B%E5%85%B0%E5%88%B6%E5%AE%9A%E7%9A%84%E5%92%8C%E5%B9%B3%E8%AE%A1%E5%88%92%E6%98%AF%E6%80%8E%E6%A0%B7%E7%9A%84%EF%BC%9F/a-71613509"
VOA_URL = "https://www.voachinese.com/a/cook-islands-says-comprehensive-strategic-partnership-deal-signed-with-china-20250215/7976039.html"
MIRROR = "https://raw.githubusercontent.com/gfw-breaker/epoch-news/master"
MIRROR_PAGES = ["n14079761", "n14078825", "n14079187"]
FEEDX_ITEMS = {
    "rfi": ["1000000", "1000050", "999995", "999996", "999997", "999998", "999999"],
    "dw": ["1022765"],
    "voa": ["1008880"],
}
FEEDX_ITEM_DIRS = {
    "rfi": "rfi/items/duty-machine-news-2023",
    "dw": "dw/items/duty-machine-news-2025",
    "voa": "voa/items/duty-machine-news-2025",
}

RFI_ENTRY = {
    "title": "台湾增加400亿美元国防开支 加速部署T-Dome防空系统",
    "url": RFI_URL,
    "body_html": "法新社消息称，台湾政府计划在未来八年内增加400亿美元的国防开支。",
    "published": "2025-11-30T09:13:47+00:00",
}

CASES: list[dict] = [
    {
        "name": "rfi_feedx",
        "kind": "rfi",
        "callback": "parse_feed",
        "file": "rfi/feedx_rfi_reconstructed.xml",
        "url": "https://feedx.net/rss/rfi.xml",
        "content_type": RSS,
        "feed": {"url": "https://feedx.net/rss/rfi.xml", "via": "feedx", "full_text": True},
        "source": "corpus derived/reconstructed-feedx-rss/rfi.xml (built by us from 7 real duty-machine items)",
        "date": "2023-09..2024-03",
    },
    {
        "name": "rfi_rss",
        "kind": "rfi",
        "callback": "parse_feed",
        "file": "rfi/rfi_rss_built.xml",
        "url": "https://www.rfi.fr/cn/rss",
        "content_type": RSS,
        "feed": {"url": "https://www.rfi.fr/cn/rss", "full_text": False},
        "source": "built by us from the real RFI page (title, canonical URL, chapo, published time)",
        "date": "2025-11-30",
    },
    {
        "name": "rfi_article",
        "kind": "rfi",
        "callback": "parse_article",
        "file": "rfi/rfi_article_20251130_taiwan-defense.html.gz",
        "url": RFI_URL,
        "content_type": HTML,
        "entry": RFI_ENTRY,
        "feed": {"url": "https://www.rfi.fr/cn/rss", "full_text": False},
        "source": "corpus "
        + RFI_PAGE
        + " (hibanabo/RadarFlow fetcher/data/rfi_detail.html @ b4c3ff4b)",
        "date": "2025-11-30",
    },
    {
        "name": "dw_rdf",
        "kind": "dw",
        "callback": "parse_feed",
        "file": "dw/dw_rss-chi-all_2015-03-16.rdf.gz",
        "url": "https://rss.dw.com/rdf/rss-chi-all",
        "content_type": "application/rdf+xml; charset=utf-8",
        "feed": {"url": "https://rss.dw.com/rdf/rss-chi-all", "full_text": False},
        "source": "corpus dw/rss/greatfire_dw.xml_2015-03-16.xml (greatfire/feeds dw.xml @ be498d67)",
        "date": "2015-03-16",
    },
    {
        "name": "dw_feedx",
        "kind": "dw",
        "callback": "parse_feed",
        "file": "dw/feedx_dw_reconstructed.xml",
        "url": "https://feedx.net/rss/dw.xml",
        "content_type": RSS,
        "feed": {"url": "https://feedx.net/rss/dw.xml", "via": "feedx", "full_text": True},
        "source": "corpus derived/reconstructed-feedx-rss/dw.xml (built by us from real item 1022765)",
        "date": "2025-02-15",
    },
    {
        "name": "dw_article",
        "kind": "dw",
        "callback": "parse_article",
        "file": "dw/dw_article_built_a-71613509.html",
        "url": DW_URL,
        "content_type": HTML,
        "entry": {
            "title": "特朗普为乌克兰制定的和平计划是怎样的？",
            "url": DW_URL,
            "body_html": "摘要",
            "published": "2025-02-15T08:03:55+00:00",
        },
        "feed": {"url": "https://rss.dw.com/rdf/rss-chi-all", "full_text": False},
        "source": "built by us from real item dw/items/duty-machine-news-2025/1022765.md (duty-machine/news @ d1511641)",
        "date": "2025-02-15",
    },
    {
        "name": "voa_api",
        "kind": "voa",
        "callback": "parse_feed",
        "file": "voa/voa_api_built.xml",
        "url": "https://www.voachinese.com/api/zm_yql-vomx-tpeybti",
        "content_type": RSS,
        "feed": {"url": "https://www.voachinese.com/api/zm_yql-vomx-tpeybti", "full_text": "auto"},
        "source": "built by us from real item voa/items/duty-machine-news-2025/1008880.md (summary = first paragraph)",
        "date": "2025-02-15",
    },
    {
        "name": "voa_feedx",
        "kind": "voa",
        "callback": "parse_feed",
        "file": "voa/feedx_voa_reconstructed.xml",
        "url": "https://feedx.net/rss/mgzy1.xml",
        "content_type": RSS,
        "feed": {"url": "https://feedx.net/rss/mgzy1.xml", "via": "feedx", "full_text": True},
        "source": "corpus derived/reconstructed-feedx-rss/voa.xml (built by us from real item 1008880)",
        "date": "2025-02-15",
    },
    {
        "name": "voa_article",
        "kind": "voa",
        "callback": "parse_article",
        "file": "voa/voa_article_built_7976039.html",
        "url": VOA_URL,
        "content_type": HTML,
        "entry": {
            "title": "库克群岛证实与中国签署全面战略伙伴协议 讨论开采深海矿产",
            "url": VOA_URL,
            "body_html": "摘要",
            "published": "2025-02-15T08:17:25+00:00",
        },
        "feed": {"url": "https://www.voachinese.com/api/zm_yql-vomx-tpeybti", "full_text": "auto"},
        "source": "built by us from real item voa/items/duty-machine-news-2025/1008880.md (duty-machine/news @ 79dde42e)",
        "date": "2025-02-15",
    },
    {
        "name": "epochtimes_nsc413",
        "kind": "epochtimes",
        "callback": "parse_feed",
        "file": "epochtimes/nsc413_2019-04-04.xml.gz",
        "url": "https://www.epochtimes.com/gb/nsc413.xml",
        "content_type": RSS,
        "feed": {"url": "https://www.epochtimes.com/gb/nsc413.xml", "full_text": True},
        "source": "corpus epochtimes/rss/nsc413_2019-04-04_reconstructed.xml (zztianx1x/zddadfsdaaaa scripts/nsc413.xml @ 14ca0f4f, near-exact transcription)",
        "date": "2019-04-04",
    },
    {
        "name": "epochtimes_nsc424_excerpt",
        "kind": "epochtimes",
        "callback": "parse_feed",
        "file": "epochtimes/nsc424_excerpt_2019-04-04.xml",
        "url": "https://www.epochtimes.com/gb/nsc424.xml",
        "content_type": RSS,
        "feed": {"url": "https://www.epochtimes.com/gb/nsc424.xml", "full_text": True},
        "source": "corpus epochtimes/rss/nsc424_excerpt_first-item_2019-04-04.xml (zztianx1x/zddadfsdaaaa scripts/nsc424.xml @ 14ca0f4f, first item)",
        "date": "2019-04-04",
    },
    {
        "name": "gfwbreaker_readme",
        "kind": "gfwbreaker",
        "callback": "parse_feed",
        "file": "gfwbreaker/indexes_ncid1078159_README.md",
        "url": MIRROR + "/indexes/ncid1078159/README.md",
        "content_type": TEXT,
        "feed": {
            "url": MIRROR + "/indexes/ncid1078159/README.md",
            "via": "gfw-breaker",
            "full_text": True,
        },
        "source": "corpus epochtimes/gfw-breaker-pages/epoch-news/_meta/indexes__ncid1078159__README.md (epic-marker/epoch-news @ 86a31982)",
        "date": "2023-10",
    },
    {
        "name": "gfwbreaker_csv",
        "kind": "gfwbreaker",
        "callback": "parse_feed",
        "file": "gfwbreaker/indexes_ncid1078159_tail200.csv",
        "url": MIRROR + "/indexes/ncid1078159.csv",
        "content_type": TEXT,
        "feed": {
            "url": MIRROR + "/indexes/ncid1078159.csv",
            "via": "gfw-breaker",
            "full_text": True,
        },
        "source": "corpus epochtimes/gfw-breaker-pages/epoch-news/_meta/indexes__ncid1078159.csv, last 200 of 14,675 rows (epic-marker/epoch-news @ 86a31982)",
        "date": "2023-10",
    },
    *[
        {
            "name": f"gfwbreaker_page_{page}",
            "kind": "gfwbreaker",
            "callback": "parse_page",
            "file": f"gfwbreaker/pages_ncid1078159_{page}.md",
            "url": f"{MIRROR}/pages/ncid1078159/{page}.md",
            "content_type": TEXT,
            "feed": {
                "url": MIRROR + "/indexes/ncid1078159/README.md",
                "via": "gfw-breaker",
                "full_text": True,
            },
            "source": f"corpus epochtimes/gfw-breaker-pages/epoch-news/ncid1078159/{page}.md (epic-marker/epoch-news pages/ncid1078159/{page}.md @ 86a31982)",
            "date": "2023-09",
        }
        for page in MIRROR_PAGES
    ],
    {
        "name": "generic_dw_rdf",
        "kind": "generic",
        "callback": "parse_feed",
        "file": "dw/dw_rss-chi-all_2015-03-16.rdf.gz",
        "url": "https://rss.dw.com/rdf/rss-chi-all",
        "content_type": "application/rdf+xml; charset=utf-8",
        "feed": {"url": "https://rss.dw.com/rdf/rss-chi-all", "full_text": "auto"},
        "domains": ["www.dw.de"],
        "source": "same real DW RDF feed as dw_rdf, read by the generic spider",
        "date": "2015-03-16",
    },
    {
        "name": "generic_rfi_article",
        "kind": "generic",
        "callback": "parse_article",
        "file": "rfi/rfi_article_20251130_taiwan-defense.html.gz",
        "url": RFI_URL,
        "content_type": HTML,
        "entry": RFI_ENTRY,
        "feed": {"url": "https://example.org/feed.xml", "full_text": "auto"},
        "source": "same real RFI page as rfi_article, extracted by trafilatura",
        "date": "2025-11-30",
    },
]


def _item_body(path: Path) -> tuple[str, str, str]:
    """(title, url, body) of a five-line item file."""
    lines = path.read_text(encoding="utf-8").split("\n")
    link = lines[1]
    split = link.rfind("](")
    return link[1:split], link[split + 2 : -1], lines[4]


def _paragraphs(body: str) -> list[str]:
    """The outer HTML of the item body's top-level <p> elements."""
    root = lxml_html.fromstring(f"<div>{body}</div>")
    return [lxml_html.tostring(p, encoding="unicode", with_tail=False) for p in root.findall("p")]


def build_dw_page() -> str:
    """A dw.com article page in DW's template, with the text of the real item 1022765."""
    title, _url, body = _item_body(CORPUS / "dw/items/duty-machine-news-2025/1022765.md")
    paragraphs = "\n".join(_paragraphs(body))
    return f"""<!DOCTYPE html>
<!-- BUILT BY US, NOT A REAL PAGE: DW's article template around the text of the real item
     dw/items/duty-machine-news-2025/1022765.md; the junk blocks are typical of the real site. -->
<html lang="zh"><head><meta charset="utf-8"><title>{html.escape(title)} – DW – 2025年2月15日</title>
<meta property="og:image" content="https://static.dw.com/image/71588384_6.jpg">
<script>window.dataLayer = [];</script></head>
<body><header><nav class="main-nav"><a href="/zh/">首页</a><a href="/zh/时政">时政</a></nav></header>
<main><article>
<h1>{html.escape(title)}</h1>
<div class="author-details"><span>Thomas Latschan</span> <time datetime="2025-02-15T08:03:55.243Z">2025年2月15日</time></div>
<figure class="placeholder-image"><picture><img src="https://static.dw.com/image/71588384_303.jpg" alt="特朗普"></picture>
<figcaption>特朗普已分别与俄乌总统通电话，其为乌克兰制定的和平计划已轮廓日益清晰</figcaption></figure>
<div class="share-bar"><button>分享</button><a href="https://www.facebook.com/sharer">Facebook</a></div>
<div class="rich-text">
{paragraphs}
<div class="advertisement"><script>ads.push("mid")</script>广告</div>
<div class="newsletter-box"><p>订阅德国之声中文电子报</p></div>
</div>
<aside class="related-content"><a href="/zh/a-1">相关内容</a></aside>
</article></main>
<footer><p>© 2025 德国之声</p></footer></body></html>
"""


def build_voa_page() -> str:
    """A voachinese.com article page in the Pangea template, with the text of real item 1008880."""
    title, _url, body = _item_body(CORPUS / "voa/items/duty-machine-news-2025/1008880.md")
    paragraphs = "\n".join(_paragraphs(body))
    return f"""<!DOCTYPE html>
<!-- BUILT BY US, NOT A REAL PAGE: VOA's Pangea article template around the text of the real
     item voa/items/duty-machine-news-2025/1008880.md; the junk blocks are typical of the site. -->
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta property="og:image" content="https://gdb.voanews.com/317cea02-2d6e-4b7d-a67e-b30af0868e9a_r1_s_w1200.jpg">
<script src="/Scripts/pangea.js"></script></head>
<body><div id="page"><nav class="nav-menu"><a href="/">首页</a></nav>
<div class="col-title"><h1 class="title pg-title">{html.escape(title)}</h1></div>
<div class="published"><span class="date"><time pubdate="pubdate" datetime="2025-02-15T16:17:25+08:00">2025年2月15日 16:17</time></span></div>
<div class="links"><ul class="share-list"><li><a class="btn--social" href="https://twitter.com/share">分享</a></li></ul></div>
<div class="cover-media"><figure class="media-image js-media-expand"><div class="img-wrap"><div class="thumb thumb16_9">
<img src="https://gdb.voanews.com/317cea02-2d6e-4b7d-a67e-b30af0868e9a_r1_s_w900.jpg" alt="库克群岛总理布朗"></div></div>
<figcaption><span class="caption">库克群岛总理布朗的中国访问之行，参观了位于青岛的国家深海中心。(取自布朗脸书)</span></figcaption></figure></div>
<div class="body-container"><div id="article-content" class="content-floated-wrap fb-quotable"><div class="wsw">
{paragraphs}
<div class="wsw__embed"><div class="media-block"><a href="/a/7975000.html">相关新闻：新西兰回应</a></div></div>
<script>pangea.embed()</script>
</div></div></div>
<div class="comments"><p>评论</p></div>
<footer><p>美国之音</p></footer></div></body></html>
"""


def build_rfi_feed() -> str:
    """An RFI 中文 RSS feed with one item: the real page's title, URL, chapo and time."""
    page = lxml_html.fromstring((CORPUS / RFI_PAGE).read_bytes().decode("utf-8"))
    title = page.xpath("string(//h1)").strip()
    chapo = page.xpath("string(//*[contains(@class,'t-content__chapo')])").strip()
    link = page.xpath("string(//link[@rel='canonical']/@href)")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- BUILT BY US, NOT A REAL FEED: one RFI 中文 RSS item made from the real page
     rfi/html/RadarFlow_rfi_detail_20251130_taiwan-defense.html (title, canonical link, chapo, time). -->
<rss version="2.0"><channel><title>RFI - 法广</title><link>https://www.rfi.fr/cn/</link><description>built fixture</description>
<item><title>{html.escape(title)}</title><link>{html.escape(link)}</link><description>{html.escape(chapo)}</description>
<pubDate>Sun, 30 Nov 2025 09:13:47 GMT</pubDate><guid isPermaLink="false">{html.escape(link)}</guid></item>
</channel></rss>
"""


def build_voa_feed() -> str:
    """A VOA RSS API feed with one item: the real item's title/URL, its first paragraph as summary."""
    title, url, body = _item_body(CORPUS / "voa/items/duty-machine-news-2025/1008880.md")
    first = lxml_html.fromstring(_paragraphs(body)[0]).text_content().strip()
    return f"""<?xml version="1.0" encoding="utf-8"?>
<!-- BUILT BY US, NOT A REAL FEED: one VOA 中文 RSS API item made from the real item
     voa/items/duty-machine-news-2025/1008880.md (summary = its first paragraph). -->
<rss version="2.0"><channel><title>美国之音</title><link>https://www.voachinese.com</link><description>built fixture</description>
<item><title>{html.escape(title)}</title><link>{html.escape(url)}</link><description>{html.escape(first)}</description>
<pubDate>Sat, 15 Feb 2025 08:17:25 GMT</pubDate><guid>{html.escape(url)}</guid></item>
</channel></rss>
"""


def copy_fixtures() -> None:
    """Copy real fixtures and build the others from the corpus (needs ../shared)."""
    if not CORPUS.is_dir():
        raise SystemExit(f"{CORPUS} not found: --copy needs the shared corpus")

    def put(rel: str, data: bytes | str) -> None:
        path = FIXTURES / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = data.encode("utf-8") if isinstance(data, str) else data
        path.write_bytes(gzip.compress(raw, mtime=0) if rel.endswith(".gz") else raw)

    def src(rel: str) -> bytes:
        return (CORPUS / rel).read_bytes()

    put("rfi/rfi_article_20251130_taiwan-defense.html.gz", src(RFI_PAGE))
    put("rfi/rfi_rss_built.xml", build_rfi_feed())
    put("dw/dw_rss-chi-all_2015-03-16.rdf.gz", src("dw/rss/greatfire_dw.xml_2015-03-16.xml"))
    put("dw/dw_article_built_a-71613509.html", build_dw_page())
    put("voa/voa_api_built.xml", build_voa_feed())
    put("voa/voa_article_built_7976039.html", build_voa_page())
    for outlet, ids in FEEDX_ITEMS.items():
        put(
            f"{outlet}/feedx_{outlet}_reconstructed.xml",
            src(f"derived/reconstructed-feedx-rss/{outlet}.xml"),
        )
        for item in ids:
            put(f"{outlet}/items/{item}.md", src(f"{FEEDX_ITEM_DIRS[outlet]}/{item}.md"))
    put(
        "epochtimes/nsc413_2019-04-04.xml.gz",
        src("epochtimes/rss/nsc413_2019-04-04_reconstructed.xml"),
    )
    put(
        "epochtimes/nsc424_excerpt_2019-04-04.xml",
        src("epochtimes/rss/nsc424_excerpt_first-item_2019-04-04.xml"),
    )
    meta = "epochtimes/gfw-breaker-pages/epoch-news/_meta/"
    put("gfwbreaker/indexes_ncid1078159_README.md", src(meta + "indexes__ncid1078159__README.md"))
    rows = src(meta + "indexes__ncid1078159.csv").decode("utf-8").splitlines(keepends=True)
    put("gfwbreaker/indexes_ncid1078159_tail200.csv", "".join(rows[-200:]))
    for page in MIRROR_PAGES:
        put(
            f"gfwbreaker/pages_ncid1078159_{page}.md",
            src(f"epochtimes/gfw-breaker-pages/epoch-news/ncid1078159/{page}.md"),
        )
    # The near-exact Epoch Times feed must still parse as XML after the copy.
    etree.fromstring(
        gzip.decompress((FIXTURES / "epochtimes/nsc413_2019-04-04.xml.gz").read_bytes())
    )


def write_manifest() -> None:
    """Write the corpus-built CASES into manifest.json, keeping cases added there by hand."""
    path = FIXTURES / "manifest.json"
    ours = {case["name"] for case in CASES}
    kept = [case for case in read_manifest() if case["name"] not in ours] if path.exists() else []
    path.write_text(json.dumps(CASES + kept, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def read_manifest() -> list[dict]:
    """Every case of manifest.json (a new outlet adds its cases there: docs/OUTLETS.md)."""
    cases: list[dict] = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    return cases


def write_expected() -> None:
    """Write one <case>.expected.json per manifest case from the current parsers."""
    for case in read_manifest():
        outputs = run_case(case, FIXTURES)
        path = FIXTURES / "expected" / f"{case['name']}.expected.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(outputs, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"{case['name']}: {len(outputs)} outputs")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--copy", action="store_true", help="copy/build fixtures from ../shared first"
    )
    args = parser.parse_args(argv)
    if args.copy:
        copy_fixtures()
        write_manifest()
    write_expected()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
