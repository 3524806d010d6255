"""OutletSpec: everything the code knows about one outlet, declared beside its parser.

Each module in `spiders/outlets/` holds one `SPEC` (fundus' publisher spec): its name, article
domains, default feeds (with `full_text`), the intermediaries that re-publish it, its URL
identity rule, host aliases and tracking parameters (`store.urls.OutletUrls`), the boilerplate
lines it or its intermediaries add (`dedup.text.Boilerplate`), and its parsers. `spiders.outlets`
collects the specs and hands the lower layers their part as plain data; config.yaml only
enables, schedules and overrides (docs/OUTLETS.md).

No Scrapy here: the specs load in every process that computes identities or dedup text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from conf.schema import FeedConfig
from dedup.text import Boilerplate
from spiders.extract import PageExtractor  # page HTML -> body; module-level: it must pickle
from spiders.items import FeedEntry
from store.urls import OutletUrls

# (feed bytes, feedparser entries) -> entries: repairs what feedparser read incompletely.
EntriesFixer = Callable[[bytes, list[Any]], list[Any]]
IndexReader = Callable[[str, str], list[tuple[str, str]]]
# (page text, page URL, outlet name, feed URL) -> entry; raises ValueError when it is none.
PageReader = Callable[[str, str, str, str], FeedEntry]


@dataclass(frozen=True)
class Intermediary:
    """A service that re-publishes outlets' articles under its own feed URLs (feedx)."""

    name: str  # what `via:` in config.yaml says
    hosts: tuple[str, ...]  # its feed hosts (a feed on one of them is this intermediary's)
    full_text: bool = False  # its entries always carry the whole article
    boilerplate: Boilerplate = field(default_factory=Boilerplate)

    def serves(self, feed: FeedConfig) -> bool:
        """True for a feed served by this intermediary (by `via`, or by its host)."""
        if (feed.via or "").lower() == self.name:
            return True
        host = feed.url.split("/")[2].lower() if "://" in feed.url else ""
        return any(host == h or host.endswith("." + h) for h in self.hosts)


@dataclass(frozen=True)
class DefaultFeed:
    """A feed the outlet has unless config.yaml lists its own (`feeds:` overrides them all)."""

    url: str
    full_text: bool | Literal["auto"] = "auto"
    via: str | None = None

    def config(self) -> FeedConfig:
        """The feed as config.yaml would have written it."""
        return FeedConfig(url=self.url, full_text=self.full_text, via=self.via)


@dataclass(frozen=True)
class OutletSpec:
    """One outlet, declared once. `kind` is what config.yaml's `spider:` names."""

    kind: str
    title: str = ""
    domains: tuple[str, ...] = ()  # article hosts (config `domains` adds to them)
    feeds: tuple[DefaultFeed, ...] = ()
    intermediaries: tuple[Intermediary, ...] = ()
    urls: OutletUrls = field(default_factory=OutletUrls)
    boilerplate: Boilerplate = field(default_factory=Boilerplate)
    # Parsers. page_extractor: the outlet's selectors for article pages (None: trafilatura).
    page_extractor: PageExtractor | None = None
    trafilatura_fallback: bool = True  # when the selectors find nothing, or there are none
    fix_entries: EntriesFixer | None = None
    # An outlet published as index pages listing article pages (a mirror), not as feeds:
    # index text + URL -> (page URL, title) newest first; page text -> one entry.
    index_links: IndexReader | None = None
    page_entry: PageReader | None = None
    # Article URLs (real ones, with the tails feeds add) and the identity each must get:
    # tests/test_outlet_specs.py checks them, so a rule change that splits a story shows.
    identity_examples: tuple[tuple[str, str], ...] = ()

    def default_feed_configs(self) -> list[FeedConfig]:
        """The default feeds as FeedConfig objects."""
        return [feed.config() for feed in self.feeds]
