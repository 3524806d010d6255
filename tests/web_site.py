"""A small feedwatch site for the web tests: real items ingested through the real ingest step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conf.schema import Config, load_config
from ingest.ingestor import Ingestor, Outcome, Story
from store.format import StoredItem
from store.imports import read_item_file
from store.state import open_state
from store.urls import canonical_url

ITEMS = Path(__file__).parent / "fixtures" / "alerts"

CONFIG = """\
# the web tests' config (this comment must survive `opml import`)
archive_dir: archive
state_db: state/feedwatch.sqlite3
outlets:
  rfi:
    title: RFI 中文
    spider: rfi
    domains: [rfi.fr]
    feeds:
      - url: https://www.rfi.fr/cn/rss  # the direct feed
  voa:
    spider: voa
    domains: [voachinese.com]
    feeds: [{url: "https://www.voachinese.com/api/zm_yql-vomx-tpeybti"}]
  dw:
    spider: dw
    domains: [dw.com]
    feeds: [{url: "https://rss.dw.com/rdf/rss-chi-all"}]
alerts:
  channels: {file: {kind: jsonl, path: alerts.jsonl}}
  rules:
    - {name: korea, any: [朝鲜], notify: [file]}
"""

HOSTILE_TITLE = '<script>alert("t")</script>"><img src=x onerror=alert(1)>'
HOSTILE_BODY = (
    '<p>朝鲜 hostile body</p><script>alert("b")</script><img src=x onerror="alert(2)">'
    '<a href="javascript:alert(3)">click</a><iframe src="https://evil.example/"></iframe>'
    '<svg onload=alert(4)></svg><p style="background:url(javascript:alert(5))">x</p>'
    '<form action="https://evil.example/"><input name=a></form>'
)
HOSTILE_URL = 'javascript:alert("u")'


@dataclass
class Site:
    """The config, its ingestor and helpers to add stories."""

    root: Path
    config: Config
    ingestor: Ingestor

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def add(
        self, item: StoredItem, outlet: str, *, url: str | None = None, seen_ms: int | None = None
    ) -> Outcome:
        url = url or item.url
        stored = StoredItem(item.ts, item.title, url, item.body)
        return self.ingestor.ingest(
            Story(outlet, canonical_url(url), stored, first_seen_ms=seen_ms or item.ts + 1000)
        )

    def add_file(self, name: str, outlet: str, **kwargs: object) -> Outcome:
        return self.add(read_item_file(ITEMS / name), outlet, **kwargs)  # type: ignore[arg-type]


def make_site(root: Path) -> Site:
    """An empty site under `root`."""
    (root / "config.yaml").write_text(CONFIG, encoding="utf-8")
    config = load_config(root / "config.yaml")
    return Site(root, config, Ingestor(config, open_state(config.state_db)))


def hostile_item(ts: int = 1_700_000_000_000) -> StoredItem:
    """An item whose title, body and link all carry script payloads (never sanitized on the way in)."""
    return StoredItem(ts, HOSTILE_TITLE, HOSTILE_URL, HOSTILE_BODY)
