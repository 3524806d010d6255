"""OPML 2.0 out of the configured feeds, and OPML into config.yaml as `generic` outlets.

Import edits config.yaml with ruamel.yaml's round-trip mode, so the file's comments, key order
and quoting stay as the user wrote them; the new outlets are appended under `outlets:`. The
result is validated as a whole before it replaces the file (atomically), so a bad OPML can never
leave an unloadable config behind.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from conf.schema import Config, ConfigError
from store.archive import atomic_write_bytes


class OpmlError(ValueError):
    """The file is not OPML feedwatch can read; the message is one line."""


@dataclass(frozen=True)
class OpmlFeed:
    """An outline that points at a feed."""

    title: str
    xml_url: str
    html_url: str | None = None


@dataclass
class ImportReport:
    """What `opml import` did."""

    added: list[tuple[str, str]] = field(default_factory=list)  # (outlet name, feed URL)
    skipped: list[str] = field(default_factory=list)  # one line per refused feed


def export_opml(config: Config) -> bytes:
    """An OPML 2.0 document: one folder outline per outlet, one rss outline per feed."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = "feedwatch feeds"
    etree.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC))
    body = etree.SubElement(root, "body")
    for name, outlet in config.outlets.items():
        folder = etree.SubElement(body, "outline", text=outlet.title or name, title=name)
        for feed in outlet.feeds:
            text = f"{outlet.title or name}" + (f" (via {feed.via})" if feed.via else "")
            etree.SubElement(folder, "outline", type="rss", text=text, title=text, xmlUrl=feed.url)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True))


def read_opml(data: bytes) -> list[OpmlFeed]:
    """Every outline with an http(s) `xmlUrl`, at any depth, in document order."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise OpmlError(f"not well-formed XML ({exc.msg})") from None
    if root.tag != "opml":
        raise OpmlError(f"the root element is <{root.tag}>, not <opml>")
    feeds = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if not url:
            continue
        title = (outline.get("title") or outline.get("text") or "").strip()
        feeds.append(OpmlFeed(title, url, outline.get("htmlUrl")))
    return feeds


def _outlet_name(feed: OpmlFeed, taken: set[str]) -> str:
    """A config key for a new outlet: lowercase ASCII from the title, else from the host."""
    base = re.sub(r"[^a-z0-9]+", "_", feed.title.lower()).strip("_")
    if not base or not base[0].isalpha():
        host = (urlsplit(feed.xml_url).hostname or "feed").removeprefix("www.")
        base = re.sub(r"[^a-z0-9]+", "_", host.lower()).strip("_") or "feed"
        if not base[0].isalpha():
            base = "feed_" + base
    name, n = base[:40], 2
    while name in taken:
        name, n = f"{base[:36]}_{n}", n + 1
    return name


def import_opml(config_path: Path, data: bytes) -> ImportReport:
    """Add each feed of an OPML document to config.yaml as a `generic` outlet, skipping known URLs."""
    feeds = read_opml(data)
    yaml = YAML()  # round-trip: comments and layout survive
    yaml.preserve_quotes = True
    yaml.width = 4096
    text = config_path.read_text(encoding="utf-8")
    doc = yaml.load(text) or CommentedMap()
    if not isinstance(doc, dict):
        raise ConfigError(f"{config_path}: the top level must be a mapping of keys")
    outlets = doc.get("outlets")
    if outlets is None:
        outlets = doc["outlets"] = CommentedMap()
    known: dict[str, str] = {}
    for name, outlet in outlets.items():
        for feed in (outlet or {}).get("feeds") or []:
            known[str(feed.get("url", "")).strip()] = str(name)
    report = ImportReport()
    for feed in feeds:
        if not re.match(r"^https?://[^\s/]+", feed.xml_url):
            report.skipped.append(f"skipped {feed.xml_url!r}: not an http(s) URL")
            continue
        if feed.xml_url in known:
            report.skipped.append(
                f"skipped {feed.xml_url}: already configured in outlet {known[feed.xml_url]}"
            )
            continue
        name = _outlet_name(feed, set(outlets))
        entry = CommentedMap()
        if feed.title:
            entry["title"] = feed.title
        entry["spider"] = "generic"
        entry["feeds"] = [CommentedMap(url=feed.xml_url)]
        outlets[name] = entry
        known[feed.xml_url] = name
        report.added.append((name, feed.xml_url))
    if report.added:
        out = io.StringIO()
        yaml.dump(doc, out)
        _validate(config_path, out.getvalue())
        atomic_write_bytes(config_path, out.getvalue().encode("utf-8"), overwrite=True)
    return report


def _validate(config_path: Path, text: str) -> None:
    import yaml as pyyaml

    raw: Any = pyyaml.safe_load(text)
    try:
        Config.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{config_path}: the imported outlets would make the config invalid ({where}: {first['msg']}); nothing written"
        ) from None
