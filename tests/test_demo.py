"""`feedwatch demo` end to end: the bundled snapshot crawled into a fresh folder, as a newcomer
runs it. It must show the product at its best: every outlet stores stories, none is empty, and
the run merges a repost across outlets and one across Simplified/Traditional, records an edit and
fires alerts; it prints progress before the summary and ends by pointing at the web view."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from dedup.text import to_simplified
from store.document import html_to_text
from store.imports import iter_item_paths, read_item_file

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Run the demo once into a fresh folder: (folder, stdout)."""
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    proc = subprocess.run(
        [sys.executable, "-m", "feedwatch", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=200,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return out, proc.stdout


def _rows(out: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(out / "state" / "feedwatch.sqlite3")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _stories(out: Path) -> dict[int, list[tuple[str, str, str]]]:
    """story id -> (outlet, url, title) of every copy stored or merged into it, first one first."""
    stories: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for story, outlet, url, title in _rows(
        out, "SELECT story_id, outlet, url, title FROM items ORDER BY id"
    ):
        stories[story].append((outlet, url, title))
    return stories


@pytest.mark.slow
def test_every_configured_outlet_has_stories_and_none_is_empty(demo: tuple[Path, str]) -> None:
    out, _ = demo
    config = yaml.safe_load((out / "config.yaml").read_text("utf-8"))
    outlets = {name for name, o in config["outlets"].items() if o.get("enabled", True)}
    stored = dict(
        _rows(out, "SELECT outlet, COUNT(*) FROM dedup_items WHERE kind = 'new' GROUP BY outlet")
    )
    assert set(stored) == outlets and all(n >= 5 for n in stored.values()), stored
    paths = list(iter_item_paths([out / "archive"]))
    assert len(paths) == sum(stored.values()) > 100
    for path in paths:
        text = html_to_text(read_item_file(path).body)
        assert len(text) >= 100, (path, text)


def test_reposts_merge_across_outlets_and_scripts(demo: tuple[Path, str]) -> None:
    out, _ = demo
    stories = _stories(out)
    across = [s for s in stories.values() if len({outlet for outlet, _, _ in s}) > 1]
    assert len(across) >= 2, across

    # RFI's /tw/ edition (Traditional) and its /cn/ story (Simplified) in one story, whichever
    # of the two arrived first.
    def scripts(story: list[tuple[str, str, str]]) -> set[bool]:
        return {to_simplified(title) != title for _, _, title in story}

    mixed = [s for s in stories.values() if scripts(s) == {True, False}]
    assert mixed
    for story in mixed:
        traditional = [url for _, url, title in story if to_simplified(title) != title]
        assert all("/tw/" in url for url in traditional), story


def test_an_edit_is_recorded_as_a_revision_of_its_story(demo: tuple[Path, str]) -> None:
    out, _ = demo
    rows = _rows(
        out,
        "SELECT r.canonical_url = s.canonical_url, r.title_hash <> s.title_hash FROM dedup_items r"
        " JOIN dedup_items s ON s.story_id = r.story_id AND s.kind = 'new'"
        " WHERE r.kind = 'revision'",
    )
    assert rows and all(same_url for same_url, _ in rows)
    assert any(retitled for _, retitled in rows)  # the Epoch Times article retitled
    # An edit never adds a file: one per story.
    files = _rows(out, "SELECT COUNT(DISTINCT path) FROM items WHERE path IS NOT NULL")[0][0]
    assert files == len(list(iter_item_paths([out / "archive"])))


def test_the_example_rule_fires_once_per_story(demo: tuple[Path, str]) -> None:
    out, _ = demo
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text("utf-8").splitlines()]
    matches = [a for a in alerts if a["kind"] == "match"]
    assert len(matches) >= 5
    assert len({a["story_id"] for a in matches}) == len(matches)
    assert len({a["outlet"] for a in matches}) >= 3


def test_output_shows_progress_then_the_table_and_ends_at_the_web_view(
    demo: tuple[Path, str],
) -> None:
    out, stdout = demo
    lines = stdout.splitlines()
    feed_line = next(i for i, line in enumerate(lines) if "feed https://www.rfi.fr/cn/rss" in line)
    done = [i for i, line in enumerate(lines) if " done: feeds " in line]
    table = next(i for i, line in enumerate(lines) if "stories stored in" in line)
    assert feed_line < min(done) and len(done) == 5 and max(done) < table
    for name in ("rfi", "dw", "voa", "epochtimes", "epochtimes_mirror"):
        assert any(line.split()[:1] == [name] for line in lines[table:]), name
    assert "Reposts merged" in stdout and "Edits recorded" in stdout
    assert "(Traditional edition)" in stdout and "(across outlets)" in stdout
    assert lines[-2].strip() == f"feedwatch serve --config {out / 'config.yaml'}"
