"""feedx full-text feeds (feedx.net/rss/<outlet>.xml): helpers for their entries.

feedx re-publishes RFI (`rfi.xml`), DW (`dw.xml`) and VOA (`mgzy1.xml`) with the whole article
HTML in `<description>` (CDATA), the outlet's own article URL as `<link>`, and sometimes a footer
(`获取更多RSS：…feedx.best`). The real stored items keep all of it, so the entry body is the
description exactly as the feed carries it: the base spider's feedparser call has its sanitizer
and URI rewriting off for that reason (see `spiders.feeds`). A feedx feed is configured on the
outlet it mirrors (`via: feedx`, `full_text: true`), so its entries carry that outlet's name.
"""

from __future__ import annotations

from conf.schema import FeedConfig

FEEDX_HOSTS = ("feedx.net", "feedx.best", "feedx.site", "feedx.top")
FEEDX_FOOTER_MARK = "获取更多RSS"


def is_feedx(feed: FeedConfig) -> bool:
    """True for a feed served by feedx (by `via`, or by its host)."""
    if (feed.via or "").lower() == "feedx":
        return True
    host = feed.url.split("/")[2].lower() if "://" in feed.url else ""
    return any(host == h or host.endswith("." + h) for h in FEEDX_HOSTS)


def has_feedx_footer(body_html: str) -> bool:
    """True when the body ends with feedx's "more RSS" footer (kept: real items keep it)."""
    return FEEDX_FOOTER_MARK in body_html[-2000:]
