"""The item format: a byte-exact five-line text file (see docs/FORMAT.md)."""

from __future__ import annotations

from dataclasses import dataclass

SEPARATOR = "------"


class ItemFormatError(ValueError):
    """Raised when bytes are not a valid item file; the message says which line is wrong."""


@dataclass(frozen=True)
class StoredItem:
    """The four fields of an item file."""

    ts: int  # epoch milliseconds
    title: str
    url: str
    body: str


def render_item(item: StoredItem) -> bytes:
    """Serialize an item into the exact bytes of an item file."""
    text = f"<!--{item.ts}-->\n[{item.title}]({item.url})\n{SEPARATOR}\n\n{item.body}\n"
    return text.encode("utf-8")


def parse_item(data: bytes) -> StoredItem:
    """Parse the bytes of an item file; raises ItemFormatError on anything else."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ItemFormatError(f"not UTF-8: {exc}") from exc
    lines = text.split("\n")
    if len(lines) != 6 or lines[5] != "":
        raise ItemFormatError(f"expected 5 lines ending in a newline, got {len(lines) - 1}")
    head, link, sep, blank, body = lines[:5]
    if not (head.startswith("<!--") and head.endswith("-->") and head[4:-3].isdigit()):
        raise ItemFormatError("line 1 must be <!--epoch-milliseconds-->")
    split = link.rfind("](")
    if not (link.startswith("[") and link.endswith(")")) or split < 0:
        raise ItemFormatError("line 2 must be [title](url)")
    if sep != SEPARATOR or blank != "":
        raise ItemFormatError("lines 3-4 must be '------' and an empty line")
    return StoredItem(ts=int(head[4:-3]), title=link[1:split], url=link[split + 2 : -1], body=body)
