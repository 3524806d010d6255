"""Read item files of the three real shapes (item, Jekyll-wrapped, gfw-breaker mirror page).

Only the item shape is ever written; the other two are imported into it. See docs/FORMAT.md.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from store.format import ItemFormatError, StoredItem, parse_item
from store.normalize import clean_title, one_line, to_stored_item

__all__ = [
    "ItemFormatError",
    "Shape",
    "detect_shape",
    "iter_item_paths",
    "parse_any",
    "parse_jekyll",
    "parse_mirror_page",
    "read_item_file",
]

Shape = Literal["item", "jekyll", "mirror"]
ITEM_SUFFIXES = (".txt", ".md")

_ORIGIN_RE = re.compile(r"^原文(?:链接|地址)（[^）]*）[:：]\s*(https?://\S+)\s*$")
_URL_DATE_RE = re.compile(r"/(?:gb|b5|b|gb2312|big5)/(\d{2}|\d{4})/(\d{1,2})/(\d{1,2})/n\d+\.html?")
_DATELINE_RE = re.compile(r"【大纪元(\d{4})年(\d{1,2})月(\d{1,2})日讯】")
_SEPARATOR_RE = re.compile(r"^-{3,}\s*$")
# The tracking pixel gfw-breaker appends to every page.
_COUNTER_RE = re.compile(r"^<img src='https?://gfw-breaker\.win/")
_SHARE_RE = re.compile(r"^手机上长按")
_HR_RE = re.compile(r"^\s*<hr\s*/?>\s*$")
# banned-news2 inserts markdown promo headings ("#### 💥 [《伪火》…](…)") into the article.
_MD_HEADING_RE = re.compile(r"^#{1,6} ")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ItemFormatError(f"not UTF-8: {exc}") from exc


def detect_shape(data: bytes) -> Shape:
    """Say which of the three real shapes `data` is; raises ItemFormatError for anything else."""
    head = data.lstrip(b"\xef\xbb\xbf")[:400]
    if head.startswith(b"<!--"):
        return "item"
    if head.startswith(b"---") and re.search(rb"^(?:layout|title):", head, re.MULTILINE):
        return "jekyll"
    if head.startswith(b"### "):
        return "mirror"
    raise ItemFormatError("unknown shape: expected <!--ts-->, Jekyll front matter or '### title'")


def _parse_lenient_item(text: str) -> StoredItem:
    """Parse an item file strictly, then retry tolerating CRLF, a BOM and a missing final newline."""
    try:
        return parse_item(text.encode("utf-8"))
    except ItemFormatError as strict_error:
        fixed = text.lstrip("\ufeff").replace("\r\n", "\n")
        if not fixed.endswith("\n"):
            fixed += "\n"
        try:
            return parse_item(fixed.encode("utf-8"))
        except ItemFormatError:
            raise strict_error from None


def parse_jekyll(text: str) -> StoredItem:
    """Unwrap a Jekyll-wrapped item: drop the front matter and the `<div>` around the body."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    if not lines or not _SEPARATOR_RE.match(lines[0]):
        raise ItemFormatError("Jekyll item must start with '---'")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
    except StopIteration:
        raise ItemFormatError("Jekyll front matter is not closed by '---'") from None
    rest = lines[end + 1 :]
    while rest and rest[-1] == "":
        rest.pop()
    if len(rest) < 5:
        raise ItemFormatError(f"Jekyll item has {len(rest)} lines after the front matter, need 5+")
    inner = rest[4:]
    # feedx/waimei wrap the one-line body as "<div>\n{body}\n</div>".
    if len(inner) >= 2 and inner[0].strip() == "<div>" and inner[-1].strip() == "</div>":
        inner = inner[1:-1]
    body = one_line("\n".join(inner))
    return _parse_lenient_item("\n".join([*rest[:4], body]) + "\n")


def _noon_utc_ms(year: int, month: int, day: int) -> int | None:
    """12:00 UTC of a calendar date in ms: the same calendar day from UTC-12 to UTC+11."""
    if year < 100:
        year += 2000
    try:
        return calendar.timegm((year, month, day, 12, 0, 0)) * 1000
    except (ValueError, OverflowError):
        return None


def _mirror_ts(url: str, text: str) -> int | None:
    """Mirror pages carry no time: take the date from the article URL, else the dateline."""
    m = _URL_DATE_RE.search(url)
    if m:
        ts = _noon_utc_ms(int(m[1]), int(m[2]), int(m[3]))
        if ts:
            return ts
    m = _DATELINE_RE.search(text)
    if m:
        return _noon_utc_ms(int(m[1]), int(m[2]), int(m[3]))
    return None


def parse_mirror_page(text: str, first_seen_ms: int | None = None) -> StoredItem:
    """Import a gfw-breaker mirror page: title, original article URL, article HTML, dated ts."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    title_idx = next((i for i, ln in enumerate(lines) if ln.startswith("### ")), None)
    if title_idx is None:
        raise ItemFormatError("mirror page has no '### title' line")
    title = clean_title(lines[title_idx][4:])
    origin = next((m[1] for ln in lines if (m := _ORIGIN_RE.match(ln.strip()))), None)
    if origin is None:
        raise ItemFormatError("mirror page has no 原文链接/原文地址 line")
    nav_idx = next((i for i, ln in enumerate(lines) if ln.startswith("#### ")), None)
    if nav_idx is None:
        raise ItemFormatError("mirror page has no navigation line ('#### [首页]…')")
    body_lines: list[str] = []
    for line in lines[nav_idx + 1 :]:
        stripped = line.strip()
        if (
            _COUNTER_RE.match(stripped)
            or _SHARE_RE.match(stripped)
            or _SEPARATOR_RE.match(stripped)
            or _ORIGIN_RE.match(stripped)
        ):
            break
        if _MD_HEADING_RE.match(stripped):
            continue
        body_lines.append(line)
    # The share block starts with its own <hr/> line; it is not part of the article.
    while body_lines and (not body_lines[-1].strip() or _HR_RE.match(body_lines[-1])):
        body_lines.pop()
    body = "\n".join(body_lines)
    if not one_line(body):
        raise ItemFormatError("mirror page has an empty article body")
    ts = _mirror_ts(origin, body)
    if ts is None:
        if first_seen_ms is None:
            raise ItemFormatError("mirror page has no date in its URL or dateline")
        ts = first_seen_ms
    return to_stored_item(title, origin, body, ts, max(ts, first_seen_ms or 0))


def parse_any(data: bytes, name: str = "") -> StoredItem:
    """Parse any of the three shapes; errors are ItemFormatError naming `name`."""
    try:
        shape = detect_shape(data)
        text = _decode(data)
        if shape == "item":
            return _parse_lenient_item(text)
        if shape == "jekyll":
            return parse_jekyll(text)
        return parse_mirror_page(text)
    except ItemFormatError as exc:
        raise ItemFormatError(f"{name or '<bytes>'}: {exc}") from None


def read_item_file(path: str | Path) -> StoredItem:
    """Read and parse one file of any shape; ItemFormatError names the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ItemFormatError(f"{p}: cannot read: {exc.strerror or exc}") from None
    return parse_any(data, str(p))


def iter_item_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Yield item files (*.txt, *.md) from files and folders (recursively), sorted per argument."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = (
                f
                for f in p.rglob("*")
                if f.is_file() and f.suffix in ITEM_SUFFIXES and not f.name.startswith(".")
            )
            yield from sorted(found)
        elif p.is_file():
            yield p
        else:
            raise ItemFormatError(f"{p}: no such file or folder")
