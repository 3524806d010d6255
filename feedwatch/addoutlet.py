"""`feedwatch add URL [--name]`: add a `generic` outlet for a site's feed to config.yaml.

The feed is found (the URL itself, or a feed the page links to or serves at a well-known path),
fetched and parsed before anything is written. The config is edited with ruamel.yaml's
round-trip mode, so its comments and layout stay as they were; the result is validated like any
config before it replaces the file (atomically).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from conf.schema import Config, ConfigError, load_config
from feedwatch.discover import DiscoverSpider, Discovery, FoundFeed, describe, outlet_name_for

logger = logging.getLogger(__name__)


class AddError(ValueError):
    """Why nothing was added, as one line."""


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: keeps comments, order, quoting and flow styles
    yaml.indent(mapping=2, sequence=4, offset=2)  # the layout of the shipped config.yaml
    yaml.width = 4096  # never re-wrap long URLs or comments
    yaml.preserve_quotes = True
    return yaml


def configured_in(config: Config, feed_url: str) -> str | None:
    """The outlet that already has this feed URL, if any."""
    for name, outlet in config.outlets.items():
        if any(feed.url == feed_url for feed in outlet.feeds):
            return name
    return None


def check_new(config: Config, config_path: Path, name: str, url: str) -> None:
    """Refuse a bad or taken name, or a feed URL that is already configured."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise AddError(f"outlet name {name!r} must be lowercase letters, digits and _")
    if name in config.outlets:
        raise AddError(f"outlet {name!r} is already in {config_path}; choose another --name")
    owner = configured_in(config, url)
    if owner is not None:
        raise AddError(f"{url} is already in {config_path} (outlet {owner!r})")


def discover(config: Config, args: argparse.Namespace) -> Discovery:
    """Fetch the URL (and candidate feeds) with Scrapy; raises AddError when that failed."""
    from scrapy.crawler import CrawlerProcess

    from crawler.spiderloader import scrapy_settings_for
    from feedwatch.crawl import build_settings

    overrides: dict[str, Any] = dict(scrapy_settings_for(config))
    overrides["HTTPSTATE_ENABLED"] = False  # a check, not a crawl: no validators, no backoff
    overrides["ITEM_PIPELINES"] = {}
    settings = build_settings(
        args.config,
        replay=args.replay,
        record=args.record,
        log_level=str(logging.getLevelName(args.level)),
        overrides=overrides,
    )
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(DiscoverSpider)
    process.crawl(crawler, url=args.url)
    process.start()
    spider: DiscoverSpider = crawler.spider  # type: ignore[assignment]
    if spider.error is not None:
        raise AddError(f"cannot fetch {args.url}: {spider.error}")
    return spider.result


def add_outlet(config_path: Path, name: str, feed: FoundFeed) -> None:
    """Append the outlet to the config file, keeping its comments; validated before writing."""
    yaml = _yaml()
    text = config_path.read_text(encoding="utf-8")
    data = yaml.load(text) or CommentedMap()
    outlets = data.get("outlets")
    if not isinstance(outlets, CommentedMap):
        outlets = CommentedMap()
        data["outlets"] = outlets
    outlets.fa.set_block_style()  # `outlets: {}` becomes a block to append to
    host = (urlsplit(feed.url).hostname or "").removeprefix("www.")
    entry = CommentedMap()
    entry["title"] = feed.title or name
    entry["spider"] = "generic"
    domains = CommentedSeq([host])
    domains.fa.set_flow_style()
    entry["domains"] = domains
    schedule = CommentedMap(every="30m", jitter="60s")
    schedule.fa.set_flow_style()
    entry["schedule"] = schedule
    feed_entry = CommentedMap(url=feed.url, full_text="auto")
    feed_entry.fa.set_flow_style()
    entry["feeds"] = CommentedSeq([feed_entry])
    outlets[name] = entry
    outlets.yaml_add_eol_comment(f"added by feedwatch add ({feed.kind})", name)
    keys = list(data.keys())
    after = keys.index("outlets") + 1
    if after < len(keys):
        # The blank line that ended the outlets belongs to the last old outlet: keep one
        # between the new outlet and the next top-level key too.
        data.yaml_set_comment_before_after_key(keys[after], before="\n")
    fd, tmp_name = tempfile.mkstemp(prefix=".config-", suffix=".yaml", dir=config_path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.dump(data, fh)
        load_config(tmp)  # never write a config that would not load
        tmp.replace(config_path)
    except ConfigError as exc:
        raise AddError(f"the new outlet would not validate: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def run_add(config: Config, args: argparse.Namespace) -> int:
    """`feedwatch add`: find, check, then write; a refusal raises AddError (one line)."""
    name = args.name or outlet_name_for(args.url)
    check_new(config, args.config, name, args.url)
    result = discover(config, args)
    found = result.feeds()
    if not found:
        raise AddError(f"no feed found at {args.url}")
    feed = found[0]
    owner = configured_in(config, feed.url)
    if owner is not None:
        raise AddError(f"{feed.url} is already in {args.config} (outlet {owner!r})")
    add_outlet(args.config, name, feed)
    print(f"added outlet {name!r} to {args.config}: {describe(feed)}")
    if len(found) > 1:
        others = ", ".join(f.url for f in found[1:])
        print(f"other feeds found there (not added): {others}")
    print(f"crawl it with: feedwatch crawl {name} --config {args.config}")
    return 0
