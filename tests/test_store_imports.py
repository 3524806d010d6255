"""Import of the three real shapes: item files, Jekyll-wrapped items, gfw-breaker mirror pages."""

from __future__ import annotations

import calendar
import re
from datetime import datetime
from pathlib import Path

import pytest

from store.format import ItemFormatError, parse_item, render_item
from store.imports import (
    detect_shape,
    iter_item_paths,
    parse_any,
    parse_mirror_page,
    read_item_file,
)
from store.urls import serialize_url

FIXTURES = Path(__file__).parent / "fixtures" / "store"
JEKYLL = sorted((FIXTURES / "jekyll").iterdir())
MIRRORS = sorted(p for p in (FIXTURES / "mirror").iterdir() if not p.name.startswith("bad_"))
ITEMS = sorted((FIXTURES / "items").iterdir())


def _front_matter(text: str) -> dict[str, str]:
    head = text.split("\n---\n", 1)[0]
    return dict(line.split(": ", 1) for line in head.split("\n")[1:] if ": " in line)


@pytest.mark.parametrize("path", ITEMS, ids=lambda p: p.name)
def test_item_shape_imports_as_is(path: Path) -> None:
    data = path.read_bytes()
    assert detect_shape(data) == "item"
    assert render_item(read_item_file(path)) == data


@pytest.mark.parametrize("path", JEKYLL, ids=lambda p: p.name)
def test_jekyll_unwraps_to_the_item_lines(path: Path) -> None:
    data = path.read_bytes()
    text = data.decode("utf-8")
    assert detect_shape(data) == "jekyll"
    item = read_item_file(path)
    after = text.split("\n---\n", 1)[1].split("\n")
    # The wrapped item: 4 head lines, "<div>", the one-line body, "</div>".
    assert after[4:7] == ["<div>", item.body, "</div>"]
    assert render_item(item).decode("utf-8").split("\n")[:4] == after[:4]
    fm = _front_matter(text)
    assert fm["from"] == item.url
    stamp = datetime.fromisoformat(fm["date"].replace("Z", "+00:00"))
    assert item.ts == int(stamp.timestamp() * 1000)
    assert fm["title"].strip('"') == item.title.replace('"', '\\"')
    assert parse_item(render_item(item)) == item


def _url_date_noon_ms(url: str) -> int:
    y, m, d = re.search(r"/gb/(\d+)/(\d+)/(\d+)/n\d+\.htm", url).groups()  # type: ignore[union-attr]
    return calendar.timegm((2000 + int(y), int(m), int(d), 12, 0, 0)) * 1000


@pytest.mark.parametrize("path", MIRRORS, ids=lambda p: p.name)
def test_mirror_page_imports_article_only(path: Path) -> None:
    data = path.read_bytes()
    text = data.decode("utf-8")
    assert detect_shape(data) == "mirror"
    item = read_item_file(path)
    assert item.title == text.split("\n", 1)[0][4:].strip()
    origin = re.search(r"^原文(?:链接|地址)（[^）]*）[:：](\S+)", text, re.MULTILINE)
    assert origin and item.url == serialize_url(origin[1])
    assert item.ts == _url_date_noon_ms(item.url)
    # Navigation, share block, counter pixel and footer are gone; the article's end is kept.
    for junk in ("#### [", "gfw-breaker", "原文链接", "原文地址", "手机上长按", "------"):
        assert junk not in item.body
    assert item.body.startswith("<div")
    assert item.body.endswith("</div>")
    assert "\n" not in item.body
    assert "责任编辑" in item.body or "【大纪元" in item.body or len(item.body) > 500


def test_seed_mirror_page_body_bounds() -> None:
    item = read_item_file(FIXTURES / "mirror" / "002_b7dd493e10f34524.txt")
    assert item.url == "https://www.epochtimes.com/gb/23/9/23/n14079761.htm"
    assert item.title == "美日韩外长会谈 严重关切俄朝军事合作"
    assert item.body.startswith('<div><img alt="美日韩外长会谈 严重关切俄朝军事合作"')
    assert item.body.endswith('<!-- article content end --><div id="below_article_ad"></div></div>')
    assert item.ts == calendar.timegm((2023, 9, 23, 12, 0, 0)) * 1000


def test_mirror_ts_falls_back_to_dateline_then_first_seen() -> None:
    page = (
        "### 标题\n---\n\n#### [首页](../x)\n\n<div><p>【大纪元2021年01月02日讯】正文</p></div>\n\n"
        "---\n\n原文链接（需翻墙）：https://www.epochtimes.com/n123.htm\n"
    )
    assert parse_mirror_page(page).ts == calendar.timegm((2021, 1, 2, 12, 0, 0)) * 1000
    undated = page.replace("【大纪元2021年01月02日讯】", "")
    with pytest.raises(ItemFormatError, match="no date"):
        parse_mirror_page(undated)
    assert parse_mirror_page(undated, first_seen_ms=1234).ts == 1234


def test_non_article_index_page_is_refused_with_file_name() -> None:
    bad = FIXTURES / "mirror" / "bad_index-page_README.md"
    with pytest.raises(ItemFormatError, match=r"bad_index-page_README\.md: .*原文"):
        read_item_file(bad)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"hello\n", "unknown shape"),
        (b"<!--1-->\n[t](u)\n", "5 lines"),
        (b"---\nlayout: post\ntitle: x\n", "not closed"),
        (b"---\nlayout: post\n---\n<!--1-->\n", "lines after the front matter"),
        (b"### t\n\nno link here\n", "原文"),
        (b"<!--1-->\xff\n", "UTF-8"),
    ],
)
def test_bad_bytes_raise_one_line_reason_with_name(data: bytes, reason: str) -> None:
    with pytest.raises(ItemFormatError, match=reason) as info:
        parse_any(data, "x.md")
    message = str(info.value)
    assert message.startswith("x.md: ") and "\n" not in message


def test_crlf_item_is_imported() -> None:
    data = ITEMS[0].read_bytes()
    assert render_item(parse_any(data.replace(b"\n", b"\r\n"))) == data


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(ItemFormatError, match="cannot read"):
        read_item_file(tmp_path / "nope.txt")


def test_iter_item_paths_walks_sorted_and_filters(tmp_path: Path) -> None:
    for rel in ("b/2.md", "b/1.txt", "a.txt", "c/skip.json", "c/.hidden.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_item_paths([tmp_path])]
    assert found == ["a.txt", "b/1.txt", "b/2.md"]
    single = tmp_path / "c" / "skip.json"
    assert list(iter_item_paths([single])) == [single]
    with pytest.raises(ItemFormatError, match="no such"):
        list(iter_item_paths([tmp_path / "missing"]))
