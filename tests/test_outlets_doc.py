"""The worked example of docs/OUTLETS.md runs: its module, page, manifest case and output.

The example outlet is registered for one test only (its spider kind, its URL rules), then the
registered set is put back, so no other test sees it.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import conf.schema
from conf.schema import OutletDefaults, outlet_kinds
from spiders.outlets import SPECS
from spiders.registry import SPIDER_KINDS, kind_class
from spiders.spec import OutletSpec
from spiders.testing import run_case
from store.urls import canonical_url, register_outlet_urls

DOC = (Path(__file__).parent.parent / "docs" / "OUTLETS.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """The doc's module, loaded as spiders.outlets.bbc would be, and registered meanwhile."""
    module = types.ModuleType("bbc_example")
    exec(compile(_blocks("python")[0], "docs/OUTLETS.md", "exec"), module.__dict__)
    spec: OutletSpec = module.SPEC
    defaults = OutletDefaults(spec.title, tuple(spec.default_feed_configs()))
    monkeypatch.setattr(conf.schema, "_outlet_kinds", {**outlet_kinds(), spec.kind: defaults})
    monkeypatch.setitem(SPIDER_KINDS, spec.kind, kind_class(spec))
    register_outlet_urls([*(s.urls for s in SPECS.values()), spec.urls])
    try:
        yield module
    finally:
        register_outlet_urls(s.urls for s in SPECS.values())


def test_the_example_module_declares_a_new_outlet(example: types.ModuleType) -> None:
    spec = example.SPEC
    assert isinstance(spec, OutletSpec) and spec.kind == "bbc" and spec.kind not in SPECS
    assert spec.page_extractor is example.extract_bbc_body
    for url, identity in spec.identity_examples:
        assert canonical_url(url) == identity


def test_the_example_page_gives_the_body_the_doc_shows(
    example: types.ModuleType, tmp_path: Path
) -> None:
    page, expected = _blocks("html")[0], _blocks("html")[1].strip()
    assert example.extract_bbc_body(page) == expected
    # The doc's manifest case, through the real spider callback, as test_parsers runs it.
    case = json.loads(_blocks("json")[0])
    (tmp_path / case["file"]).parent.mkdir(parents=True)
    (tmp_path / case["file"]).write_text(page, encoding="utf-8")
    (output,) = run_case(case, tmp_path)
    assert output["type"] == "entry" and output["full_text"] is True
    assert output["body_text"].startswith("30/11/2025 - 08:15 台湾政府宣布")


def test_without_the_example_its_identity_rule_is_gone() -> None:
    url = "https://www.bbc.com/zhongwen/articles/c0k8zlm7d1po/trad"
    assert canonical_url(url) == "https://bbc.com/zhongwen/articles/c0k8zlm7d1po/trad"
