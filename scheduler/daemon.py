"""`feedwatch run`: the long-running daemon, one APScheduler job per enabled outlet.

Every run is a child process (`python -m feedwatch crawl OUTLET --config FILE`): Scrapy's
Twisted reactor cannot be restarted inside one process, and a fresh process per crawl returns
all of a crawl's memory to the system, so the daemon itself stays small however long it runs.
See docs/SCHEDULER.md for what each setting does and how to run this under systemd.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from conf.schema import Config, ScheduleConfig
from scheduler.ingestthread import IngestThread
from scheduler.jobstate import JobStateDB
from scheduler.locks import is_locked
from scheduler.subproc import CrawlSupervisor
from store.backends import open_storage
from store.consistency import quick_check

logger = logging.getLogger(__name__)

CRON_MISFIRE_GRACE = 3600  # seconds; a cron schedule has no single period to derive it from
MAX_CRAWL_TIMEOUT = 900.0  # seconds; no crawl of one outlet should take a quarter hour
ALERT_DELIVERY_INTERVAL = 60  # seconds between retries of alerts still pending


def default_command(outlet: str, config_path: Path) -> list[str]:
    """The crawl the daemon runs for an outlet: the CLI in a fresh interpreter."""
    return [sys.executable, "-m", "feedwatch", "crawl", outlet, "--config", str(config_path)]


@dataclass
class DaemonOptions:
    """Knobs that are not in config.yaml (tests shorten them; the defaults suit production)."""

    command: Callable[[str, Path], Sequence[str]] = default_command
    crawl_timeout: float | None = None  # None: min(interval, 15 min)
    kill_grace: float = 30.0  # seconds between SIGTERM and SIGKILL
    max_workers: int = 2  # crawls running at the same time (each is a ~100 MB process)
    first_run_spread: float = 10.0  # seconds between the first runs of outlets after a start
    poll: float = 1.0  # how often the main thread checks for a stop request
    extra_env: dict[str, str] = field(default_factory=dict)
    # Where the one start line goes (outlets and their next runs); `feedwatch run` prints it.
    announce: Callable[[str], None] | None = None


def trigger_key(schedule: ScheduleConfig) -> str:
    """A stable description of a schedule: a stored next run is reused only if it matches."""
    if schedule.cron:
        return f"cron={schedule.cron.strip()} jitter={schedule.jitter:g}"
    return f"every={schedule.every:g} jitter={schedule.jitter:g}"


def make_trigger(schedule: ScheduleConfig, start: datetime | None) -> BaseTrigger:
    """The APScheduler trigger for a schedule; ValueError names a bad cron expression."""
    jitter = int(schedule.jitter) or None
    if schedule.cron:
        # Read in the machine's local time zone, as crontab(5) does.
        trigger = CronTrigger.from_crontab(schedule.cron)
        trigger.jitter = jitter
        return trigger
    if not schedule.every:
        raise ValueError("a schedule needs 'every' or 'cron'")
    return IntervalTrigger(seconds=schedule.every, jitter=jitter, start_date=start, timezone=UTC)


def misfire_grace(schedule: ScheduleConfig) -> int:
    """How late a run may still start: one full interval (then the next slot is nearer)."""
    if schedule.cron or not schedule.every:
        return CRON_MISFIRE_GRACE
    return max(1, int(schedule.every))


def crawl_timeout(schedule: ScheduleConfig, override: float | None) -> float:
    """The hard limit on one crawl: never longer than its interval, nor than 15 minutes."""
    if override is not None:
        return override
    if schedule.cron or not schedule.every:
        return MAX_CRAWL_TIMEOUT
    return min(MAX_CRAWL_TIMEOUT, schedule.every)


def _utc_ms(dt: datetime | None) -> int | None:
    return None if dt is None else int(dt.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class Daemon:
    """The scheduler, its crawl supervisor and its persisted job state."""

    def __init__(self, config: Config, config_path: Path, options: DaemonOptions | None = None):
        self.config = config
        self.config_path = Path(config_path)
        self.options = options or DaemonOptions()
        self.state_dir = Path(config.state_db).parent
        self.jobs_db = JobStateDB(str(config.state_db))
        self.supervisor = CrawlSupervisor(kill_grace=self.options.kill_grace)
        self.stop_requested = threading.Event()
        self.scheduler: BackgroundScheduler | None = None
        self._keys: dict[str, str] = {}
        # Jobs in progress. Shutdown waits for them itself before shutting APScheduler down:
        # its shutdown(wait=True) holds a lock that a job touching the scheduler would need.
        self._in_flight = 0
        self._stopper: threading.Thread | None = None
        self._in_flight_cv = threading.Condition()
        self.ingest: IngestThread | None = None

    # -- building ------------------------------------------------------------------------

    def enabled_outlets(self) -> list[str]:
        """Outlet names the daemon schedules, in config order."""
        return [name for name, outlet in self.config.outlets.items() if outlet.enabled]

    def build_scheduler(self) -> BackgroundScheduler:
        """A scheduler with one job per enabled outlet, first runs resumed from the state DB."""
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(self.options.max_workers)},
            timezone=UTC,
        )
        stored = self.jobs_db.load()
        now = datetime.now(UTC)
        for index, name in enumerate(self.enabled_outlets()):
            schedule = self.config.outlets[name].schedule
            key = trigger_key(schedule)
            self._keys[name] = key
            record = stored.get(name)
            resume: datetime | None = None
            if record is not None and record.trigger == key and record.next_run_ms is not None:
                resume = _from_ms(record.next_run_ms)
                if resume <= now:
                    # Missed while we were down: one catch-up run (coalesced), staggered.
                    resume = now + timedelta(seconds=index * self.options.first_run_spread)
            elif not schedule.cron:
                resume = now + timedelta(seconds=index * self.options.first_run_spread)
            trigger = make_trigger(schedule, resume if not schedule.cron else None)
            scheduler.add_job(
                self.run_outlet,
                trigger=trigger,
                args=[name],
                id=name,
                name=f"crawl {name}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=misfire_grace(schedule),
                # Explicit, because a start_date a few ms in the past would make the interval
                # trigger skip to the following slot.
                **({"next_run_time": resume} if resume else {}),
            )
            logger.info(
                "scheduled %s (%s), first run %s",
                name,
                key,
                resume.isoformat() if resume else "at its next cron time",
            )
        if self.config.alerts.channels:
            # Retries of failed alert deliveries should not wait for the next crawl.
            scheduler.add_job(
                self.deliver_alerts,
                trigger="interval",
                seconds=ALERT_DELIVERY_INTERVAL,
                id="alerts",
                name="deliver alerts",
                coalesce=True,
                max_instances=1,
            )
        scheduler.add_listener(
            self.on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES
        )
        return scheduler

    def deliver_alerts(self) -> None:
        """Send alerts still pending (a failed channel is retried with backoff)."""
        from alerts.service import AlertService  # only when alerts are configured

        storage = open_storage(self.config.state_target)
        try:
            report = AlertService(storage, self.config.alerts).deliver_pending()
            if report.sent or report.failed:
                logger.info(
                    "alerts: %d sent, %d failed, %d waiting",
                    report.sent,
                    report.failed,
                    report.waiting,
                )
        finally:
            storage.close()

    # -- jobs ----------------------------------------------------------------------------

    def run_outlet(self, outlet: str) -> str:
        """One scheduled crawl of an outlet; returns its outcome (ok, failed, timeout, ...)."""
        with self._in_flight_cv:
            self._in_flight += 1
        try:
            return self._run_outlet(outlet)
        finally:
            with self._in_flight_cv:
                self._in_flight -= 1
                self._in_flight_cv.notify_all()

    def _run_outlet(self, outlet: str) -> str:
        if self.stop_requested.is_set():
            return "stopped"
        now_ms = int(time.time() * 1000)
        if is_locked(self.state_dir, outlet):
            logger.warning("skipping scheduled crawl of %s: a manual crawl holds its lock", outlet)
            self.jobs_db.save_outcome(outlet, now_ms, now_ms, "skipped (locked)")
            self.persist_next_runs()
            return "skipped"
        feeds = [feed.url for feed in self.config.outlets[outlet].feeds]
        allowed_ms = self.jobs_db.earliest_allowed_ms(feeds)
        if allowed_ms is not None and allowed_ms > now_ms:
            logger.info(
                "skipping scheduled crawl of %s: every feed asked us to wait until %s",
                outlet,
                _from_ms(allowed_ms).isoformat(),
            )
            self.push_back(outlet, allowed_ms)
            self.jobs_db.save_outcome(outlet, now_ms, now_ms, "deferred")
            return "deferred"
        schedule = self.config.outlets[outlet].schedule
        env = dict(os.environ, FEEDWATCH_SCHEDULED="1", **self.options.extra_env)
        result = self.supervisor.run(
            outlet,
            self.options.command(outlet, self.config_path),
            crawl_timeout(schedule, self.options.crawl_timeout),
            env,
        )
        outcome = result.outcome
        if result.timed_out or result.stopped or result.returncode is None:
            self.jobs_db.record_abandoned_run(
                outlet, result.started_ms, result.finished_ms, outcome
            )
        seconds = (result.finished_ms - result.started_ms) / 1000
        if outcome == "ok":
            logger.info("crawl of %s finished in %.1f s", outlet, seconds)
        elif outcome == "stopped":
            logger.info("crawl of %s stopped by shutdown after %.1f s", outlet, seconds)
        else:
            logger.warning("crawl of %s ended %s after %.1f s", outlet, outcome, seconds)
        self.jobs_db.save_outcome(outlet, result.started_ms, result.finished_ms, outcome)
        if outcome == "stopped":
            # Interrupted by shutdown: the next start redoes this run right away.
            self.jobs_db.save_next_run(outlet, self._keys[outlet], result.started_ms, now_ms)
        else:
            self.persist_next_runs()
        return outcome

    def push_back(self, outlet: str, not_before_ms: int) -> None:
        """Move an outlet's next run to `not_before_ms` when it would come earlier."""
        if self.scheduler is None:
            return
        job = self.scheduler.get_job(outlet)
        if job is None or job.next_run_time is None:
            return
        if _utc_ms(job.next_run_time) < not_before_ms:  # type: ignore[operator]
            job.modify(next_run_time=_from_ms(not_before_ms))
            logger.info(
                "next crawl of %s pushed to %s", outlet, _from_ms(not_before_ms).isoformat()
            )
        self.persist_next_runs()

    def persist_next_runs(self) -> None:
        """Write every job's next run time to the state DB (read back on the next start)."""
        if self.scheduler is None or (
            self.stop_requested.is_set() and threading.current_thread() is not self._stopper
        ):
            return  # during shutdown only the stopping thread saves, before crawls are stopped
        now_ms = int(time.time() * 1000)
        for job in self.scheduler.get_jobs():
            if job.id not in self._keys:
                continue  # not an outlet's crawl (the alert delivery job)
            next_run = getattr(job, "next_run_time", None)
            self.jobs_db.save_next_run(job.id, self._keys[job.id], _utc_ms(next_run), now_ms)

    def on_event(self, event: JobEvent) -> None:
        """Log runs that did not happen or crashed, one line each."""
        if event.code == EVENT_JOB_MISSED and isinstance(event, JobExecutionEvent):
            logger.warning(
                "missed the run of %s scheduled at %s (later than its grace time)",
                event.job_id,
                event.scheduled_run_time,
            )
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            logger.warning("skipped a run of %s: its previous crawl is still running", event.job_id)
        elif event.code == EVENT_JOB_ERROR and isinstance(event, JobExecutionEvent):
            logger.error("the job for %s failed: %r", event.job_id, event.exception)

    # -- lifecycle -----------------------------------------------------------------------

    def log_state_check(self) -> None:
        """The cheap part of `feedwatch check`, once per start: one line, a WARNING if it is off."""
        check = quick_check(Path(self.config.state_db), Path(self.config.archive_dir))
        logger.log(logging.INFO if check.ok else logging.WARNING, "%s", check.line())

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Ask the daemon to stop (signal handler and tests)."""
        if signum is not None:
            logger.info("received %s: stopping", signal.Signals(signum).name)
        self.stop_requested.set()

    def run(self) -> int:
        """Schedule, wait for a stop request, then shut down in order; returns the exit code."""
        if not self.enabled_outlets():
            logger.error("no enabled outlets in the config: nothing to schedule")
            return 2
        self.log_state_check()
        try:
            self.scheduler = self.build_scheduler()
        except ValueError as exc:
            logger.error("bad schedule: %s", exc)
            return 2
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        # The ingest consumer first: the crawls hand their stories to it.
        self.ingest = IngestThread(self.config)
        self.ingest.start()
        self.scheduler.start()
        self.persist_next_runs()
        line = self.start_line()
        if self.options.announce is not None:
            self.options.announce(line)
        else:
            logger.info("%s", line)
        try:
            while not self.stop_requested.wait(self.options.poll):
                pass
        finally:
            self.shutdown()
        return 0

    def start_line(self) -> str:
        """One line: the outlets scheduled and when each runs next (UTC)."""
        assert self.scheduler is not None
        today = datetime.now(UTC).date()
        parts = []
        for name in self.enabled_outlets():
            job = self.scheduler.get_job(name)
            when = getattr(job, "next_run_time", None)
            if when is None:
                parts.append(f"{name} (paused)")
                continue
            when = when.astimezone(UTC)
            fmt = "%H:%M:%S" if when.date() == today else "%Y-%m-%d %H:%M:%S"
            parts.append(f"{name} {when.strftime(fmt)}")
        return (
            f"feedwatch daemon: {len(parts)} outlet(s), next runs (UTC): {', '.join(parts)};"
            f" config {self.config_path}; stop with Ctrl-C or SIGTERM"
        )

    def shutdown(self) -> None:
        """Stop scheduling, save next runs, stop running crawls (TERM, grace, KILL), join."""
        if self.scheduler is None:
            return
        self._stopper = threading.current_thread()
        self.stop_requested.set()
        self.scheduler.pause()
        self.persist_next_runs()  # an interrupted crawl then overwrites its own entry
        self.supervisor.stop_all()
        with self._in_flight_cv:
            self._in_flight_cv.wait_for(
                lambda: self._in_flight == 0, timeout=self.options.kill_grace + 30
            )
        self.scheduler.shutdown(wait=False)
        if self.ingest is not None:
            self.ingest.stop()
        logger.info("feedwatch daemon stopped")


def run_daemon(config: Config, config_path: Path, options: DaemonOptions | None = None) -> int:
    """Run the daemon in the foreground until SIGTERM/SIGINT; 0 after a clean stop."""
    return Daemon(config, config_path, options).run()
