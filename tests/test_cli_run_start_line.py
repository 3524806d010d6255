"""`feedwatch run` prints one start line: the outlets and when each runs next."""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path

from conf.schema import Config, FeedConfig, OutletConfig, ScheduleConfig
from scheduler.daemon import Daemon, DaemonOptions


def _config(tmp_path: Path) -> Config:
    def outlet(name: str, schedule: ScheduleConfig) -> OutletConfig:
        return OutletConfig(
            spider="generic", schedule=schedule, feeds=[FeedConfig(url=f"http://x.test/{name}")]
        )

    return Config(
        archive_dir=tmp_path / "archive",
        state_db=tmp_path / "state" / "feedwatch.sqlite3",
        outlets={
            "rfi": outlet("rfi", ScheduleConfig(every="30m")),
            "dw": outlet("dw", ScheduleConfig(every=None, cron="0 3 * * *")),
        },
    )


def test_one_start_line_with_outlets_and_next_runs(tmp_path: Path) -> None:
    lines: list[str] = []
    announced = threading.Event()

    def announce(line: str) -> None:
        lines.append(line)
        announced.set()

    options = DaemonOptions(
        # Never a real crawl: the first run of rfi would start at once.
        command=lambda outlet, path: [sys.executable, "-c", "pass"],
        first_run_spread=3600,
        announce=announce,
    )
    daemon = Daemon(_config(tmp_path), tmp_path / "config.yaml", options)
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        assert announced.wait(30)
    finally:
        daemon.request_stop()
        runner.join(60)
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("feedwatch daemon: 2 outlet(s), next runs (UTC): rfi ")
    assert re.search(
        r"rfi (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d, dw (\d{4}-\d\d-\d\d )?\d\d:\d\d:00;", line
    )
    assert f"config {tmp_path / 'config.yaml'}" in line
