"""Progress on long work: rich display on a terminal, plain lines otherwise, nothing with -q."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from servers.feedserver import FeedServer

from feedwatch.progress import ProgressReport

ROOT = Path(__file__).resolve().parents[1]
ITEMS = Path(__file__).parent / "fixtures" / "alerts"
RSS = "application/rss+xml; charset=utf-8"
FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>t</title><link>http://127.0.0.1/</link><description>d</description>
<item><title>One</title><link>http://127.0.0.1/a/1</link><guid>1</guid>
<pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate><description>&lt;p&gt;Full text of one.&lt;/p&gt;</description></item>
<item><title>Two</title><link>http://127.0.0.1/a/2</link><guid>2</guid>
<pubDate>Mon, 30 Nov 2026 11:00:00 GMT</pubDate><description>&lt;p&gt;Full text of two.&lt;/p&gt;</description></item>
</channel></rss>"""


def _feedwatch(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Not a terminal: stdout and stderr are pipes.
    return subprocess.run(
        [sys.executable, "-m", "feedwatch", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_plain_lines_are_spaced_and_the_last_one_says_done() -> None:
    out = io.StringIO()
    progress = ProgressReport("plain", stream=out, interval=3600)
    with progress:
        progress.add("import", "import", total=3, unit="files")
        for n in range(3):
            progress.update("import", n, detail=f"new {n}")
        progress.update("import", 3, detail="new 3", done=True)
        progress.update("import", 3, detail="new 3", done=True)  # once done, stays quiet
    # The first change prints, then nothing within the interval, then the final line.
    assert out.getvalue().splitlines() == [
        "import: 0/3 files (new 0)",
        "import: 3/3 files (new 3) done",
    ]


def test_off_prints_nothing() -> None:
    out = io.StringIO()
    with ProgressReport("off", stream=out) as progress:
        progress.add("rfi", "rfi", total=2, unit="feeds")
        progress.update("rfi", 2, detail="stories 3 new", done=True)
    assert out.getvalue() == ""


def test_live_display_shows_each_task() -> None:
    out = io.StringIO()
    with ProgressReport("live", stream=out) as progress:
        progress.add("rfi", "rfi", total=2, unit="feeds")
        progress.add("dw", "dw", total=1, unit="feeds")
        progress.update("rfi", 2, detail="stories 3 new", done=True)
        progress.update("dw", 0, detail="pages 0")
    text = out.getvalue()
    assert "✓ rfi" in text and "2/2 feeds" in text and "stories 3 new" in text
    assert "… dw" in text and "0/1 feeds" in text


def _site(tmp_path: Path, base: str) -> None:
    (tmp_path / "config.yaml").write_text(
        f"outlets:\n  local:\n    feeds: [{{url: '{base}/rss', full_text: true}}]\n",
        encoding="utf-8",
    )


@pytest.mark.slow
def test_crawl_progress_plain_when_not_a_terminal_and_none_with_quiet(tmp_path: Path) -> None:
    with FeedServer({"/rss": (FEED, RSS)}) as server:
        _site(tmp_path, server.base_url)
        done = _feedwatch("crawl", cwd=tmp_path)
        quiet = _feedwatch("-q", "crawl", "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "local: 1/1 feeds (pages 0, stories 2 queued) done" in done.stderr
    assert done.stdout.splitlines()[-1].startswith("total: 2 new items")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert quiet.stdout.splitlines()[-1].startswith("total: 0 new items")


def test_import_progress(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("outlets: {}\n", encoding="utf-8")
    done = _feedwatch("import", str(ITEMS), "--no-alerts", cwd=tmp_path)
    files = sum(1 for p in ITEMS.iterdir() if p.suffix == ".md")
    assert done.returncode == 1  # PROVENANCE.md is not an item: reported as failed
    last = done.stderr.splitlines()[-1]
    assert last.startswith(f"import: {files}/{files} files (") and last.endswith(") done"), last
    quiet = _feedwatch("-q", "import", str(ITEMS), "--no-alerts", cwd=tmp_path)
    assert "import:" not in quiet.stderr
