"""Every positional argument has help text; `feedwatch completion bash|zsh` prints a script."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedwatch.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _parsers(
    parser: argparse.ArgumentParser, path: str = "feedwatch"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def test_every_positional_argument_has_help() -> None:
    missing = [
        f"{path} {action.metavar or action.dest}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if not action.option_strings
        and not isinstance(action, argparse._SubParsersAction)
        and not action.help
    ]
    assert missing == []


def test_every_subcommand_has_help_and_the_global_options() -> None:
    for path, parser in _parsers(build_parser()):
        if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            continue  # a group such as `dedup`: its actions carry the options
        options = {o for a in parser._actions for o in a.option_strings}
        assert {"--config", "-q", "-v", "--log-level", "--log-file"} <= options, path


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in ("crawl", "fetch", "dedup", "explain", "--log-level", "completion"):
        assert word in script
    if shell == "bash" and shutil.which("bash"):
        # The script must at least be valid bash.
        subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_a_closed_pipe_is_not_a_traceback() -> None:
    # `feedwatch completion bash | head -1`: the reader is gone before we write.
    proc = subprocess.Popen(
        [sys.executable, "-m", "feedwatch", "completion", "bash"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(60) == 141
    assert err == ""
