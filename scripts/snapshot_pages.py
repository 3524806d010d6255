"""Feeds and article pages the snapshot builder makes from real items (scripts/build_snapshot.py).

The corpus has real items (the archive format) but, apart from one RFI page and a few feeds, no
raw feeds or article HTML for them. These functions wrap a real item's title, URL, time and body
in the outlet's feed or page markup, so that the outlet's spider reads back the item's own text:
a page's body container holds the item's blocks verbatim, and a feedx entry renders to the real
item byte for byte. Every document made here carries a `BUILT BY` comment.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from lxml import html as lxml_html

BUILT_MARK = "BUILT BY feedwatch scripts/build_snapshot.py"
SUMMARY_CHARS = 120  # a summary feed's description: the lead's first characters


@dataclass
class Item:
    """A real item of the corpus, as the archive format holds it."""

    source: str  # corpus path
    ts: int
    title: str
    url: str
    body: str  # one line of HTML

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.ts / 1000, tz=UTC)


def http_date(when: datetime) -> str:
    """RFC 1123 date, as RSS 2.0 and HTTP headers want it."""
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def plain_text(fragment: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    if not fragment.strip():
        return ""
    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    for junk in root.xpath(".//script|.//style"):
        junk.drop_tree()
    return re.sub(r"\s+", " ", root.text_content()).strip()


def summary_of(item: Item) -> str:
    """A one-sentence summary: the first paragraph's text, cut at SUMMARY_CHARS."""
    root = lxml_html.fragment_fromstring(item.body, create_parent="div")
    for block in root.iter("p"):
        text = re.sub(r"\s+", " ", block.text_content()).strip()
        if len(text) >= 20:
            return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS] + "…"
    return plain_text(item.body)[:SUMMARY_CHARS]


# -- feeds ----------------------------------------------------------------------------------------


def rss(channel: dict[str, str], entries: list[dict[str, str]], comment: str) -> bytes:
    """An RSS 2.0 document. Entry keys: title, link, description (HTML, in CDATA), pubDate,
    optional content (an un-namespaced `<content>` element, as the Epoch Times' WordPress feeds
    have) and source (an XML comment naming the corpus item)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f"<!-- {comment} -->", '<rss version="2.0">']
    out.append("<channel>")
    for key in ("title", "link", "description", "language", "lastBuildDate"):
        if channel.get(key):
            out.append(f"<{key}>{escape(channel[key])}</{key}>")
    for entry in entries:
        out.append("<item>")
        out.append(f"<title>{escape(entry['title'])}</title>")
        out.append(f"<link>{escape(entry['link'])}</link>")
        out.append(f"<pubDate>{entry['pubDate']}</pubDate>")
        out.append(f"<description>{_cdata(entry['description'])}</description>")
        if entry.get("content"):
            out.append(f"<content>{_cdata(entry['content'])}</content>")
        out.append(f'<guid isPermaLink="true">{escape(entry["link"])}</guid>')
        if entry.get("source"):
            out.append(f"<!-- source: {entry['source']} -->")
        out.append("</item>")
    out += ["</channel>", "</rss>"]
    return ("\n".join(out) + "\n").encode("utf-8")


def rss_entry(item: Item, description: str, **extra: str) -> dict[str, str]:
    """The RSS entry of a real item (title, link and time are the item's)."""
    entry = {
        "title": item.title,
        "link": item.url,
        "description": description,
        "pubDate": http_date(item.when),
        "source": item.source,
    }
    entry.update(extra)
    return entry


def feedx_feed(title: str, items: list[Item]) -> bytes:
    """A feedx full-text feed: description = the item's body, so each entry renders to the item."""
    newest = max(item.when for item in items)
    channel = {
        "title": title,
        "link": "https://feedx.net",
        "description": f"{title} (feedx)",
        "lastBuildDate": http_date(newest),
    }
    comment = (
        f"{BUILT_MARK}: not a real feedx feed. Each entry is a real feedx item of the corpus "
        "(title, link, time, full body); channel metadata is ours."
    )
    return rss(channel, [rss_entry(i, i.body) for i in items], comment)


def dw_rdf(items: list[Item], link_suffix: str) -> bytes:
    """DW's RSS 1.0 (RDF) summary feed in the shape of the real 2015 `rss-chi-all` feed."""
    newest = max(item.when for item in items).strftime("%Y-%m-%dT%H:%M:%SZ")
    links = [item.url + link_suffix for item in items]
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<!-- {BUILT_MARK}: not a real DW feed. RDF in the shape of the real rss-chi-all feed"
        " (dw/rss/greatfire_dw.xml_2015-03-16.xml); entries are real DW items of October 2020"
        " (title, link + DW's maca tracking parameter, time, first sentence as summary). -->",
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">',
        ' <channel rdf:about="http://partner.dw.de/syndication/feeds/rss-chi-all.1127.rdf">',
        "  <description>Deutsche Welle: DW.COM</description>",
        f"  <link>https://www.dw.com/zh/{escape(link_suffix)}</link>",
        "  <title>Deutsche Welle: DW.COM</title>",
        f"  <dc:date>{newest}</dc:date>",
        "  <items>",
        "   <rdf:Seq>",
    ]
    out += [f'    <rdf:li rdf:resource="{escape(link)}"/>' for link in links]
    out += ["   </rdf:Seq>", "  </items>", " </channel>"]
    for item, link in zip(items, links, strict=True):
        out += [
            f' <item rdf:about="{escape(link)}">',
            f"  <title>{escape(item.title)}</title>",
            f"  <link>{escape(link)}</link>",
            f"  <description>{escape(summary_of(item))}</description>",
            f"  <dc:date>{item.when.strftime('%Y-%m-%dT%H:%M:%SZ')}</dc:date>",
            f"  <!-- source: {item.source} -->",
            " </item>",
        ]
    out.append("</rdf:RDF>")
    return ("\n".join(out) + "\n").encode("utf-8")


# -- article pages --------------------------------------------------------------------------------


def _blocks(body: str) -> list[lxml_html.HtmlElement]:
    return list(lxml_html.fragment_fromstring(body, create_parent="div"))


def _outer(element: lxml_html.HtmlElement) -> str:
    return lxml_html.tostring(element, encoding="unicode", with_tail=False)


def _page_comment(item: Item, template: str) -> str:
    return (
        f"<!-- {BUILT_MARK}: NOT a real page. {template} around the blocks of the real item "
        f"{item.source} (title, link, time, body verbatim). -->"
    )


def rfi_page(item: Item) -> bytes:
    """An rfi.fr article page: `.m-pub-dates time`, `.t-content__main-media`, `__chapo`, `__body`.

    The item (feedx's copy of the real page) is `<div>date</div><img><p><strong>chapo</strong></p>
    <div class="t-content__body">…</div>`; each part goes back where the page had it.
    """
    date = image = chapo = ""
    body: list[str] = []
    for block in _blocks(item.body):
        if block.tag == "div" and not date and not block.get("class") and len(block) == 0:
            date = (block.text or "").strip()
        elif block.tag == "img" and not image:
            image = block.get("src", "")
        elif block.tag == "p" and not chapo and block.find("strong") is not None and not body:
            chapo = block.find("strong").text_content()
        elif "t-content__body" in (block.get("class") or ""):
            body.append("".join([block.text or ""] + [_outer(c) + (c.tail or "") for c in block]))
        else:
            body.append(_outer(block))
    iso = item.when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    page = f"""<!DOCTYPE html>
{_page_comment(item, "RFI's article template")}
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{html.escape(item.title)} - RFI - 法国国际广播电台</title>
<link rel="canonical" href="{html.escape(item.url)}">
<meta property="og:title" content="{html.escape(item.title)}">
<meta property="og:image" content="{html.escape(image)}">
<meta property="article:published_time" content="{iso}">
</head>
<body>
<main>
<article class="t-content t-content--article">
<h1 class="a-page-title">{html.escape(item.title)}</h1>
<div class="m-pub-dates"><span>发表时间：</span><time datetime="{iso}">{html.escape(date)}</time></div>
<div class="t-content__main-media"><figure><img src="{html.escape(image)}" alt=""></figure></div>
<div class="t-content__chapo">{html.escape(chapo)}</div>
<div class="t-content__body u-clearfix">{"".join(body)}</div>
<div class="m-em-share"><a href="https://www.facebook.com/sharer">分享</a></div>
</article>
</main>
</body>
</html>
"""
    return page.encode("utf-8")


def _with_paragraph_lines(blocks: list[lxml_html.HtmlElement]) -> tuple[str, list[str]]:
    """(lead image, blocks as HTML): feedx's byline/caption `<div>`s become `<p>`s, as the
    pages' templates set them, so the extracted text keeps those lines."""
    image = ""
    out = []
    for block in blocks:
        if block.tag == "img" and not image:
            image = block.get("src", "")
            continue
        for div in [block, *block.iter("div")]:
            if div.tag == "div" and len(div) and all(c.tag in ("i", "small", "br") for c in div):
                div.tag = "p"
                div.attrib.clear()
        out.append(_outer(block))
    return image, out


def dw_page(item: Item) -> bytes:
    """A dw.com article page: `<article>`, `h1`, the lead `<figure>`, `div.rich-text`."""
    image, blocks = _with_paragraph_lines(_blocks(item.body))
    page = f"""<!DOCTYPE html>
{_page_comment(item, "DW's article template")}
<html lang="zh">
<head>
<meta charset="utf-8">
<title>{html.escape(item.title)} – DW</title>
<link rel="canonical" href="{html.escape(item.url)}">
<meta property="og:image" content="{html.escape(image)}">
</head>
<body>
<main>
<article>
<h1>{html.escape(item.title)}</h1>
<figure class="placeholder-image"><picture><img src="{html.escape(image)}" alt=""></picture></figure>
<div class="share-bar"><button>分享</button></div>
<div class="rich-text">
{chr(10).join(blocks)}
</div>
</article>
</main>
</body>
</html>
"""
    return page.encode("utf-8")


def voa_page(item: Item) -> bytes:
    """A voachinese.com page in the Pangea template: `div.cover-media`, `#article-content .wsw`."""
    image, blocks = _with_paragraph_lines(_blocks(item.body))
    page = f"""<!DOCTYPE html>
{_page_comment(item, "VOA's Pangea article template")}
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{html.escape(item.title)}</title>
<link rel="canonical" href="{html.escape(item.url)}">
<meta property="og:image" content="{html.escape(image)}">
</head>
<body>
<div id="page">
<div class="col-title"><h1 class="title pg-title">{html.escape(item.title)}</h1></div>
<div class="cover-media"><figure class="media-image"><img src="{html.escape(image)}" alt=""></figure></div>
<div class="body-container"><div id="article-content" class="content-floated-wrap"><div class="wsw">
{chr(10).join(blocks)}
</div></div></div>
</div>
</body>
</html>
"""
    return page.encode("utf-8")
