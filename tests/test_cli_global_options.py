"""Global options: --version, --config before or after the command, $FEEDWATCH_CONFIG,
-q/-v/--log-level/--log-file, and timestamps on every log line."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedwatch import __version__
from feedwatch.cli import main, parse_args
from feedwatch.logsetup import configure_logging, restore_logging

ROOT = Path(__file__).resolve().parents[1]
ITEMS = Path(__file__).parent / "fixtures" / "alerts"
STAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) [\w.]+: ")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"feedwatch {__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "a.yaml", "status"],
        ["status", "--config", "a.yaml"],
        ["--config", "a.yaml", "dedup", "explain", "x", "y"],
        ["dedup", "explain", "x", "y", "--config", "a.yaml"],
    ],
)
def test_config_before_or_after_the_command(argv: list[str]) -> None:
    args = parse_args(argv)
    assert args.config == Path("a.yaml")
    assert args.config_given


def test_option_after_the_command_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEEDWATCH_CONFIG", raising=False)
    args = parse_args(["--config", "a.yaml", "-q", "status", "--config", "b.yaml"])
    assert args.config == Path("b.yaml")
    assert args.level == logging.ERROR  # -q before the command is kept


def test_environment_variable_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDWATCH_CONFIG", "/etc/feedwatch/config.yaml")
    assert parse_args(["status"]).config == Path("/etc/feedwatch/config.yaml")
    assert parse_args(["status", "--config", "x.yaml"]).config == Path("x.yaml")
    monkeypatch.delenv("FEEDWATCH_CONFIG")
    args = parse_args(["status"])
    assert args.config == Path("config.yaml") and not args.config_given


def test_environment_variable_is_read_by_main(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEEDWATCH_CONFIG", str(tmp_path / "from-env.yaml"))
    assert main(["status"]) == 2
    assert "from-env.yaml: cannot read config" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "level"),
    [
        ([], logging.WARNING),
        (["-q"], logging.ERROR),
        (["-v"], logging.INFO),
        (["-vv"], logging.DEBUG),
        (["-v", "--log-level", "error"], logging.ERROR),
        (["--log-level", "DEBUG"], logging.DEBUG),
    ],
)
def test_levels(flags: list[str], level: int) -> None:
    assert parse_args([*flags, "status"]).level == level
    assert parse_args(["status", *flags]).level == level


@pytest.fixture()
def own_logging() -> Iterator[None]:
    yield
    restore_logging()


def test_log_file_gets_timestamped_lines_and_scrapy_chatter_waits_for_debug(
    tmp_path: Path, own_logging: None
) -> None:
    log = tmp_path / "logs" / "feedwatch.log"
    configure_logging(parse_args(["-v", "--log-file", str(log), "status"]).level, log)
    logging.getLogger("feedwatch.test").info("ours")
    logging.getLogger("scrapy.crawler").info("Overridden settings: {...}")
    logging.getLogger("scrapy.core.engine").warning("a real Scrapy warning")
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert all(STAMPED.match(line) for line in lines), lines
    assert lines[0].endswith("feedwatch.test: ours")
    assert lines[1].endswith("scrapy.core.engine: a real Scrapy warning")

    configure_logging(parse_args(["--log-level", "DEBUG", "status"]).level, log)
    logging.getLogger("scrapy.crawler").info("Overridden settings: {...}")
    assert log.read_text(encoding="utf-8").splitlines()[-1].endswith("Overridden settings: {...}")


def test_quiet_hides_warnings(own_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(parse_args(["-q", "status"]).level)
    logging.getLogger("feedwatch.test").warning("hidden")
    logging.getLogger("feedwatch.test").error("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err and "shown" in err


def test_main_leaves_the_callers_logging_alone(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    assert main(["-vv", "--log-file", str(tmp_path / "x.log"), "init", str(tmp_path)]) == 0
    assert root.handlers == handlers and root.level == level


def test_the_cli_writes_timestamped_info_lines_with_v(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("outlets: {}\n", encoding="utf-8")
    log = tmp_path / "import.log"
    done = subprocess.run(
        [sys.executable, "-m", "feedwatch", "import", str(ITEMS), "--no-alerts"]
        + ["-v", "--log-file", str(log)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1  # PROVENANCE.md is not an item
    lines = log.read_text(encoding="utf-8").splitlines()
    assert any(" INFO " in line for line in lines)
    assert lines and all(STAMPED.match(line) for line in lines), lines
    assert all(line in done.stderr for line in lines)  # the same lines on stderr
