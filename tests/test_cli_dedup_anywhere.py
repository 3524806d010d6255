"""`dedup cluster` and `dedup explain` work in a folder without config.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedwatch.cli import main

ITEMS = Path(__file__).parent / "fixtures" / "alerts"
A = ITEMS / "repost_rfi_freedom_house.md"
B = ITEMS / "repost_voa_freedom_house.md"


@pytest.fixture()
def empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FEEDWATCH_CONFIG", raising=False)
    return tmp_path


def test_explain_without_a_config(empty_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dedup", "explain", str(A), str(B)]) == 0
    out = capsys.readouterr().out
    assert "same article (repost)" in out


def test_cluster_without_a_config(empty_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dedup", "cluster", str(A), str(B)]) == 0
    clusters = json.loads(capsys.readouterr().out)
    assert clusters == [[str(A), str(B)]] or clusters == [[str(B), str(A)]]


def test_a_named_config_that_is_missing_is_still_an_error(
    empty_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dedup", "explain", str(A), str(B), "--config", "absent.yaml"]) == 2
    assert "cannot read config" in capsys.readouterr().err


def test_other_commands_still_need_a_config(
    empty_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 2
    assert "cannot read config" in capsys.readouterr().err
