"""`feedwatch init [DIR]` writes the commented config, which loads as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from conf.schema import load_config
from feedwatch.cli import main
from feedwatch.initconfig import template_text

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_template_is_the_repo_config() -> None:
    # The package data is a copy of the repo's commented config.yaml: they must not drift.
    assert template_text() == (ROOT / "config.yaml").read_text(encoding="utf-8")


def test_init_writes_a_commented_config_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "new" / "config.yaml"
    assert main(["init", str(tmp_path / "new")]) == 0
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# feedwatch working configuration")
    assert "# any Apprise URL" in text  # comments kept
    config = load_config(target)
    assert {"rfi", "dw", "voa", "epochtimes"} <= set(config.outlets)
    assert config.archive_dir == target.parent / "archive"
    assert f"feedwatch crawl --config {target}" in capsys.readouterr().out


def test_init_defaults_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert (tmp_path / "config.yaml").is_file()


def test_init_keeps_an_existing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").write_text("outlets: {}\n", encoding="utf-8")
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "--force" in err
    assert (tmp_path / "config.yaml").read_text(encoding="utf-8") == "outlets: {}\n"
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "config.yaml").read_text(encoding="utf-8") == template_text()


def test_missing_default_config_points_at_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FEEDWATCH_CONFIG", raising=False)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "feedwatch init" in err
