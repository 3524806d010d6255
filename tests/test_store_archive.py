"""Archive layout and atomic writes: a crash never leaves a partial item file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store import archive as archive_mod
from store.archive import TMP_PREFIX, Archive
from store.format import StoredItem, parse_item, render_item

REPO = Path(__file__).resolve().parent.parent
ITEM = StoredItem(
    ts=1699443901000, title="G7呼吁 [停火]", url="https://www.rfi.fr/cn/x", body="<p>正文</p>"
)
CANON = "https://rfi.fr/cn/x"


def test_path_is_utc_date_and_hash_of_canonical(tmp_path: Path) -> None:
    arc = Archive(tmp_path)
    path = arc.path_for(CANON, ITEM.ts)
    rel = path.relative_to(tmp_path).as_posix()
    assert re.fullmatch(r"2023/11/08/[0-9a-f]{16}\.txt", rel)
    assert arc.path_for(CANON, ITEM.ts) == path
    assert arc.path_for(CANON + "y", ITEM.ts) != path
    # 23:59:59.999 UTC and 00:00 UTC the next day fall in different folders.
    assert arc.path_for(CANON, 1699487999999).parent.name == "08"
    assert arc.path_for(CANON, 1699488000000).parent.name == "09"


def test_path_never_uses_title_or_url_characters(tmp_path: Path) -> None:
    arc = Archive(tmp_path)
    path = arc.path_for("https://evil.com/../../etc/passwd?x=/..", 0)
    assert path.parent.parent.parent.parent == tmp_path
    assert re.fullmatch(r"[0-9a-f]{16}\.txt", path.name)


def test_bad_path_arguments_raise_value_error(tmp_path: Path) -> None:
    arc = Archive(tmp_path)
    with pytest.raises(ValueError, match="canonical_url"):
        arc.path_for("", 0)
    with pytest.raises(ValueError, match="ts"):
        arc.path_for(CANON, 10**20)


def test_write_new_then_refuse_overwrite(tmp_path: Path) -> None:
    arc = Archive(tmp_path)
    path = arc.write_new(ITEM, CANON)
    assert path.read_bytes() == render_item(ITEM)
    other = StoredItem(ts=ITEM.ts, title="other", url=ITEM.url, body="x")
    with pytest.raises(FileExistsError):
        arc.write_new(other, CANON)
    assert parse_item(path.read_bytes()) == ITEM
    assert list(arc.iter_paths()) == [path]
    assert not list(tmp_path.rglob(f"{TMP_PREFIX}*"))


def test_replace_upgrades_in_place(tmp_path: Path) -> None:
    arc = Archive(tmp_path)
    path = arc.write_new(ITEM, CANON)
    richer = StoredItem(ts=ITEM.ts, title=ITEM.title, url=ITEM.url, body="<p>正文更长的版本</p>")
    assert arc.replace(path, richer) == path
    assert parse_item(path.read_bytes()) == richer
    with pytest.raises(FileNotFoundError):
        arc.replace(tmp_path / "missing.txt", richer)


@pytest.mark.parametrize(
    ("operation", "step"),
    [("write_new", "link"), ("write_new", "fsync"), ("replace", "replace"), ("replace", "fsync")],
)
def test_crash_before_rename_leaves_no_item_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str, step: str
) -> None:
    arc = Archive(tmp_path)
    existing = arc.write_new(ITEM, "https://a.com/old")
    before = existing.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError(f"simulated crash in {step}")

    monkeypatch.setattr(archive_mod.os, step, crash)
    new_item = StoredItem(ts=ITEM.ts, title="new", url="https://a.com/new", body="b")
    with pytest.raises(OSError, match="simulated crash"):
        if operation == "write_new":
            arc.write_new(new_item, "https://a.com/new")
        else:
            arc.replace(existing, new_item)
    monkeypatch.undo()
    # Only the old complete file exists, unchanged, and the temp file is gone.
    assert list(arc.iter_paths()) == [existing]
    assert existing.read_bytes() == before
    assert not list(tmp_path.rglob(f"{TMP_PREFIX}*"))


def test_open_removes_temp_files_of_dead_writers_only(tmp_path: Path) -> None:
    folder = tmp_path / "2023" / "11" / "08"
    folder.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = folder / f"{TMP_PREFIX}{dead.stdout.strip()}-abc.part"
    stale.write_bytes(b"<!--1-->\n[half")
    mine = folder / f"{TMP_PREFIX}{os.getpid()}-def.part"
    mine.write_bytes(b"in progress")
    arc = Archive(tmp_path)
    assert arc.removed_temp_files == 1
    assert not stale.exists() and mine.exists()
    assert list(arc.iter_paths()) == []


_WRITER = """
import sys
from store.archive import Archive
from store.format import StoredItem
arc = Archive(sys.argv[1])
body = "<p>" + "正文" * 20000 + "</p>"
i = 0
while True:
    item = StoredItem(ts=1699443901000 + i, title=f"t{i}", url=f"https://a.com/{i}", body=body)
    arc.write_new(item, f"https://a.com/{i}")
    i += 1
    print(i, flush=True)
"""


def test_sigkill_while_writing_leaves_only_complete_files(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    # Wait (bounded) until a few files are written, then kill mid-loop.
    for _ in range(20):
        if proc.stdout.readline() == "":
            break
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    files = list(Archive(tmp_path).iter_paths())
    assert len(files) >= 20
    for path in files:
        item = parse_item(path.read_bytes())
        assert item.body == "<p>" + "正文" * 20000 + "</p>"
        assert Archive(tmp_path).path_for(item.url, item.ts) == path
    assert not list(tmp_path.rglob(f"{TMP_PREFIX}*"))


def test_a_batch_shows_its_files_only_once_they_are_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staged writes: read back inside the batch, in place only after their fsync."""
    arc = Archive(tmp_path)
    synced: list[str] = []
    real_fsync = archive_mod.os.fsync
    monkeypatch.setattr(archive_mod.os, "fsync", lambda fd: synced.append("f") or real_fsync(fd))
    arc.begin_batch()
    path = arc.write_new(ITEM, CANON)
    richer = StoredItem(ITEM.ts, ITEM.title, ITEM.url, "<p>正文</p><p>更多</p>")
    arc.replace(path, richer)  # an upgrade of a story new in the same batch
    assert not path.exists() and arc.exists(path)  # not in place yet...
    assert parse_item(arc.read_bytes(path)) == richer  # ...yet read back as it will be
    with pytest.raises(FileExistsError):
        arc.write_new(ITEM, CANON)
    assert synced == []  # nothing fsynced file by file
    arc.sync_batch()
    assert path.read_bytes() == render_item(richer)
    assert synced == ["f", "f", "f"]  # two files, then their one folder
    assert not list(tmp_path.rglob(f"{TMP_PREFIX}*"))
    arc.begin_batch()
    other = arc.write_new(ITEM, "https://rfi.fr/cn/y")
    arc.abort_batch()  # the batch's rows rolled back: its files never appear
    assert not other.exists() and not arc.exists(other)
    assert not list(tmp_path.rglob(f"{TMP_PREFIX}*"))
