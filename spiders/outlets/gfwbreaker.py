"""gfw-breaker markdown mirror of the Epoch Times (github.com/gfw-breaker/epoch-news and forks).

Outlet spec (`SPEC`): a "feed" is a mirror channel index, either the channel README
(`indexes/<channel>/README.md`: lines `#### [title](../../pages/<channel>/n<id>.md?<tag>)`,
newest first, e.g. `#### [专家：中国GDP增幅 不可能有5.2%…](../../pages/ncid1078159/n14100040.md?10211645)`)
or the channel csv (`indexes/<channel>.csv`: lines `n<id>,title`, oldest first). Each page
(`pages/<channel>/n<id>.md`, e.g. `pages/ncid1078159/n14079761.md`, seed `002_…`) is parsed with
`store.imports.parse_mirror_page` into an entry whose URL is the page's 原文链接 article URL.
`spiders.index.IndexSpider` crawls it: index -> newest pages -> entries.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

from dedup.text import Boilerplate
from spiders.items import FeedEntry
from spiders.spec import DefaultFeed, OutletSpec
from store.format import ItemFormatError
from store.imports import parse_mirror_page
from store.urls import MirrorRule, OutletUrls

# Only links to mirror pages; the README also lists ad links (e.g. `http://138.2.39.72:81/…`).
README_LINK = re.compile(
    r"^####\s*\[(?P<title>.*)\]\((?P<href>[^)\s]*pages/[^/)\s]+/n\d+\.md)(?:\?[^)]*)?\)"
)
CSV_ROW = re.compile(r"^(?P<id>n\d+),(?P<title>.*)$")
CSV_PATH = re.compile(r"^(?P<root>.*)/indexes/(?P<channel>[^/]+)\.csv$")


def index_links(text: str, index_url: str) -> list[tuple[str, str]]:
    """(page URL, title) pairs of a channel index (README or csv), newest first, no duplicates."""
    pairs: list[tuple[str, str]] = []
    parts = urlsplit(index_url)
    csv_path = CSV_PATH.match(parts.path)
    lines = text.lstrip("\ufeff").splitlines()
    if csv_path:
        root, channel = csv_path["root"], csv_path["channel"]
        for line in reversed(lines):  # the csv is oldest first
            row = CSV_ROW.match(line.strip())
            if row:
                path = f"{root}/pages/{channel}/{row['id']}.md"
                pairs.append((urlunsplit((parts.scheme, parts.netloc, path, "", "")), row["title"]))
    else:
        for line in lines:
            link = README_LINK.match(line.strip())
            if link:
                pairs.append((urljoin(index_url, link["href"]), link["title"].strip()))
    seen: set[str] = set()
    unique = []
    for url, title in pairs:
        if url not in seen:
            seen.add(url)
            unique.append((url, title))
    return unique


def entry_from_page(text: str, page_url: str, outlet_name: str, feed_url: str) -> FeedEntry:
    """A FeedEntry from a mirror page; raises ItemFormatError when it is not one."""
    published: datetime | None
    try:
        item = parse_mirror_page(text)
        published = datetime.fromtimestamp(item.ts / 1000, tz=UTC)
    except ItemFormatError as exc:
        if "no date" not in str(exc):
            raise
        # A page with no date anywhere: the entry gets none; first-seen time applies later.
        item = parse_mirror_page(text, first_seen_ms=int(time.time() * 1000))
        published = None
    return FeedEntry(
        outlet=outlet_name,
        title=item.title,
        url=item.url,
        body_html=item.body,
        published=published,
        guid=page_url,
        feed_url=feed_url,
        full_text=True,
    )


SPEC = OutletSpec(
    kind="gfwbreaker",
    title="大纪元 (gfw-breaker mirror)",
    domains=("github.com", "raw.githubusercontent.com"),
    feeds=(
        DefaultFeed(
            "https://raw.githubusercontent.com/gfw-breaker/epoch-news/master/indexes/ncid1078159/README.md",
            via="gfw-breaker",
        ),
    ),
    urls=OutletUrls(
        # A mirror page is never the article: its identity is the page's 原文链接 URL.
        mirror=MirrorRule(
            hosts=r"gfw-breaker\.win|[a-z0-9\-]+\.github\.io|github\.com|raw\.githubusercontent\.com",
            paths=r"/pages/[^/]+/n\d+\.md|gfw-breaker|banned-news|epoch-news|mh-news",
        )
    ),
    boilerplate=Boilerplate(
        # The mirror's share-this-page box ends the article.
        cut_rest=("手机上长按并复制下列链接或二维码分享本文章.*",),
        drop_lines=(
            r"^#{1,6}\s*(?:💥\s*)?\[",  # markdown navigation bars
            r"\]\((?:https?:)?[^)]*\)\s*(?:&nbsp;|\|)",  # "[a](x) | [b](y)" link lists
            r"gfw-breaker|\(需翻墙",  # counter image, 原文链接(需翻墙) (after NFKC)
        ),
    ),
    trafilatura_fallback=False,
    index_links=index_links,
    page_entry=entry_from_page,
)
