"""The packaging files agree with the code: the Dockerfile installs every package, the
systemd unit is valid and runs a command the CLI accepts, compose runs real commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from feedwatch.cli import build_parser, parse_args

ROOT = Path(__file__).resolve().parents[1]


def _subcommands() -> set[str]:
    parser = build_parser()
    return {
        name
        for action in parser._actions
        if action.choices and action.dest == "command"
        for name in action.choices
    }


def test_dockerfile_copies_every_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.M))
    assert copied == packages
    assert 'ENTRYPOINT ["feedwatch"]' in dockerfile


def test_compose_services_run_real_commands() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    commands = {name: svc["command"] for name, svc in compose["services"].items()}
    assert commands["feedwatch"] == ["run"]
    parse_args(commands["feedwatch"])
    assert commands["web"][0] == "serve"
    if "serve" not in _subcommands():
        pytest.skip("`feedwatch serve` is being added in another branch")
    parse_args(commands["web"])


def _unit() -> str:
    return (ROOT / "packaging" / "feedwatch.service").read_text(encoding="utf-8")


def test_systemd_unit_runs_the_daemon() -> None:
    exec_start = re.search(r"^ExecStart=(\S+) (.*)$", _unit(), flags=re.M)
    assert exec_start is not None
    args = parse_args(exec_start.group(2).split())
    assert args.command == "run"
    assert "Environment=FEEDWATCH_CONFIG=/var/lib/feedwatch/config.yaml" in _unit()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_unit_is_valid(tmp_path: Path) -> None:
    # The binary does not exist here: point ExecStart at one that does, keep the rest.
    unit = tmp_path / "feedwatch.service"
    unit.write_text(_unit().replace("/usr/local/bin/feedwatch", "/bin/true"), encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [line for line in done.stderr.splitlines() if "feedwatch.service" in line]
    assert problems == [], done.stderr
