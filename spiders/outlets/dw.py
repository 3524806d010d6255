"""DW 中文 (dw.com/zh): the RSS 1.0/RDF summary feed, and article bodies from the page.

Outlet spec (`SPEC`): feed `https://rss.dw.com/rdf/rss-chi-all` (RDF, one-sentence `<description>`, links
carrying the `?maca=chi-rss-chi-all-…` tracking parameter, e.g.
`http://www.dw.de/格林沃尔德获德国新闻记者奖/a-18317568?maca=chi-rss-chi-all-1127-rdf`), full text
through feedx `https://feedx.net/rss/dw.xml`. Articles live on www.dw.com (older links: dw.de).

No real DW article page exists in our corpus: the selectors follow DW's article template as
served since 2023 (e.g. https://www.dw.com/zh/特朗普为乌克兰制定的和平计划是怎样的？/a-71613509):
`<article>` with `h1`, the teaser `p.teaser-text`, a `time[datetime]`, the lead `<figure>` and the
body `div.rich-text`. The fixture page is built by us from a real item (see PROVENANCE.md).
"""

from __future__ import annotations

from datetime import datetime

from lxml import html as lxml_html

from spiders.fallback import format_date
from spiders.feedx import FEEDX
from spiders.html import body_div, date_div, img_tag
from spiders.spec import DefaultFeed, OutletSpec
from store.urls import IdentityRule, OutletUrls

# Inside `.rich-text`: embedded video players, "related content" and newsletter boxes, and the
# `.advertisement` slots between paragraphs.
DW_JUNK_XPATH = (
    ".//*[contains(@class, 'vjs-wrapper') or contains(@class, 'video-player')"
    " or contains(@class, 'embed') or contains(@class, 'kicker-teaser')]"
)


def _page_date(page: lxml_html.HtmlElement) -> str:
    """The publication time (`time[datetime]` in the article header) as `DD/MM/YYYY - HH:MM` UTC."""
    value = page.xpath("string((//article//time/@datetime | //time/@datetime)[1])").strip()
    if not value:
        value = page.xpath("string(//meta[@property='article:published_time']/@content)").strip()
    try:
        return format_date(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return ""


def extract_dw_body(page_html: str) -> str | None:
    """The article body of a dw.com page in the seeds' shape, or None when it has none."""
    if not page_html or not page_html.strip():
        return None
    page = lxml_html.fromstring(page_html)
    # `div.rich-text` is the article text container; the first one inside <article> is the body.
    containers = page.xpath(
        "//article//*[contains(concat(' ', normalize-space(@class), ' '), ' rich-text ')]"
    ) or page.xpath("//*[contains(concat(' ', normalize-space(@class), ' '), ' rich-text ')]")
    if not containers:
        return None
    body = body_div(containers[0], DW_JUNK_XPATH)
    if not body:
        return None
    # The lead <figure> precedes the body inside <article>; og:image is the same picture.
    image = page.xpath("string((//article//figure//img/@src)[1])").strip()
    image = image or page.xpath("string(//meta[@property='og:image']/@content)").strip()
    teaser = page.xpath("string((//article//p[contains(@class,'teaser-text')])[1])").strip()
    lead = f"<p><strong>{_escape(teaser)}</strong></p>" if teaser else ""
    return date_div(_page_date(page)) + img_tag(image or None) + lead + body


def _escape(text: str) -> str:
    """Escape text for HTML content."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SPEC = OutletSpec(
    kind="dw",
    title="DW 中文",
    # dw.de: the 2015 RDF feed's links; dw.com: today's.
    domains=("dw.com", "dw.de"),
    feeds=(
        DefaultFeed("https://rss.dw.com/rdf/rss-chi-all", full_text=False),
        DefaultFeed("https://feedx.net/rss/dw.xml", full_text=True, via="feedx"),
    ),
    intermediaries=(FEEDX,),
    urls=OutletUrls(
        # https://www.dw.com/zh/<slug>/a-67150547, http://www.dw.de/<slug>/a-18317568?maca=…
        # Some DW slugs end in a real "?" (…美国?/a-55281475): the rule also sees path + query.
        identity=IdentityRule("dw.com", r"^/(?:[^#]*/)?a-(\d+)(?:/|$)", "https://dw.com/a-{0}"),
        aliases=(("dw.de", "dw.com"),),
        tracking=("maca",),  # the RSS feed's ?maca=chi-rss-chi-all-1127-rdf
    ),
    page_extractor=extract_dw_body,
    identity_examples=(
        (
            "http://www.dw.de/格林沃尔德获德国新闻记者奖/a-18317568?maca=chi-rss-chi-all-1127-rdf",
            "https://dw.com/a-18317568",
        ),
        (
            "https://www.dw.com/zh/特朗普为乌克兰制定的和平计划是怎样的？/a-71613509",
            "https://dw.com/a-71613509",
        ),
    ),
)
