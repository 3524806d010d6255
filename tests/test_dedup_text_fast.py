"""The shortcuts of dedup.text.normalize_text rest on facts about Unicode and sre: check them.

- split("\\n") may replace splitlines() when the text has no whitespace but " " and "\\n":
  every line break of splitlines() is whitespace, and no code point above U+3000 is.
- The ASCII-only prefilters miss only the non-ASCII characters IGNORECASE matches to an ASCII
  letter: exactly the ones the class table marks.
Then normalize_text against normalize_text_reference on line-structured random text that hits
every filter (cut, each drop alternative, URLs) and every kind of whitespace.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import text as dtext
from dedup.text import normalize_text, normalize_text_reference

_NON_ASCII = "".join(chr(cp) for cp in range(0x80, 0x110000) if not 0xD800 <= cp < 0xE000)


def test_no_whitespace_above_u3000_and_line_breaks_are_whitespace() -> None:
    assert not any(ch.isspace() for ch in _NON_ASCII if ord(ch) > 0x3000)
    breaks = {ch for ch in map(chr, range(0x3001)) if len(f"a{ch}b".splitlines()) == 2}
    assert breaks and all(ch.isspace() for ch in breaks)
    cats = dtext._categories()
    for cp in range(0x3001):
        marked = cats[cp] == dtext._OTHER_SPACE
        assert marked == (chr(cp).isspace() and cp not in (0x20, 0x0A)), hex(cp)


def test_fold_table_holds_each_characters_nfkc_form_and_its_category() -> None:
    import unicodedata

    from dedup import nfkc as dnfkc

    table = dtext._table()
    cats = dtext._categories()
    covered = {cp for lo, hi in dnfkc._RANGES for cp in range(lo, hi)}
    for cp in [*sorted(covered), 0x10781, 0x20000, 0x10FFFF]:
        if 0xD800 <= cp < 0xE000:
            continue
        entry = int(table[cp])
        # outside the NFKC table's ranges a character stands for itself (the check after the
        # per-character fold catches any change)
        folded = unicodedata.normalize("NFKC", chr(cp)) if cp in covered else chr(cp)
        category = entry >> dtext._CATEGORY_SHIFT
        if len(folded) == 1:
            assert entry & 0xFFFFFF == ord(folded), hex(cp)
            assert category == cats[ord(folded)], hex(cp)
        else:
            assert (entry & 0xFFFFFF, category) == (cp, dtext._NFKC_MULTI), hex(cp)


def test_case_exotic_characters_are_exactly_the_non_ascii_ascii_letter_matches() -> None:
    found: set[str] = set()
    for letter in "abcdefghijklmnopqrstuvwxyz":
        found.update(re.findall(letter, _NON_ASCII, re.IGNORECASE))
    assert found == set(dtext._EXOTIC_CHARS)


_LINE_TOKENS = [
    "分享",
    "分享到:",
    "分享本文",
    "Share :",
    "SHARE",
    "ſhare",
    "获取更多RSS:",
    "获取更多rſs",
    "手机上长按并复制下列链接或二维码分享本文章",
    "# [首页](https://x.y)",
    "## 💥 [a](b)",
    "[a](https://x) | [b](//y)",
    "[a](x)&nbsp;",
    "Gfw-Breaker",
    "原文链接(需翻墙",
    "---",
    "====",
    "©2024",
    "(C) DW",
    "Copyright 2024",
    "copyrİght",
    "版权所有",
    "版权声明:",
    "https://images.weserv.nl/?url=x",
    "images.WESERV.nl/a",
    "//cdn.example.com/a.jpg",
    "臺灣發展經濟",
    "什么东西坏了",
    "普通的一行文字。",
    "K",
    "ı",
]
_SPACES = [" ", "  ", "\t", "\u3000", "\xa0", "\u2028", "\r", "\r\n", "\x85", "\x0c", ""]


@st.composite
def _document(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        parts = draw(st.lists(st.sampled_from(_LINE_TOKENS + _SPACES), max_size=5))
        lines.append("".join(parts))
    seps = draw(st.lists(st.sampled_from(["\n", "\n\n", " \n ", "\r\n", "\u2029"]), min_size=8))
    return "".join(line + sep for line, sep in zip(lines, seps, strict=False))


@settings(max_examples=500, deadline=None)
@given(_document())
def test_normalize_equals_reference_on_line_structured_text(text: str) -> None:
    assert normalize_text(text) == normalize_text_reference(text)


def test_normalize_examples_through_each_path() -> None:
    cases = [
        "标题\n分享到:\n尾巴",  # cut
        "正文\n[a](https://x) | [b](y)\n正文二",  # drop: link list
        "a\n©2024 DW\nb",  # drop: line start
        "a\n原文链接(需翻墙\nb\nGFW-BREAKER 计数",  # drop: literals
        "图 https://images.weserv.nl/?url=a 说明\n下一行",  # URL
        "tab\there\u2028next line\r\nlast",  # other whitespace
        "ſhare\nK 行",  # case-exotic characters
        "a\nhttps://x.y/z\nb",  # a line that only held a URL disappears
        "https://x.y\n//cdn.z/a.png\n 中 //q",  # first and last lines
        "a https://x //y images.weserv.nl/q b\nc",  # several on one line
        "首行\nimages.WESERV.nl/a\n末行\nwes中erv",  # weserv without //
    ]
    for text in cases:
        assert normalize_text(text) == normalize_text_reference(text), text
