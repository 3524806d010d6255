"""Rendering contract: a feedx entry rendered through store gives the bytes of the real item.

The feeds are our reconstructions (derived/reconstructed-feedx-rss) of real duty-machine items;
the item files next to them are the real items, byte for byte (see PROVENANCE.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spiders.feedx import FEEDX
from spiders.outlets import SPECS
from spiders.testing import collect, make_response, make_spider, read_fixture
from store.format import parse_item, render_item
from store.normalize import to_stored_item

FIXTURES = Path(__file__).parent / "fixtures" / "outlets"
FAR_FUTURE_MS = 4_102_444_800_000  # 2100-01-01: first-seen after every published time
# Every registered outlet that feedx re-publishes: its default feedx feed, by its spec.
FEEDX_FEEDS = {
    kind: feed.config()
    for kind, spec in SPECS.items()
    for feed in spec.feeds
    if FEEDX.serves(feed.config())
}


def test_the_outlets_feedx_serves_are_found_in_their_specs() -> None:
    assert sorted(FEEDX_FEEDS) == ["dw", "rfi", "voa"]


@pytest.mark.parametrize("outlet", sorted(FEEDX_FEEDS))
def test_feedx_entries_render_to_real_item_bytes(outlet: str) -> None:
    feed = FEEDX_FEEDS[outlet]
    url = feed.url
    spider = make_spider(outlet, feed)
    body = read_fixture(FIXTURES / outlet / f"feedx_{outlet}_reconstructed.xml")
    response = make_response(url, body, "application/rss+xml; charset=utf-8", {"feed": feed})
    entries = collect(spider.parse_feed(response))
    real = {}
    for path in sorted((FIXTURES / outlet / "items").glob("*.md")):
        data = path.read_bytes()
        real[parse_item(data).url] = data
    assert len(entries) == len(real) > 0
    for entry in entries:
        assert entry.full_text and entry.published is not None
        item = to_stored_item(
            entry.title,
            entry.url,
            entry.body_html,
            int(entry.published.timestamp() * 1000),
            FAR_FUTURE_MS,
        )
        rendered = render_item(item)
        assert rendered == real[item.url], f"{entry.url} does not render to its real item"
