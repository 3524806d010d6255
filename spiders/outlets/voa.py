"""VOA 中文 (voachinese.com): the site's RSS API feed, and article bodies from the page.

Outlet spec (`SPEC`): feed `https://www.voachinese.com/api/zm_yql-vomx-tpeybti` (RSS 2.0 from VOA's
Pangea CMS; `full_text: auto` decides per entry), full text through feedx `mgzy1.xml`.

No real VOA article page exists in our corpus: the selectors follow the Pangea article template
(e.g. https://www.voachinese.com/a/cook-islands-says-comprehensive-strategic-partnership-deal-signed-with-china-20250215/7976039.html):
`div.published time[datetime]`, the lead picture in `div.cover-media`, the body paragraphs in
`#article-content .wsw` with embeds (`.wsw__embed`: related links, players) between them. The
fixture page is built by us from a real item (see PROVENANCE.md).
"""

from __future__ import annotations

from datetime import datetime

from lxml import html as lxml_html

from spiders.fallback import format_date
from spiders.feedx import FEEDX
from spiders.html import body_div, date_div, img_tag
from spiders.spec import DefaultFeed, OutletSpec
from store.urls import IdentityRule, OutletUrls

# `.wsw__embed` blocks hold related-article links, audio/video players and polls; an embed that
# is only a picture (`figure.media-image`) stays, the rest goes.
VOA_JUNK_XPATH = (
    ".//*[contains(@class, 'wsw__embed') and not(.//figure[contains(@class, 'media-image')])]"
    " | .//*[contains(@class, 'media-pholder')]"
)


def _page_date(page: lxml_html.HtmlElement) -> str:
    """The `div.published time[datetime]` value as `DD/MM/YYYY - HH:MM` UTC, or ''."""
    value = page.xpath(
        "string((//*[contains(@class,'published')]//time/@datetime | //time/@datetime)[1])"
    ).strip()
    try:
        return format_date(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return ""


def extract_voa_body(page_html: str) -> str | None:
    """The article body of a voachinese.com page in the seeds' shape, or None."""
    if not page_html or not page_html.strip():
        return None
    page = lxml_html.fromstring(page_html)
    containers = page.xpath(
        "//*[@id='article-content']//*[contains(concat(' ', normalize-space(@class), ' '), ' wsw ')]"
    )
    if not containers:
        return None
    body = body_div(containers[0], VOA_JUNK_XPATH)
    if not body:
        return None
    image = page.xpath("string((//*[contains(@class,'cover-media')]//img/@src)[1])").strip()
    image = image or page.xpath("string(//meta[@property='og:image']/@content)").strip()
    return date_div(_page_date(page)) + img_tag(image or None) + body


SPEC = OutletSpec(
    kind="voa",
    title="VOA 中文",
    domains=("voachinese.com",),
    feeds=(
        DefaultFeed("https://www.voachinese.com/api/zm_yql-vomx-tpeybti", full_text="auto"),
        DefaultFeed("https://feedx.net/rss/mgzy1.xml", full_text=True, via="feedx"),
    ),
    intermediaries=(FEEDX,),
    urls=OutletUrls(
        # https://www.voachinese.com/a/<slug>/7856214.html and /a/7856214.html
        identity=IdentityRule(
            "voachinese.com", r"^/a/(?:[^/?#]+/)?(\d+)\.html$", "https://voachinese.com/a/{0}"
        ),
    ),
    page_extractor=extract_voa_body,
    identity_examples=(
        (
            "https://www.voachinese.com/a/cook-islands-says-comprehensive-strategic-partnership-deal-signed-with-china-20250215/7976039.html",
            "https://voachinese.com/a/7976039",
        ),
    ),
)
