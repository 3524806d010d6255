"""Tests for dedup.text: HTML to text and boilerplate-free, script-folded normalization."""

from __future__ import annotations

from pathlib import Path

from dedup.text import html_to_text, normalize_text, to_simplified
from store.imports import read_item_file

FIXTURES = Path(__file__).parent / "fixtures" / "dedup" / "text"


def _norm(name: str) -> str:
    return normalize_text(html_to_text(read_item_file(FIXTURES / name).body))


def test_html_to_text_drops_script_and_style_keeps_paragraphs() -> None:
    html = (
        "<div><style>p{color:red}</style><p>第一段<b>加粗</b>文字</p>"
        "<script>var x = '不要';</script><p>第二段</p>尾巴<!-- 注释 --></div>"
    )
    lines = [line for line in html_to_text(html).split("\n") if line]
    assert lines == ["第一段加粗文字", "第二段", "尾巴"]


def test_html_to_text_bad_input_never_raises() -> None:
    assert html_to_text("") == ""
    assert html_to_text("   ") == ""
    assert html_to_text("纯文本 no tags") == "纯文本 no tags"
    assert "文字" in html_to_text("<p>文字<div><<</p></span>")


def test_normalize_folds_script_width_and_spaces() -> None:
    assert normalize_text("臺灣　發展  ＡＢＣ１２３\n\n\n  經濟") == "台湾 发展 ABC123\n经济"
    assert to_simplified("這是繁體") == "这是繁体"
    assert normalize_text("") == ""


def test_feedx_footer_and_share_block_removed() -> None:
    text = _norm("rfi_feedx_share_1000000.md")
    assert "获取更多RSS" not in text and "feedx" not in text
    assert "分享" not in text
    # the last article paragraph survives
    raw = read_item_file(FIXTURES / "rfi_feedx_share_1000000.md").body
    last_para = raw.split("</p>")[-2].rsplit(">", 1)[-1]
    assert normalize_text(last_para) in text


def test_image_proxy_urls_and_copyright_removed() -> None:
    voa = normalize_text(read_item_file(FIXTURES / "voa_seed_003.txt").body)
    assert "weserv" not in voa and "http" not in voa
    dw = _norm("dw_copyright.md")
    assert "版权声明" not in dw and "©" not in dw
    assert "国泰航空" in dw


def test_mirror_page_normalizes_to_feed_item_text() -> None:
    mirror = _norm("mirror_n12428731.md")
    feed = _norm("feed_n12428731.md")
    for marker in ("gfw-breaker", "翻墙", "首页", "原文", "github", "手机上长按"):
        assert marker not in mirror, marker
    mirror_lines = set(mirror.split("\n"))
    feed_lines = feed.split("\n")
    shared = sum(line in mirror_lines for line in feed_lines)
    assert shared / len(feed_lines) > 0.8


def test_traditional_copy_normalizes_like_simplified() -> None:
    import opencc

    simplified = _norm("feed_n12428731.md")
    traditional = opencc.OpenCC("s2t").convert(simplified)
    assert traditional != simplified
    folded = normalize_text(traditional)
    same = sum(a == b for a, b in zip(folded, simplified, strict=False))
    assert same / len(simplified) > 0.99
