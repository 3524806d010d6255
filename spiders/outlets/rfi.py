"""RFI 中文 (rfi.fr/cn): the summary-only RSS feed, and article bodies from the page.

Outlet spec (`SPEC`): feed `https://www.rfi.fr/cn/rss` (RSS 2.0, one-paragraph `<description>`), full text
through feedx `https://feedx.net/rss/rfi.xml`. Articles live on www.rfi.fr.

The body keeps the seeds' shape (`seeds/000_*.txt`, `001_*.txt`, both feedx copies of rfi.fr
pages): `<div>DD/MM/YYYY - HH:MM</div><img src="…/w:1280/…"><p><strong>chapo</strong></p>
<div><p>…</p>…</div>`, minus the ads, app/newsletter promos and author/share blocks.
"""

from __future__ import annotations

import re

from lxml import html as lxml_html

from spiders.feedx import FEEDX
from spiders.html import body_div, date_div, img_tag
from spiders.spec import DefaultFeed, OutletSpec
from store.urls import OutletUrls

# Seeds' lead images are the 1280-wide rendition: `…/w:1280/p:16x9/…jpg`; the page's <img> src
# is the 1024 one, its og:image the 1280 one.
_WIDTH = re.compile(r"/w:\d+/")
# Inside `.t-content__body`: the "继续浏览后续" interstitial ad wrapper and the app/newsletter
# self-promotion blocks (`data-selfpromo-newsletter`, `data-selfpromo-app`), seen in
# https://www.rfi.fr/cn/政治/20251130-台湾增加400亿美元国防开支-加速部署t-dome防空系统
RFI_JUNK_XPATH = (
    ".//*[contains(@class, 'm-interstitial') or @data-selfpromo-newsletter"
    " or @data-selfpromo-app or @data-tms-ad-type or contains(@class, 'm-block-ad')]"
)


# One pass over the page finds every marked block; five XPath searches of the whole 120 KB
# page took more time than parsing it.
_MARKED = "//*[contains(@class, 't-content__') or contains(@class, 'm-pub-dates')]"


def _first(marked: list[lxml_html.HtmlElement], css_class: str, xpath: str) -> str:
    """`xpath` (a string expression) of the first marked element whose class contains `css_class`."""
    for element in marked:
        if css_class in element.get("class", ""):
            found = element.xpath(xpath)
            if found:
                return str(found)
    return ""


def lead_image(page: lxml_html.HtmlElement, marked: list[lxml_html.HtmlElement]) -> str | None:
    """The lead image at width 1280 (the seeds' size), from the main media, else og:image."""
    # `.t-content__main-media` holds the one figure above the body; its srcset tops at w:1024.
    src = _first(marked, "t-content__main-media", "string(.//img/@src)")
    if src:
        return _WIDTH.sub("/w:1280/", src.strip(), count=1)
    og = page.xpath("string(//meta[@property='og:image']/@content)")
    return og.strip() or None


def extract_rfi_body(page_html: str) -> str | None:
    """The article body of an rfi.fr page in the seeds' shape, or None when it has none."""
    if not page_html or not page_html.strip():
        return None
    page = lxml_html.fromstring(page_html)
    marked = page.xpath(_MARKED)
    bodies = [e for e in marked if "t-content__body" in e.get("class", "").split()]
    if not bodies:
        return None
    body = body_div(bodies[0], RFI_JUNK_XPATH)
    if not body:
        return None
    # `.m-pub-dates time` text is the Paris-time "30/11/2025 - 10:13" the seeds show.
    date_text = _first(marked, "m-pub-dates", "string((.//time)[1])")
    chapo_text = _first(marked, "t-content__chapo", "string(.)")
    chapo = ""
    if chapo_text.strip():
        # Seeds keep the chapo's trailing blanks ("…合作。      </strong>"): only the start is trimmed.
        chapo = "<p><strong>" + _escape(chapo_text.lstrip()) + "</strong></p>"
    return date_div(date_text) + img_tag(lead_image(page, marked)) + chapo + body


def _escape(text: str) -> str:
    """Escape text for HTML content."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SPEC = OutletSpec(
    kind="rfi",
    title="RFI 中文",
    domains=("rfi.fr",),
    feeds=(
        # Summary only: article pages are fetched for the body.
        DefaultFeed("https://www.rfi.fr/cn/rss", full_text=False),
        DefaultFeed("https://feedx.net/rss/rfi.xml", full_text=True, via="feedx"),
    ),
    intermediaries=(FEEDX,),
    # No identity rule: rfi.fr URLs carry no article id (the slug is the identity).
    urls=OutletUrls(tracking=("xtor",)),  # AT Internet (France Médias Monde) click tracking
    page_extractor=extract_rfi_body,
    identity_examples=(
        # A real item's URL (tests/fixtures/outlets/rfi/items/1000050.md), here with the
        # ?xtor= tag RFI's newsletters and RSS links add.
        (
            "http://www.rfi.fr/cn/中东/20230924-柏林-日报-中国在中东的影响力日益增加?xtor=RSS-1",
            "https://rfi.fr/cn/%E4%B8%AD%E4%B8%9C/20230924-%E6%9F%8F%E6%9E%97-%E6%97%A5%E6%8A%A5"
            "-%E4%B8%AD%E5%9B%BD%E5%9C%A8%E4%B8%AD%E4%B8%9C%E7%9A%84%E5%BD%B1%E5%93%8D%E5%8A%9B"
            "%E6%97%A5%E7%9B%8A%E5%A2%9E%E5%8A%A0",
        ),
    ),
)
