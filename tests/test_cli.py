"""CLI contracts: every command has --config, and bad input exits non-zero with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedwatch.cli import build_parser, main

COMMANDS = [
    ["crawl"],
    ["fetch", "https://example.org/"],
    ["add", "https://example.org/"],
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
    code = main(
        ["crawl", "--replay", str(tmp_path / "x.warc.gz"), "--config", str(_config(tmp_path))]
    )
    assert code == 2
    assert "no such file" in capsys.readouterr().err


def test_import_of_missing_path_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["import", str(tmp_path / "nothing"), "--config", str(_config(tmp_path))])
    assert code == 2
    assert "no such file or folder" in capsys.readouterr().err


ALERT_ITEMS = Path(__file__).parent / "fixtures" / "alerts"


def test_dedup_cluster_prints_every_file_once_with_paths_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import shutil

    folder = tmp_path / "items"
    shutil.copytree(ALERT_ITEMS, folder)
    monkeypatch.chdir(tmp_path)
    code = main(["dedup", "cluster", "./items", "--json", "--config", str(_config(tmp_path))])
    clusters = json.loads(capsys.readouterr().out)
    assert code == 0
    flat = [p for cluster in clusters for p in cluster]
    assert len(flat) == len(set(flat)) == 6  # PROVENANCE.md is not an item: skipped
    assert all(p.startswith("./items/") for p in flat)
    by_name = {Path(p).name: i for i, c in enumerate(clusters) for p in c}
    assert by_name["repost_rfi_freedom_house.md"] == by_name["repost_voa_freedom_house.md"]
    assert (
        by_name["rfi_999999_korea_defectors.md"]
        == by_name["rfi_999999_korea_defectors.traditional-s2t.md"]
    )
    assert by_name["rfi_1000000_putin_icc.md"] != by_name["dw_1022765_trump_ukraine.md"]


def test_dedup_explain_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = ALERT_ITEMS / "repost_rfi_freedom_house.md"
    b = ALERT_ITEMS / "repost_voa_freedom_house.md"
    assert main(["dedup", "explain", str(a), str(b), "--config", str(_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "same article (repost)" in out and "containment" in out


def test_dedup_cluster_refuses_a_file_that_is_not_an_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["dedup", "cluster", str(ALERT_ITEMS / "PROVENANCE.md"), "--config", str(_config(tmp_path))]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "PROVENANCE.md" in err
