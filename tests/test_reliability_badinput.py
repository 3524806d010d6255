"""Bad input that used to crash or lie: one stderr line, non-zero exit, nothing written.

Issue 11, points 4 and 9: files in the way of the archive or the state, a corrupt state
database, configs that are not UTF-8, broken YAML, bad schedules, union tags and whole
mappings in error messages, and YAML alias bombs. Each case runs the real CLI entry point in
a folder holding only what the case puts there, and checks that the folder is unchanged.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from feedwatch.cli import main

FEED = "https://www.rfi.fr/cn/rss"
BASE: dict[str, object] = {
    "archive_dir": "archive",
    "state_db": "state/feedwatch.sqlite3",
    "outlets": {"rfi": {"spider": "rfi", "feeds": [{"url": FEED}]}},
}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _files_and_dirs(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _run(folder: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    before, names = _snapshot(folder), _files_and_dirs(folder)
    code = main(argv)
    err = capsys.readouterr().err
    assert _files_and_dirs(folder) == names, "files or folders were created"
    assert _snapshot(folder) == before, "a file was changed"
    return code, err


def _config(folder: Path, **changes: object) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({**BASE, **changes}), encoding="utf-8")
    return path


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", ["crawl", "import", "fetch", "run"])
def test_archive_dir_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # Before: 440 lines of Twisted tracebacks, then "0 errors", exit 0.
    (tmp_path / "archive").write_text("not a folder\n", encoding="utf-8")
    config = _config(tmp_path)
    argv = [command, "--config", str(config)]
    if command == "import":
        argv.append(str(config))
    elif command == "fetch":
        argv.insert(1, "https://www.rfi.fr/cn/x")  # refused before any request
    code, err = _run(tmp_path, argv, capsys)
    assert code == 2
    assert "archive_dir" in _one_line(err) and "is a file" in err, err


@pytest.mark.parametrize("command", ["crawl", "status", "import"])
def test_state_db_that_cannot_be_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # Tests run as root in CI, where permissions do not stop a write: a file in the way does.
    (tmp_path / "state").write_text("in the way\n", encoding="utf-8")
    config = _config(tmp_path)
    argv = [command, "--config", str(config)] + ([str(config)] if command == "import" else [])
    code, err = _run(tmp_path, argv, capsys)
    line = _one_line(err)
    assert code == 2 and "state_db" in line and "cannot be created" in line, err


@pytest.mark.parametrize("command", ["crawl", "status", "import", "alerts"])
def test_corrupt_state_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "feedwatch.sqlite3").write_bytes(b"\x13garbage, no SQLite header" * 200)
    config = _config(tmp_path)
    argv = {
        "crawl": ["crawl"],
        "status": ["status"],
        "import": ["import", str(config)],
        "alerts": ["alerts", "list"],
    }[command] + ["--config", str(config)]
    code, err = _run(tmp_path, argv, capsys)
    line = _one_line(err)
    assert code == 2 and "not a usable SQLite database" in line, err


@pytest.mark.parametrize(
    "url", ["http://", "https://", "http:///path", "https://[::1", "http:// x"]
)
def test_fetch_of_a_url_without_a_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    config = _config(tmp_path)
    code, err = _run(tmp_path, ["fetch", url, "--config", str(config)], capsys)
    assert code == 2 and "not an http(s) URL" in _one_line(err), err


def test_demo_out_on_a_file_or_a_foreign_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine\n", encoding="utf-8")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious\n", encoding="utf-8")
    for out, expected in [
        ("notes.txt", "is a file"),
        ("mine", "did not write"),
        ("notes.txt/sub", "cannot be created"),
    ]:
        code, err = _run(tmp_path, ["demo", "--out", str(tmp_path / out)], capsys)
        assert code == 2 and expected in _one_line(err), err


def test_record_into_a_folder_that_cannot_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("x\n", encoding="utf-8")
    config = _config(tmp_path)
    argv = ["crawl", "--record", str(tmp_path / "afile" / "x.warc.gz"), "--config", str(config)]
    code, err = _run(tmp_path, argv, capsys)
    assert code == 2 and "--record" in _one_line(err), err


def _raw_config(tmp_path: Path, text: bytes) -> Path:
    path = tmp_path / "config.yaml"
    path.write_bytes(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # GBK-encoded Chinese title: a config saved in the wrong encoding.
        (
            "outlets:\n  rfi:\n    title: 法广\n".encode("gbk"),
            "not UTF-8 text (byte 0xb7 on line 3)",
        ),
        (b"outlets:\n  rfi: [1,\n    feeds\n", "not valid YAML at line 4, column 1"),
        (b"outlets:\n  rfi:\n\tspider: rfi\n", "not valid YAML at line 3, column 1"),
        (b"a: 'unclosed\n", "not valid YAML at line 2, column 1"),
        (b"a: &x [*x]\n", "recursive"),
    ],
)
@pytest.mark.parametrize("command", ["crawl", "status"])
def test_unreadable_config_files(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: bytes,
    expected: str,
    command: str,
) -> None:
    config = _raw_config(tmp_path, text)
    code, err = _run(tmp_path, [command, "--config", str(config)], capsys)
    assert code == 2 and expected in _one_line(err), err


def _schedule(tmp_path: Path, schedule: dict[str, object]) -> Path:
    outlets = {"rfi": {"spider": "rfi", "schedule": schedule, "feeds": [{"url": FEED}]}}
    return _config(tmp_path, outlets=outlets)


@pytest.mark.parametrize("command", ["crawl", "status", "run", "import"])
@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"cron": "61 * * * *"}, "outlets.rfi.schedule.cron: '61 * * * *' is not a cron"),
        ({"cron": "every day"}, "outlets.rfi.schedule.cron"),
        ({"cron": "0 * * * *", "every": "30m"}, "set either every or cron, not both"),
    ],
)
def test_bad_schedules_are_refused_at_load_time(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    schedule: dict[str, object],
    expected: str,
    command: str,
) -> None:
    config = _schedule(tmp_path, schedule)
    argv = [command, "--config", str(config)] + ([str(config)] if command == "import" else [])
    code, err = _run(tmp_path, argv, capsys)
    assert code == 2 and expected in _one_line(err), err


def test_a_cron_schedule_alone_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _schedule(tmp_path, {"cron": "*/30 * * * *"})
    code, err = main(["status", "--config", str(config)]), capsys.readouterr().err
    assert code == 0, err


def test_union_errors_name_the_key_not_the_member_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outlets = {"rfi": {"feeds": [{"url": FEED, "full_text": "sometimes"}]}}
    config = _config(tmp_path, outlets=outlets)
    code, err = _run(tmp_path, ["status", "--config", str(config)], capsys)
    line = _one_line(err)
    assert code == 2 and "outlets.rfi.feeds.0.full_text:" in line, err
    assert ".bool" not in line and "'auto'" in line, err


def test_bad_outlet_name_does_not_dump_the_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outlets = {f"o{i}": {"feeds": [{"url": f"https://example.org/{i}.xml"}]} for i in range(300)}
    outlets["BAD"] = {"feeds": [{"url": FEED}]}
    config = _config(tmp_path, outlets=outlets)
    code, err = _run(tmp_path, ["status", "--config", str(config)], capsys)
    line = _one_line(err)
    assert code == 2 and "outlet name 'BAD'" in line and len(line) < 300, err
    assert "example.org" not in line


BOMB = b"""\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
archive_dir: *i
"""


def test_billion_laughs_is_refused_in_one_line(tmp_path: Path) -> None:
    assert len(BOMB) < 600
    config = _raw_config(tmp_path, BOMB)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "feedwatch", "status", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert time.monotonic() - started < 30
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "aliases expand to more than 100,000 values" in line and len(line) < 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_error_messages_echo_only_an_excerpt_of_a_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Small aliases (under the bound) still make a big value: the message must stay short.
    text = BOMB.replace(b"h: &h", b"# h").replace(b"i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n", b"")
    text = text.replace(b"archive_dir: *i", b"outlets: {rfi: {feeds: *f}}")
    config = _raw_config(tmp_path, text)
    code, err = _run(tmp_path, ["status", "--config", str(config)], capsys)
    line = _one_line(err)
    assert code == 2 and len(line) < 400, line[:1000]


def test_long_string_values_are_cut_in_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outlets = {"rfi": {"spider": "x" * 100_000, "feeds": [{"url": "ftp://" + "y" * 100_000}]}}
    config = _config(tmp_path, outlets=outlets)
    code, err = _run(tmp_path, ["status", "--config", str(config)], capsys)
    line = _one_line(err)
    assert code == 2 and len(line) < 400 and "..." in line, line[:1000]


@pytest.mark.parametrize(
    ("config", "expected"),
    [("/dev/zero", "not a regular file"), ("/dev/null", "not a regular file")],
)
def test_a_config_that_is_a_device_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, expected: str
) -> None:
    # /dev/zero used to be read until memory ran out.
    code, err = _run(tmp_path, ["status", "--config", config], capsys)
    assert code == 2 and expected in _one_line(err), err


def test_a_huge_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _raw_config(tmp_path, b"# padding\n" * 500_000)
    code, err = _run(tmp_path, ["status", "--config", str(config)], capsys)
    assert code == 2 and "larger than 4,000,000 bytes" in _one_line(err), err


def test_deeply_nested_yaml_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _raw_config(tmp_path, b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n")
    code, err = _run(tmp_path, ["status", "--config", str(config)], capsys)
    assert code == 2 and "nested too deeply" in _one_line(err), err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["status", "--max-failures", "0"], "--max-failures must be 1 or more"),
        (["import", "/dev/null"], "/dev/null: not a file or a folder"),
        (["crawl", "--record", "."], "is a folder"),
    ],
)
def test_more_bad_command_line_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    config = _config(tmp_path)
    code, err = _run(tmp_path, [*argv, "--config", str(config)], capsys)
    assert code == 2 and expected in _one_line(err), err


def test_a_garbage_replay_file_gives_one_short_printable_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Its first "line" used to be echoed whole: kilobytes of binary, terminal escapes included.
    garbage = tmp_path / "bad.warc.gz"
    garbage.write_bytes(b"\x1b]0;owned\x07\x1b[2J" + bytes(range(256)) * 12)
    config = _config(tmp_path)
    code, err = _run(tmp_path, ["crawl", "--replay", str(garbage), "--config", str(config)], capsys)
    line = _one_line(err)
    assert code == 2 and "not a readable WARC" in line and len(line) <= 450, line
    assert all(ch.isprintable() for ch in line), line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["alerts", "test", "korea", "missing.txt"], "missing.txt: no such file or folder"),
        (["dedup", "explain", ".", "."], ".: not a file"),
    ],
)
def test_reading_commands_refuse_missing_paths(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    expected: str,
) -> None:
    rules = {
        "channels": {"f": {"kind": "jsonl", "path": "a.jsonl"}},
        "rules": [{"name": "korea", "any": ["朝鲜"], "notify": ["f"]}],
    }
    config = _config(tmp_path, alerts=rules)
    monkeypatch.chdir(tmp_path)
    code, err = _run(tmp_path, [*argv, "--config", str(config)], capsys)
    assert code == 2 and expected in _one_line(err), err
