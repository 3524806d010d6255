"""`feedwatch import`: real items in, the same bytes out; other shapes imported; bad files reported."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from feedwatch.cli import main
from store.format import parse_item

FIXTURES = Path(__file__).parent / "fixtures" / "store"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("archive_dir: archive\nstate_db: state.sqlite3\n", encoding="utf-8")
    return path


def _digests(paths: list[Path]) -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_seed_format_items_import_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = sorted((FIXTURES / "items").iterdir())
    assert main(["import", str(FIXTURES / "items"), "--config", str(_config(tmp_path))]) == 0
    stored = sorted((tmp_path / "archive").rglob("*.txt"))
    assert len(stored) == len(sources) == 13
    assert _digests(stored) == _digests(sources)
    assert "new 13" in capsys.readouterr().out
    # Importing again changes nothing.
    assert main(["import", str(FIXTURES / "items"), "--config", str(_config(tmp_path))]) == 0
    assert sorted((tmp_path / "archive").rglob("*.txt")) == stored


def test_jekyll_and_mirror_shapes_import_as_items(tmp_path: Path) -> None:
    paths = [str(FIXTURES / "jekyll"), str(FIXTURES / "mirror")]
    main(["import", *paths, "--no-alerts", "--config", str(_config(tmp_path))])
    stored = list((tmp_path / "archive").rglob("*.txt"))
    assert stored
    for path in stored:
        item = parse_item(path.read_bytes())
        assert item.url.startswith("http") and item.ts > 0 and item.body


def test_a_bad_file_is_reported_and_the_rest_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_bytes((FIXTURES / "items" / "rfi_1000000.md").read_bytes())
    (folder / "bad.txt").write_bytes(b"\xff\xfe not an item")
    code = main(["import", str(folder), "--config", str(_config(tmp_path))])
    out = capsys.readouterr().out
    assert code == 1
    assert "new 1" in out and "bad.txt" in out
    assert len(list((tmp_path / "archive").rglob("*.txt"))) == 1
