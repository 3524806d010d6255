"""feedx full-text feeds (feedx.net/rss/<outlet>.xml): the intermediary's spec.

feedx re-publishes RFI (`rfi.xml`), DW (`dw.xml`) and VOA (`mgzy1.xml`) with the whole article
HTML in `<description>` (CDATA), the outlet's own article URL as `<link>`, and sometimes a footer
(`获取更多RSS：…feedx.best`). The real stored items keep all of it, so the entry body is the
description exactly as the feed carries it: the base spider's feedparser call has its sanitizer
and URI rewriting off for that reason (see `spiders.feeds`). A feedx feed is configured on the
outlet it mirrors (`via: feedx`, `full_text: true`), so its entries carry that outlet's name;
the outlets that feedx serves name `FEEDX` among their intermediaries.
"""

from __future__ import annotations

from dedup.text import Boilerplate
from spiders.spec import Intermediary

FEEDX = Intermediary(
    name="feedx",
    hosts=("feedx.net", "feedx.best", "feedx.site", "feedx.top"),
    full_text=True,  # a feedx entry always carries the whole article
    # The footer is kept in stored items, never compared: "获取更多RSS：https://feedx.best/rss/…"
    boilerplate=Boilerplate(cut_rest=(r"获取更多rss\s*:?.*",)),
)
