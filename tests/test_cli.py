"""CLI contracts: every command has --config, and bad input exits non-zero with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedwatch.cli import build_parser, main

COMMANDS = [
    ["crawl"],
    ["fetch", "https://example.org/"],
    ["run"],
    ["status"],
    ["import", "x"],
    ["dedup", "cluster", "x"],
    ["dedup", "explain", "a", "b"],
    ["alerts", "test", "rule"],
    ["alerts", "list"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_takes_config(argv: list[str]) -> None:
    args = build_parser().parse_args([*argv, "--config", "other.yaml"])
    assert args.config == Path("other.yaml")


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_missing_config_is_refused_in_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*argv, "--config", str(tmp_path / "absent.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "cannot read config" in err


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "archive_dir: archive\nstate_db: state.sqlite3\n"
        "outlets:\n  rfi:\n    spider: rfi\n    domains: [rfi.fr]\n"
        "    feeds: [{url: 'https://www.rfi.fr/cn/rss'}]\n",
        encoding="utf-8",
    )
    return path


def test_unknown_outlet_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["crawl", "nosuch", "--config", str(_config(tmp_path))])
    assert code == 2
    assert "unknown outlet 'nosuch'" in capsys.readouterr().err
    assert not (tmp_path / "archive").exists()


def test_missing_replay_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["crawl", "--replay", str(tmp_path / "x.warc.gz"), "--config", str(_config(tmp_path))])
    assert code == 2
    assert "no such file" in capsys.readouterr().err


def test_import_of_missing_path_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import", str(tmp_path / "nothing"), "--config", str(_config(tmp_path))])
    assert code == 2
    assert "no such file or folder" in capsys.readouterr().err
