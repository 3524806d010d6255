"""Round trips of the five-line item format over every real item and over generated ones."""

from __future__ import annotations

import calendar
from pathlib import Path

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.format import ItemFormatError, StoredItem, parse_item, render_item
from store.normalize import clean_title, one_line, to_stored_item
from store.urls import serialize_url

FIXTURES = Path(__file__).parent / "fixtures" / "store"
REAL_ITEMS = sorted((FIXTURES / "items").iterdir())


def test_all_real_items_are_present() -> None:
    # 4 seeds in the item format + 9 duty-machine items: all real files of this shape we have.
    assert len(REAL_ITEMS) == 13


@pytest.mark.parametrize("path", REAL_ITEMS, ids=lambda p: p.name)
def test_real_item_round_trips_byte_exact(path: Path) -> None:
    data = path.read_bytes()
    item = parse_item(data)
    assert render_item(item) == data


@pytest.mark.parametrize("path", REAL_ITEMS, ids=lambda p: p.name)
def test_real_item_fields_are_already_normalized(path: Path) -> None:
    """Normalizing a real item's fields again changes nothing: our rules match the real shape."""
    item = parse_item(path.read_bytes())
    again = to_stored_item(item.title, item.url, item.body, item.ts, item.ts)
    assert again == item


def test_one_line_trims_every_line_and_joins_without_separator() -> None:
    html = "<div>\n  <p>一</p>\u3000\r\n\t<p> 二 </p>\n\n</div>\n"
    assert one_line(html) == "<div><p>一</p><p> 二 </p></div>"


def test_one_line_keeps_inner_spaces_and_nbsp_inside_lines() -> None:
    # Real RFI bodies keep runs of spaces inside a line (seed 000: "…担忧。      </strong>").
    assert one_line("<strong>a      </strong>\n") == "<strong>a      </strong>"
    assert one_line("\xa0a\xa0b\xa0") == "a\xa0b"


def test_clean_title_keeps_inner_runs_but_joins_lines() -> None:
    # Real titles keep double spaces and U+3000 ("希腊克里特岛外海连传地震  规模5.0以上").
    assert clean_title("地震  规模5.0") == "地震  规模5.0"
    assert clean_title("  第一行 \n  第二行\r\n第三行\n") == "第一行 第二行 第三行"
    assert clean_title("a\u2028b\x85c") == "a b c"
    assert len(clean_title("x\u2029\x0by\x1cz").splitlines()) == 1


def test_ts_rules() -> None:
    seen = 1_700_000_000_000
    assert to_stored_item("t", "https://a.com/", "b", seen - 5, seen).ts == seen - 5
    assert to_stored_item("t", "https://a.com/", "b", None, seen).ts == seen
    assert to_stored_item("t", "https://a.com/", "b", seen + 1, seen).ts == seen
    assert to_stored_item("t", "https://a.com/", "b", 0, seen).ts == seen
    assert to_stored_item("t", "https://a.com/", "b", -1, seen).ts == seen


def test_url_that_would_break_the_link_line_is_escaped() -> None:
    item = to_stored_item("a](b", "https://x.com/p](q)", "body", None, 1)
    assert parse_item(render_item(item)) == item


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<!--12-->\n[t](u)\n------\n\nbody", "5 lines"),
        (b"<!--x-->\n[t](u)\n------\n\nbody\n", "line 1"),
        (b"<!--1-->\nt(u)\n------\n\nbody\n", "line 2"),
        (b"<!--1-->\n[t](u)\n-----\n\nbody\n", "lines 3-4"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_bad_item_bytes_raise_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ItemFormatError, match=reason):
        parse_item(data)


_HOSTS = st.sampled_from(
    [
        "https://www.rfi.fr/cn/",
        "https://www.dw.com/zh/",
        "http://www.voachinese.com/a/",
        "https://例子.中国/",
    ]
)
_SEGMENT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#"), max_size=20
)


@st.composite
def realistic_urls(draw: st.DrawFn) -> str:
    segments = draw(st.lists(_SEGMENT, min_size=1, max_size=4))
    url = draw(_HOSTS) + "/".join(segments)
    if draw(st.booleans()):
        url += "?" + draw(_SEGMENT)
    return url


@settings(max_examples=300, deadline=None)
@given(
    title=st.text(),
    url=realistic_urls(),
    body=st.text(),
    published=st.one_of(st.none(), st.integers(min_value=-(10**13), max_value=4 * 10**12)),
    first_seen=st.integers(min_value=0, max_value=4 * 10**12),
)
def test_generated_items_render_five_lines_and_round_trip(
    title: str, url: str, body: str, published: int | None, first_seen: int
) -> None:
    item = to_stored_item(title, url, body, published, first_seen)
    data = render_item(item)
    text = data.decode("utf-8")
    lines = text.split("\n")
    assert len(lines) == 6 and lines[5] == "" and lines[1].startswith("[")
    parsed = parse_item(data)
    assert parsed == item
    assert render_item(parsed) == data
    # Normalizing a stored item again is a no-op (the pipeline may run twice on one item).
    assert to_stored_item(parsed.title, parsed.url, parsed.body, parsed.ts, parsed.ts) == item
    assert serialize_url(parsed.url) == parsed.url


def test_stored_item_is_immutable() -> None:
    item = StoredItem(ts=1, title="t", url="https://a.com/", body="b")
    with pytest.raises(AttributeError):
        item.ts = 2  # type: ignore[misc]


def _feed_entries() -> list[tuple[str, object]]:
    out = []
    for name in ("rfi.xml", "voa.xml", "dw.xml"):
        # Both flags off: feedparser's sanitizer and relative-URI resolver re-serialize the HTML
        # (e.g. <br> -> <br />), which breaks byte-exactness with the real items.
        parsed = feedparser.parse(
            (FIXTURES / "feeds" / name).read_bytes(),
            sanitize_html=False,
            resolve_relative_uris=False,
        )
        out.extend((name, entry) for entry in parsed.entries)
    return out


def test_feed_entries_render_to_the_real_item_bytes() -> None:
    """Feed entry -> item gives exactly the real item (feeds rebuilt from the real items)."""
    real = {parse_item(p.read_bytes()).url: p.read_bytes() for p in REAL_ITEMS}
    entries = _feed_entries()
    assert len(entries) == 9
    for _name, entry in entries:
        published = calendar.timegm(entry.published_parsed) * 1000  # type: ignore[attr-defined]
        item = to_stored_item(
            entry.title,  # type: ignore[attr-defined]
            entry.link,  # type: ignore[attr-defined]
            entry.description,  # type: ignore[attr-defined]
            published,
            published + 60_000,
        )
        assert render_item(item) == real[item.url]
