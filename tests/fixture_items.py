"""Shared by tests: the bodies of every item-format fixture under tests/fixtures (all areas)."""

from __future__ import annotations

from pathlib import Path

from store.imports import read_item_file

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_items() -> dict[str, str]:
    """Body by path (relative to tests/fixtures) of each fixture file that is an item."""
    bodies = {}
    for path in sorted(FIXTURES.rglob("*")):
        if path.suffix not in (".md", ".txt") or path.name == "PROVENANCE.md":
            continue
        try:
            bodies[path.relative_to(FIXTURES).as_posix()] = read_item_file(path).body
        except Exception:  # noqa: BLE001 - notes and non-item files are not documents
            continue
    return bodies


def fixture_bodies() -> list[str]:
    """The body of each fixture file that is an item (notes and other files are skipped)."""
    return list(fixture_items().values())
