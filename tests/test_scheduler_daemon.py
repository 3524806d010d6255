"""The daemon with second-long schedules and a fake crawl command (a tiny Python script)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from conf.schema import Config, FeedConfig, OutletConfig, ScheduleConfig
from crawler.httpstate import FeedState, FeedStateStore
from scheduler.daemon import Daemon, DaemonOptions
from scheduler.jobstate import JobStateDB
from scheduler.locks import outlet_lock

REPO = Path(__file__).resolve().parent.parent

# The fake crawl: appends "start/end/term <outlet> <pid>" lines to a log file.
# mode ok: exit 0 at once; stall_first: the first call hangs ignoring SIGTERM (needs SIGKILL);
# trap_term: hang until SIGTERM, then log it and exit 0 as Scrapy's graceful shutdown does.
FAKE_CRAWL = textwrap.dedent(
    """
    import os, signal, sys, time
    log, mode, outlet = sys.argv[1], sys.argv[2], sys.argv[3]
    def note(word):
        with open(log, "a") as fh:
            fh.write(f"{word} {outlet} {os.getpid()}\\n")
    note("start")
    if mode == "stall_first" and not os.path.exists(log + ".stalled"):
        open(log + ".stalled", "w").close()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(60)
    if mode == "trap_term":
        def on_term(*_):
            note("term")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        time.sleep(60)
    note("end")
    """
)


def make_config(tmp_path: Path, schedules: dict[str, ScheduleConfig], **outlet_kw) -> Config:
    """A config with schedules below the 60 s floor config.yaml enforces (tests only)."""
    outlets = {
        name: OutletConfig.model_construct(
            title=name,
            spider="generic",
            enabled=outlet_kw.get("enabled", {}).get(name, True),
            domains=[],
            schedule=schedule,
            feeds=[FeedConfig(url=f"http://127.0.0.1:9/{name}.xml")],
        )
        for name, schedule in schedules.items()
    }
    return Config.model_construct(
        archive_dir=tmp_path / "archive",
        state_db=tmp_path / "state" / "feedwatch.sqlite3",
        outlets=outlets,
    )


def every(seconds: float, jitter: float = 0.0) -> ScheduleConfig:
    return ScheduleConfig.model_construct(every=seconds, cron=None, jitter=jitter)


def fake_command(tmp_path: Path, mode: str) -> Callable[[str, Path], list[str]]:
    script = tmp_path / "fake_crawl.py"
    script.write_text(FAKE_CRAWL)
    log = tmp_path / "crawl.log"
    return lambda outlet, _path: [sys.executable, str(script), str(log), mode, outlet]


def log_lines(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "crawl.log"
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_in_thread(daemon: Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    return thread


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_one_job_per_enabled_outlet_with_its_trigger_options(tmp_path: Path) -> None:
    cron = ScheduleConfig.model_construct(every=1800.0, cron="*/5 * * * *", jitter=10.0)
    config = make_config(
        tmp_path,
        {"rfi": every(120, jitter=30), "voa": cron, "off": every(60)},
        enabled={"off": False},
    )
    scheduler = Daemon(config, tmp_path / "config.yaml").build_scheduler()
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"rfi", "voa"}
    rfi, voa = jobs["rfi"], jobs["voa"]
    assert isinstance(rfi.trigger, IntervalTrigger)
    assert rfi.trigger.interval == timedelta(seconds=120)
    assert rfi.trigger.jitter == 30
    assert isinstance(voa.trigger, CronTrigger)
    assert str(voa.trigger.fields[6]) == "*/5"  # the minute field
    assert voa.trigger.jitter == 10
    for job in (rfi, voa):
        assert job.coalesce is True
        assert job.max_instances == 1
    assert rfi.misfire_grace_time == 120  # one interval: a late run still happens, once
    assert voa.misfire_grace_time == 3600
    assert rfi.args == ("rfi",)


@pytest.mark.slow
def test_timeout_kills_a_stalled_crawl_and_the_next_run_happens(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"dw": every(1)})
    options = DaemonOptions(
        command=fake_command(tmp_path, "stall_first"), crawl_timeout=1.0, kill_grace=0.5
    )
    daemon = Daemon(config, tmp_path / "config.yaml", options)
    thread = run_in_thread(daemon)
    try:
        assert wait_for(lambda: any(line[0] == "end" for line in log_lines(tmp_path)))
    finally:
        daemon.request_stop()
        thread.join(20)
    assert not thread.is_alive()
    lines = log_lines(tmp_path)
    stalled_pid = int(lines[0][2])
    assert ["end", "dw", str(stalled_pid)] not in lines  # it never finished: it was killed
    assert not pid_alive(stalled_pid)
    statuses = [s for (s,) in rows(config.state_db, "SELECT status FROM runs ORDER BY id")]
    assert statuses[0] == "timeout"
    assert len([line for line in lines if line[0] == "end"]) >= 1  # later runs completed


def test_sigterm_stops_the_daemon_and_its_crawl_then_a_restart_resumes(tmp_path: Path) -> None:
    log = tmp_path / "crawl.log"
    script = tmp_path / "fake_crawl.py"
    script.write_text(FAKE_CRAWL)
    runner = tmp_path / "run_daemon.py"
    runner.write_text(
        textwrap.dedent(
            f"""
            import logging, sys
            from pathlib import Path
            from conf.schema import Config, FeedConfig, OutletConfig, ScheduleConfig
            from scheduler.daemon import DaemonOptions, run_daemon
            logging.basicConfig(level=logging.INFO)
            outlet = OutletConfig.model_construct(
                title="rfi", spider="generic", enabled=True, domains=[],
                schedule=ScheduleConfig.model_construct(every=3600.0, cron=None, jitter=0.0),
                feeds=[FeedConfig(url="http://127.0.0.1:9/rfi.xml")])
            config = Config.model_construct(
                archive_dir=Path({str(tmp_path / "archive")!r}),
                state_db=Path({str(tmp_path / "state" / "feedwatch.sqlite3")!r}),
                outlets={{"rfi": outlet}})
            command = lambda o, p: [sys.executable, {str(script)!r}, {str(log)!r}, "trap_term", o]
            sys.exit(run_daemon(config, Path("config.yaml"),
                                DaemonOptions(command=command, kill_grace=5.0, poll=0.1)))
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, str(runner)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for(lambda: any(line[0] == "start" for line in log_lines(tmp_path)))
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output.decode()
    assert b"feedwatch daemon stopped" in output
    words = [line[0] for line in log_lines(tmp_path)]
    assert words == ["start", "term"]  # the crawl got SIGTERM and shut down on its own
    assert not pid_alive(int(log_lines(tmp_path)[0][2]))
    db = tmp_path / "state" / "feedwatch.sqlite3"
    assert rows(db, "SELECT status FROM runs") == [("stopped",)]
    (started, next_run), *_ = rows(
        db, "SELECT last_started_ms, next_run_ms FROM scheduler_jobs WHERE outlet='rfi'"
    )
    assert next_run == started  # the interrupted run is due again, not an hour later

    # A restart (same config) resumes it at once instead of waiting for the next slot.
    config = make_config(tmp_path, {"rfi": every(3600)})
    scheduler = Daemon(config, tmp_path / "config.yaml").build_scheduler()
    scheduler.start(paused=True)
    try:
        first = scheduler.get_job("rfi").next_run_time
    finally:
        scheduler.shutdown(wait=False)
    assert first - datetime.now(UTC) < timedelta(seconds=5)


def test_next_run_persists_across_restarts(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"voa": every(3600)})
    options = DaemonOptions(command=fake_command(tmp_path, "ok"), poll=0.1)
    daemon = Daemon(config, tmp_path / "config.yaml", options)
    thread = run_in_thread(daemon)
    try:
        assert wait_for(lambda: any(line[0] == "end" for line in log_lines(tmp_path)))
        assert wait_for(lambda: JobStateDB(str(config.state_db)).load()["voa"].last_outcome == "ok")
    finally:
        daemon.request_stop()
        thread.join(20)
    record = JobStateDB(str(config.state_db)).load()["voa"]
    assert record.next_run_ms - record.last_started_ms == pytest.approx(3_600_000, abs=15_000)

    scheduler = Daemon(config, tmp_path / "config.yaml", options).build_scheduler()
    scheduler.start(paused=True)
    try:
        resumed = scheduler.get_job("voa").next_run_time
    finally:
        scheduler.shutdown(wait=False)
    assert int(resumed.timestamp() * 1000) == pytest.approx(record.next_run_ms, abs=1)
    assert len(log_lines(tmp_path)) == 2  # one start + one end: the restart did not crawl

    # A changed schedule makes the stored time meaningless: it is ignored.
    changed = make_config(tmp_path, {"voa": every(600)})
    scheduler = Daemon(changed, tmp_path / "config.yaml", options).build_scheduler()
    scheduler.start(paused=True)
    try:
        first = scheduler.get_job("voa").next_run_time
    finally:
        scheduler.shutdown(wait=False)
    assert first - datetime.now(UTC) < timedelta(seconds=5)


def test_scheduled_crawl_is_skipped_while_a_manual_crawl_holds_the_lock(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"rfi": every(3600)})
    daemon = Daemon(
        config, tmp_path / "c.yaml", DaemonOptions(command=fake_command(tmp_path, "ok"))
    )
    with outlet_lock(config.state_db.parent, "rfi", wait=False):
        assert daemon.run_outlet("rfi") == "skipped"
    assert log_lines(tmp_path) == []
    assert daemon.run_outlet("rfi") == "ok"
    assert [line[0] for line in log_lines(tmp_path)] == ["start", "end"]


def test_scheduled_crawl_waits_while_every_feed_asked_to_wait(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"dw": every(3600)})
    daemon = Daemon(
        config, tmp_path / "c.yaml", DaemonOptions(command=fake_command(tmp_path, "ok"))
    )
    conn = sqlite3.connect(config.state_db)
    store = FeedStateStore(conn)
    feed_url = config.outlets["dw"].feeds[0].url
    later = int(time.time() * 1000) + 600_000
    store.put(FeedState(feed_url=feed_url, last_status=429, next_allowed_ms=later))
    conn.commit()
    assert daemon.run_outlet("dw") == "deferred"
    assert log_lines(tmp_path) == []
    store.put(FeedState(feed_url=feed_url, last_status=200, next_allowed_ms=None))
    conn.commit()
    conn.close()
    assert daemon.run_outlet("dw") == "ok"


def test_no_enabled_outlet_or_bad_cron_is_a_clean_error(tmp_path: Path) -> None:
    empty = make_config(tmp_path, {"rfi": every(60)}, enabled={"rfi": False})
    assert Daemon(empty, tmp_path / "c.yaml").run() == 2
    bad = ScheduleConfig.model_construct(every=1800.0, cron="every tuesday", jitter=0.0)
    assert Daemon(make_config(tmp_path, {"rfi": bad}), tmp_path / "c.yaml").run() == 2


def test_pending_alerts_get_their_own_job_and_do_not_disturb_crawls(tmp_path: Path) -> None:
    from conf.alerts import AlertsConfig

    config = make_config(tmp_path, {"voa": every(3600)})
    config.alerts = AlertsConfig.model_validate(
        {"channels": {"file": {"kind": "jsonl", "path": str(tmp_path / "alerts.jsonl")}}}
    )
    options = DaemonOptions(command=fake_command(tmp_path, "ok"), poll=0.1)
    daemon = Daemon(config, tmp_path / "config.yaml", options)
    thread = run_in_thread(daemon)
    try:
        assert wait_for(lambda: any(line[0] == "end" for line in log_lines(tmp_path)))
        assert wait_for(
            lambda: (
                JobStateDB(str(config.state_db)).load().get("voa", None) is not None
                and JobStateDB(str(config.state_db)).load()["voa"].last_outcome == "ok"
            )
        )
        assert daemon.scheduler is not None and daemon.scheduler.get_job("alerts") is not None
    finally:
        daemon.request_stop()
        thread.join(20)
    assert set(JobStateDB(str(config.state_db)).load()) == {"voa"}  # only crawls are persisted
