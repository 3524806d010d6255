"""One parametrized suite over the outlet registry: recorded fixtures vs expected JSON.

The cases and their provenance are in tests/fixtures/outlets/manifest.json; the expected files
come from scripts/generate_parser_fixtures.py. A new outlet gets its tests by adding cases there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spiders.registry import SPIDER_KINDS
from spiders.testing import run_case

FIXTURES = Path(__file__).parent / "fixtures" / "outlets"
CASES = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_parser_matches_expected(case: dict) -> None:
    expected = json.loads(
        (FIXTURES / "expected" / f"{case['name']}.expected.json").read_text(encoding="utf-8")
    )
    assert run_case(case, FIXTURES) == expected


@pytest.mark.parametrize("kind", sorted(SPIDER_KINDS))
def test_every_registered_kind_has_fixtures(kind: str) -> None:
    cases = [case for case in CASES if case["kind"] == kind]
    assert cases, f"spider kind {kind!r} has no recorded fixture case"
    for case in cases:
        assert (FIXTURES / case["file"]).is_file()
        assert case["source"] and case["date"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_expected_outputs_are_not_empty(case: dict) -> None:
    """Guards against regenerating expectations from a parser that silently yields nothing."""
    outputs = run_case(case, FIXTURES)
    assert outputs
    for output in outputs:
        if output["type"] == "entry":
            assert output["title"] and output["url"].startswith("http")
            assert len(output["body_text"]) > 20
        else:
            assert output["type"] == "request" and output["url"].startswith("http")
