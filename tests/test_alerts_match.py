"""Rule matching on real items: scripts, terms, regex, outlets, and never inside URLs/attributes."""

from __future__ import annotations

from pathlib import Path

import pytest
from alerts_helpers import DW_UKRAINE, KOREA, KOREA_TRADITIONAL, PUTIN, REPOST_RFI, REPOST_VOA

from alerts.match import match_rule
from conf.alerts import WatchRule
from store.imports import read_item_file


def _rule(**fields: object) -> WatchRule:
    return WatchRule.model_validate({"name": "r", **fields})


def _match(rule: WatchRule, path: Path, outlet: str = "rfi") -> tuple[bool, list[str]]:
    item = read_item_file(path)
    result = match_rule(rule, item.title, item.body, outlet)
    return result.matched, result.reasons


def test_traditional_fixture_really_is_traditional() -> None:
    simplified = read_item_file(KOREA)
    traditional = read_item_file(KOREA_TRADITIONAL)
    assert "朝鲜" in simplified.body and "朝鲜" not in traditional.body
    assert "朝鮮" in traditional.body
    assert traditional.url == simplified.url


@pytest.mark.parametrize("term", ["朝鲜", "朝鮮", "脱北者", "脫北者"])
@pytest.mark.parametrize("path", [KOREA, KOREA_TRADITIONAL])
def test_script_insensitive_both_ways(term: str, path: Path) -> None:
    matched, reasons = _match(_rule(any=[term]), path)
    assert matched, reasons
    assert reasons == [f"any: {term!r} in title"] or reasons == [f"any: {term!r} in body"]


def test_title_term_is_reported_in_title() -> None:
    matched, reasons = _match(_rule(all=["普京"]), PUTIN)
    assert matched
    assert reasons == ["all: '普京' in title"]


def test_body_only_rule_and_title_only_rule() -> None:
    # 朝鲜 is only in the body of the RFI defectors item (the title says 脱北者).
    assert _match(_rule(any=["朝鲜"], fields=["body"]), KOREA)[0]
    matched, reasons = _match(_rule(any=["朝鲜"], fields=["title"]), KOREA)
    assert not matched
    assert reasons == ["any: none of '朝鲜' found"]


def test_all_any_none_logic_on_real_item() -> None:
    assert _match(_rule(all=["朝鲜", "王毅"], any=["韩国", "日本"]), KOREA)[0]
    matched, reasons = _match(_rule(all=["朝鲜", "普京"]), KOREA)
    assert not matched and reasons == ["all: '普京' not found"]
    matched, reasons = _match(_rule(any=["朝鲜"], none=["王毅"]), KOREA)
    assert not matched and reasons == ["none: '王毅' found in title"]
    matched, reasons = _match(_rule(any=["朝鲜"], none=["普京"]), KOREA)
    assert matched


def test_regex_matches_normalized_text_and_reports_the_hit() -> None:
    matched, reasons = _match(_rule(regex=r"国际刑事法院"), PUTIN)
    assert matched
    assert reasons == ["regex /国际刑事法院/ matched '国际刑事法院' in title"]
    # A Traditional pattern matches Simplified text too.
    assert _match(_rule(regex=r"國際刑事法院"), PUTIN)[0]
    assert not _match(_rule(regex=r"朝鲜.{0,3}核武"), PUTIN)[0]


def test_outlet_include_and_exclude() -> None:
    assert _match(_rule(any=["普京"], outlets={"include": ["rfi"]}), PUTIN, "rfi")[0]
    matched, reasons = _match(_rule(any=["普京"], outlets={"include": ["voa"]}), PUTIN, "rfi")
    assert not matched and "excluded" in reasons[0]
    assert not _match(_rule(any=["普京"], outlets={"exclude": ["rfi"]}), PUTIN, "rfi")[0]
    assert _match(_rule(any=["普京"], outlets={"exclude": ["voa"]}), PUTIN, "rfi")[0]


@pytest.mark.parametrize(
    ("path", "term"),
    [
        (DW_UKRAINE, "weserv"),  # only in <img src="https://images.weserv.nl/...">
        (DW_UKRAINE, "color"),  # only in style="color: #999;"
        (DW_UKRAINE, "dw.com"),  # only in URLs
        (KOREA, "feedx"),  # only in href and in link text that is itself a URL
        (KOREA, "target"),  # only as an attribute name
        (PUTIN, "rfi"),  # only in image and article URLs
    ],
)
def test_never_matches_inside_urls_or_attributes(path: Path, term: str) -> None:
    assert term in path.read_text(encoding="utf-8")  # the term really is in the file
    matched, reasons = _match(_rule(any=[term]), path)
    assert not matched, reasons


def test_percent_encoded_url_does_not_count_but_visible_text_does() -> None:
    rule = _rule(any=["普京"])
    html = '<p>见 <a href="https://www.rfi.fr/cn/普京">链接</a> https://example.com/普京/page</p>'
    assert not match_rule(rule, "新闻", html, "rfi").matched
    assert match_rule(rule, "新闻", "<p>普京今天讲话</p>", "rfi").matched


def test_ascii_terms_match_whole_words_only() -> None:
    rule = _rule(any=["EU"])
    assert match_rule(rule, "EU leaders meet", "", "dw").matched
    assert match_rule(rule, "欧盟EU峰会", "", "dw").matched
    assert not match_rule(rule, "European leaders", "<p>Europe</p>", "dw").matched


def test_repost_pair_both_match_the_same_rule() -> None:
    rule = _rule(all=["自由之家", "网络自由"])
    assert _match(rule, REPOST_RFI, "rfi")[0]
    assert _match(rule, REPOST_VOA, "voa")[0]
