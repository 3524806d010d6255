"""Bad config and bad command-line input: exit code 2, one stderr line naming the key, no files.

Each case starts from a valid config, breaks one value, and runs the real CLI entry point
(`feedwatch.cli.main`, as `python -m feedwatch` does) in a folder holding only the config; the
archive and state paths are relative to it, so "nothing written" is "the folder is unchanged".
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from feedwatch.cli import main

VALID: dict[str, Any] = {
    "archive_dir": "archive",
    "state_db": "state/feedwatch.sqlite3",
    "http": {"timeout": 5, "max_body_bytes": 1000000, "concurrent_requests": 4},
    "outlets": {
        "rfi": {
            "spider": "rfi",
            "domains": ["rfi.fr"],
            "schedule": {"every": "30m", "jitter": "60s"},
            "feeds": [{"url": "https://www.rfi.fr/cn/rss", "full_text": False}],
        }
    },
    "dedup": {"enabled": True},
    "alerts": {
        "channels": {"file": {"kind": "jsonl", "path": "alerts.jsonl"}},
        "rules": [{"name": "korea", "any": ["朝鲜"], "notify": ["file"]}],
    },
}

UNSET = object()

# (path to the value, the bad value, text the error line must contain)
CASES: list[tuple[str, Any, str]] = [
    ("surprise", 1, "surprise: unknown key"),
    ("http.timeout", "soon", "http.timeout"),
    ("http.timeout", -5, "http.timeout"),
    ("http.timeout", [1], "http.timeout"),
    ("http.max_body_bytes", 0, "http.max_body_bytes"),
    ("http.max_body_bytes", -1, "http.max_body_bytes"),
    ("http.max_body_bytes", "big", "http.max_body_bytes"),
    ("http.concurrent_requests", 0, "http.concurrent_requests"),
    ("http.concurrent_requests", 1000, "http.concurrent_requests"),
    ("http.proxy", "x", "http.proxy: unknown key"),
    ("outlets.rfi.colour", "red", "outlets.rfi.colour: unknown key"),
    ("outlets.rfi.schedule.often", True, "outlets.rfi.schedule.often: unknown key"),
    ("outlets.rfi.feeds.0.extra", 1, "outlets.rfi.feeds.0.extra: unknown key"),
    ("outlets.rfi.feeds.0.url", "ftp://example.org/feed", "outlets.rfi.feeds.0.url"),
    ("outlets.rfi.feeds.0.url", "not a url", "outlets.rfi.feeds.0.url"),
    ("outlets.rfi.feeds.0.url", 42, "outlets.rfi.feeds.0.url"),
    ("outlets.rfi.feeds.0.url", UNSET, "outlets.rfi.feeds.0.url: required key is missing"),
    ("outlets.rfi.feeds.0.full_text", "sometimes", "outlets.rfi.feeds.0.full_text"),
    ("outlets.rfi.feeds", [], "outlets.rfi.feeds"),
    ("outlets.rfi.feeds", "https://www.rfi.fr/cn/rss", "outlets.rfi.feeds"),
    ("outlets.rfi.schedule.every", "soon", "outlets.rfi.schedule.every"),
    ("outlets.rfi.schedule.every", "-5m", "outlets.rfi.schedule.every"),
    ("outlets.rfi.schedule.every", 10, "outlets.rfi.schedule.every"),
    ("outlets.rfi.schedule.jitter", "a while", "outlets.rfi.schedule.jitter"),
    ("outlets.rfi.enabled", "maybe", "outlets.rfi.enabled"),
    ("outlets.rfi.domains", 7, "outlets.rfi.domains"),
    ("outlets.RFI", {"feeds": [{"url": "https://x.org/rss"}]}, "outlets"),
    ("dedup.colour", 1, "dedup.colour: unknown key"),
    ("alerts.colour", 1, "alerts.colour: unknown key"),
    ("alerts.rules.0.regex", "(unclosed", "alerts.rules.0"),
    ("alerts.rules.0.notify", ["nowhere"], "alerts.rules"),
    ("archive_dir", ["a", "b"], "archive_dir"),
]


def _set(config: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    config = copy.deepcopy(config)
    node: Any = config
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is UNSET:
        del node[last]
    else:
        node[last] = value
    return config


def _run(folder: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    before = sorted(p.name for p in folder.rglob("*"))
    code = main(argv)
    err = capsys.readouterr().err
    assert sorted(p.name for p in folder.rglob("*")) == before, "files were written"
    return code, err


def _write(folder: Path, config: dict[str, Any] | str) -> Path:
    path = folder / "config.yaml"
    text = config if isinstance(config, str) else yaml.safe_dump(config, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("key", "value", "expected"), CASES, ids=[f"{c[0]}={c[1]!r}" for c in CASES]
)
@pytest.mark.parametrize("command", ["crawl", "status"])
def test_invalid_config_value_exits_2_naming_the_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    key: str,
    value: Any,
    expected: str,
    command: str,
) -> None:
    config = _write(tmp_path, _set(VALID, key, value))
    code, err = _run(tmp_path, [command, "--config", str(config)], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err, err


def test_unknown_spider_kind_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(tmp_path, _set(VALID, "outlets.rfi.spider", "nosuch"))
    code, err = _run(tmp_path, ["crawl", "--config", str(config)], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "outlets.rfi.spider" in err, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("outlets: [1, 2", "not valid YAML"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("outlets: {}\n", "no enabled outlets"),
        (
            "outlets:\n  rfi: {enabled: false, feeds: [{url: 'https://x.org/rss'}]}\n",
            "no enabled outlets",
        ),
    ],
)
def test_unusable_config_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    config = _write(tmp_path, text)
    code, err = _run(tmp_path, ["crawl", "--config", str(config)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["crawl", "nosuch"], "unknown outlet 'nosuch'"),
        (["crawl", "--replay", "missing.warc.gz"], "no such file"),
        (["fetch", "not-a-url"], "is not an http(s) URL"),
        (["fetch", "ftp://example.org/x"], "is not an http(s) URL"),
        (["fetch", "https://www.rfi.fr/cn/x", "--outlet", "nosuch"], "unknown outlet 'nosuch'"),
        (["import", "missing-folder"], "no such file or folder"),
        (["crawl", "--config", "missing.yaml"], "cannot read config"),
    ],
)
def test_bad_command_line_input_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    expected: str,
) -> None:
    config = _write(tmp_path, VALID)
    monkeypatch.chdir(tmp_path)
    if "--config" not in argv:
        argv = [*argv, "--config", str(config)]
    code, err = _run(tmp_path, argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err


def test_the_installed_entry_point_behaves_the_same(tmp_path: Path) -> None:
    config = _write(tmp_path, _set(VALID, "http.timeout", "soon"))
    result = subprocess.run(
        [sys.executable, "-m", "feedwatch", "crawl", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "http.timeout" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
