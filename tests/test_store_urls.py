"""WHATWG serialization and canonical URLs, checked against real URLs from the corpus."""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.format import parse_item
from store.imports import iter_item_paths, read_item_file
from store.urls import canonical_url, is_http_url, is_mirror_url, serialize_url, strip_tracking

FIXTURES = Path(__file__).parent / "fixtures" / "store"
SEED_ITEMS = sorted((FIXTURES / "items").iterdir())
DW_RDF = FIXTURES / "feeds" / "greatfire_dw.xml_2015-03-16.xml"


@pytest.mark.parametrize("path", SEED_ITEMS, ids=lambda p: p.name)
def test_serialize_reproduces_real_urls_from_their_decoded_form(path: Path) -> None:
    url = parse_item(path.read_bytes()).url
    decoded = unquote(url)
    assert decoded != url or url.isascii()
    assert serialize_url(decoded) == url
    assert serialize_url(url) == url


def test_serialize_every_url_of_the_corpus_as_before() -> None:
    """14,369 real URLs: ada's serialization equals the hand-written one it replaced."""
    lines = gzip.decompress((FIXTURES / "corpus_urls.jsonl.gz").read_bytes()).decode("utf-8")
    rows = [json.loads(line) for line in lines.splitlines()]
    assert len(rows) > 14_000
    changed = [(row[0], row[-1], serialize_url(row[0])) for row in rows]
    assert [c for c in changed if c[1] != c[2]] == []
    assert sum(len(row) == 2 for row in rows) > 300  # some really change (spaces, non-ASCII)


def test_serialize_whatwg_details() -> None:
    assert serialize_url("HTTP://WWW.Dw.COM:80/zh/a b/") == "http://www.dw.com/zh/a%20b/"
    assert serialize_url("https://例子.中国/路?q=é d#片 段") == (
        "https://xn--fsqu00a.xn--fiqs8s/%E8%B7%AF?q=%C3%A9%20d#%E7%89%87%20%E6%AE%B5"
    )
    # Existing escapes are kept as typed (lowercase hex too), dot segments resolved.
    assert serialize_url("http://a.com/%e4%b8%ad/./x/../y") == "http://a.com/%e4%b8%ad/y"
    # Query set: ' is encoded for special schemes, ` is not; path set encodes ` { }.
    assert serialize_url("https://a.com/`{}'?a='`") == "https://a.com/%60%7B%7D'?a=%27`"
    assert serialize_url("  https://a.com\t/x\n ") == "https://a.com/x"
    assert serialize_url("https:\\\\a.com\\x") == "https://a.com/x"
    assert serialize_url("https://a.com") == "https://a.com/"


@pytest.mark.parametrize(
    "garbage", ["", "garbage ☃", "http://", "::::", "javascript:alert(1)", "%", "http://[::1"]
)
def test_garbage_never_raises_and_is_not_http(garbage: str) -> None:
    out = serialize_url(garbage)
    assert serialize_url(out) == out
    assert not is_http_url(garbage)
    canonical_url(garbage)  # must not raise


def test_is_http_url() -> None:
    assert is_http_url("https://www.rfi.fr/cn/")
    assert is_http_url("http://例子.中国/")
    assert not is_http_url("ftp://a.com/x")
    assert not is_http_url("/relative/path")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_serialize_is_idempotent_on_anything(text: str) -> None:
    once = serialize_url(text)
    assert serialize_url(once) == once
    assert once.isascii() or not once.startswith(("http://", "https://"))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["http://www.a.com/", "https://m.b.org/x/"]), st.text(max_size=40))
def test_canonical_is_idempotent(prefix: str, rest: str) -> None:
    once = canonical_url(prefix + rest)
    assert canonical_url(once) == once


def test_canonical_general_rules() -> None:
    assert canonical_url(
        "http://www.rfi.fr//cn/%e6%b8%af//x?utm_source=a&b=2&a=1&fbclid=z#frag"
    ) == ("https://rfi.fr/cn/%E6%B8%AF/x?a=1&b=2")
    assert canonical_url("https://rfi.fr/cn/%7Ex%2D") == "https://rfi.fr/cn/~x-"
    assert canonical_url("https://a.com:8443/x?xtor=RSS-1&at_medium=rss") == "https://a.com:8443/x"
    assert canonical_url("HTTPS://M.Example.com:443/p") == "https://example.com/p"


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        # DW: any slug, language path, dw.de/dw.com, maca tracking param.
        (
            "http://www.dw.de/格林沃尔德获德国新闻记者奖/a-18317568?maca=chi-rss-chi-all-1127-rdf",
            "https://dw.com/a-18317568",
        ),
        (
            "https://www.dw.com/zh/%E4%B8%BA%E6%99%AE%E4%BA%AC/a-67150547",
            "https://dw.com/a-67150547",
        ),
        ("https://www.dw.com/a-67150547", "https://dw.com/a-67150547"),
        # Epoch Times: gb/b5 date paths, http/https.
        ("http://www.epochtimes.com/gb/18/5/25/n10426013.htm", "https://epochtimes.com/n10426013"),
        ("https://www.epochtimes.com/b5/18/5/25/n10426013.htm", "https://epochtimes.com/n10426013"),
        # VOA: with and without slug.
        (
            "https://www.voachinese.com/a/nato-chief-warns-20241107/7856214.html",
            "https://voachinese.com/a/7856214",
        ),
        ("https://www.voachinese.com/a/7856214.html", "https://voachinese.com/a/7856214"),
    ],
)
def test_outlet_identity_rules(variant: str, canonical: str) -> None:
    assert canonical_url(variant) == canonical


def test_outlet_rules_do_not_swallow_non_article_pages() -> None:
    assert (
        canonical_url("http://www.dw.de/chinese/?maca=chi-rss-chi-all-1127-rdf")
        == "https://dw.com/chinese/"
    )
    assert canonical_url("https://www.voachinese.com/z/1739") == "https://voachinese.com/z/1739"


def test_mirror_page_urls_are_recognised() -> None:
    assert is_mirror_url(
        "https://github.com/gfw-breaker/banned-news3/blob/master/pages/nsc418/n12460684.md"
    )
    assert is_mirror_url("http://gfw-breaker.win/epoch-news/pages/ncid1078159/n14079761.md")
    assert not is_mirror_url("https://www.epochtimes.com/gb/23/9/23/n14079761.htm")


def test_real_url_variants_in_fixtures_merge() -> None:
    """Real captures whose URLs differ (DW retitled slugs, Epoch http vs https) share one key."""
    by_key: dict[str, set[str]] = defaultdict(set)
    for path in iter_item_paths([FIXTURES / "jekyll", FIXTURES / "mirror"]):
        if path.name.startswith("variant_"):
            url = read_item_file(path).url
            by_key[canonical_url(url)].add(url)
    assert len(by_key) == 5  # 3 DW slug changes, 2 Epoch Times http/https
    assert all(len(urls) == 2 for urls in by_key.values())


def test_dw_rdf_feed_links_and_about_agree() -> None:
    """In the real DW RDF feed, each item's rdf:about and <link> give one canonical article."""
    xml = DW_RDF.read_text(encoding="utf-8")
    items = re.findall(r'<item rdf:about="([^"]+)">.*?<link>([^<]+)</link>', xml, re.DOTALL)
    assert len(items) == 85
    keys = set()
    for about, link in items:
        assert canonical_url(about) == canonical_url(link)
        keys.add(canonical_url(link))
    article_keys = {k for k in keys if re.fullmatch(r"https://dw\.com/a-\d+", k)}
    assert len(article_keys) >= 80
    assert not any("maca" in k for k in keys)


def test_dw_slug_with_a_question_mark_keeps_its_article_identity() -> None:
    # Real DW item URL (corpus dw/items/waimei-2020-10-12_to_16): the title's "?" ends the path.
    real = (
        "https://www.dw.com/zh/%E6%89%AD%E8%BD%AC%E7%89%B9%E6%9C%97%E6%99%AE%E5%8F%8D%E5%85%B1"
        "%E5%BD%A2%E8%B1%A1%20%E6%8B%9C%E7%99%BB%E6%8A%A2%E5%BE%97%E8%B5%B0%E6%8A%97%E4%B8%AD%E7%89%8C?/a-55281475"
    )
    assert canonical_url(real) == canonical_url(
        "http://www.dw.de/x/a-55281475?maca=chi-rss-chi-all-1127-rdf"
    )
    assert strip_tracking(real) == real  # its "query" is part of the slug, not a parameter


def test_strip_tracking_removes_only_tracking_parameters() -> None:
    assert (
        strip_tracking("http://www.dw.de/x/a-18317568?maca=chi-rss-chi-all-1127-rdf")
        == "http://www.dw.de/x/a-18317568"
    )
    assert (
        strip_tracking("https://a.example/p?id=3&utm_source=x#top")
        == "https://a.example/p?id=3#top"
    )
    assert strip_tracking("https://a.example/p?id=3") == "https://a.example/p?id=3"
