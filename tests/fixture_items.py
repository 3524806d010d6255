"""Shared by tests: the bodies of every item-format fixture under tests/fixtures (all areas)."""

from __future__ import annotations

from pathlib import Path

from store.imports import read_item_file

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bodies() -> list[str]:
    """The body of each fixture file that is an item (notes and other files are skipped)."""
    bodies = []
    for path in sorted(FIXTURES.rglob("*")):
        if path.suffix not in (".md", ".txt") or path.name == "PROVENANCE.md":
            continue
        try:
            bodies.append(read_item_file(path).body)
        except Exception:  # noqa: BLE001 - notes and non-item files are not documents
            continue
    return bodies
