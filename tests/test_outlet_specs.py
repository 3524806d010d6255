"""Every registered outlet's spec, checked without a test function of its own.

The cases come from `spiders.outlets.SPECS` (one per module in spiders/outlets/) and the fixture
manifest (tests/fixtures/outlets/manifest.json): a new outlet module with its fixtures is tested
here, by test_parsers.py and by test_spiders_feedx_render.py with no new test function.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conf.schema import OutletConfig
from feedwatch.outlets import host_in_domains
from spiders.outlets import SPECS, intermediary_for
from spiders.registry import SPIDER_KINDS, spider_class_for
from spiders.spec import OutletSpec
from store.urls import canonical_url

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "outlets"
CASES = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
KINDS = sorted(SPECS)


def _spec(kind: str) -> OutletSpec:
    return SPECS[kind]


def test_every_outlet_module_is_registered() -> None:
    modules = {p.stem for p in (ROOT / "spiders" / "outlets").glob("*.py")} - {"__init__"}
    assert set(SPECS) == modules == set(SPIDER_KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_identity_examples_map_to_their_identity(kind: str) -> None:
    spec = _spec(kind)
    if spec.urls.identity is not None:
        assert spec.identity_examples, f"{kind}: an identity rule needs real example URLs"
    for url, identity in spec.identity_examples:
        assert canonical_url(url) == identity
        assert canonical_url(identity) == identity  # an identity is its own identity
        assert host_in_domains(url, list(spec.domains)), f"{url} is outside {kind}'s domains"


@pytest.mark.parametrize("kind", KINDS)
def test_default_feeds_load_as_config_and_name_known_intermediaries(kind: str) -> None:
    spec = _spec(kind)
    outlet = OutletConfig(spider=kind) if spec.feeds else None
    if outlet is None:  # an outlet with no default feeds must be given some in config.yaml
        with pytest.raises(ValueError, match="feeds"):
            OutletConfig(spider=kind)
        return
    assert [f.url for f in outlet.feeds] == [f.url for f in spec.feeds]
    assert outlet.title == spec.title
    assert not set(spec.domains) & set(outlet.domains)  # config domains may be private: apart
    for feed in outlet.feeds:
        served = intermediary_for(feed)
        if feed.via is not None and served is not None:
            assert served in spec.intermediaries, f"{feed.url}: {served.name} is not in the spec"
            if served.full_text:
                assert feed.full_text is True, f"{feed.url}: {served.name} carries full text"


@pytest.mark.parametrize("kind", KINDS)
def test_fixture_cases_cover_each_way_the_outlet_is_read(kind: str) -> None:
    spec = _spec(kind)
    cases = [case for case in CASES if case["kind"] == kind]
    assert cases, f"{kind} has no fixture case in tests/fixtures/outlets/manifest.json"
    for intermediary in spec.intermediaries:
        served = [c for c in cases if intermediary_for(OutletConfig(**_one_feed(c)).feeds[0])]
        assert served, f"{kind}: no fixture case of its {intermediary.name} feed"
    if spec.page_extractor is not None:
        pages = [c for c in cases if c["callback"] == "parse_article"]
        assert pages, f"{kind}: selectors without a recorded article page"
        for case in pages:  # the spider would fetch this page: its host is the outlet's
            assert host_in_domains(case["url"], list(spec.domains))


def _one_feed(case: dict) -> dict:
    return {"spider": case["kind"], "feeds": [case["feed"]]}


@pytest.mark.parametrize("kind", KINDS)
def test_spec_parsers_run_in_a_worker_and_its_spider_carries_the_spec(kind: str) -> None:
    spec = _spec(kind)
    # Extraction may run in a spawned worker: the parsers must pickle (module-level functions).
    for parser in (spec.page_extractor, spec.fix_entries, spec.index_links, spec.page_entry):
        if parser is not None:
            assert pickle.loads(pickle.dumps(parser)) is parser
    feeds = spec.default_feed_configs() or [{"url": "https://example.org/feed.xml"}]
    spider = spider_class_for(f"{kind}_test", OutletConfig(spider=kind, feeds=feeds))()
    assert spider.spec is spec
    assert set(spec.domains) <= set(spider.article_domains())


@pytest.mark.parametrize("kind", KINDS)
def test_boilerplate_and_url_rules_are_valid_patterns(kind: str) -> None:
    spec = _spec(kind)
    rules = [spec.boilerplate, *(i.boilerplate for i in spec.intermediaries)]
    for pattern in [p for b in rules for p in (*b.cut_rest, *b.drop_lines)]:
        re.compile(pattern)
    if spec.urls.identity is not None:
        identity = spec.urls.identity
        assert identity.pattern.groups >= 1, "the identity needs the article id as a group"
        assert urlsplit(identity.canonical.format("1")).hostname == identity.host


@pytest.mark.parametrize(
    "entry",
    [
        "import feedwatch.cli",  # every `feedwatch` command
        "import crawler.settings",  # `scrapy crawl <outlet>`
        "import scheduler.daemon",  # `feedwatch run`
    ],
)
def test_every_entry_point_registers_the_outlets(entry: str) -> None:
    """Identity and dedup text must not depend on what a process happened to import."""
    code = (
        f"{entry}\n"
        "from store.urls import canonical_url\n"
        "from dedup.text import normalize_text\n"
        "print(canonical_url('http://www.dw.de/x/a-18317568?maca=rdf'))\n"
        "print(normalize_text('正文\\n获取更多RSS：https://feedx.best/rss/dw.xml\\n尾'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "https://dw.com/a-18317568\n正文\n"


def test_store_and_dedup_refuse_to_work_without_the_outlets() -> None:
    code = (
        "from store.urls import canonical_url\n"
        "try:\n"
        "    canonical_url('https://www.dw.com/zh/x/a-1')\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert "import spiders.outlets" in done.stdout
