"""`feedwatch run --role scheduler|worker|ingest|all` over PostgreSQL: the cluster's roles.

- scheduler: one active at a time (`ClusterState.try_lead`); the leader runs the same
  APScheduler triggers as the single daemon, but a due outlet becomes a queued crawl job
  instead of a crawl. Standbys retry the election every `cluster.poll` seconds.
- worker: claims one job at a time with a lease, runs the crawl as the daemon does (a
  `feedwatch crawl OUTLET` subprocess), renews the lease while it runs, then marks the job
  done or failed. A lost lease (another worker holds the job now) stops the crawl.
- ingest: one active consumer of the shared ingest queue (a session advisory lock; the others
  wait as standbys), writing the archive of its machine; the workers' crawls hand it their
  stories (ingest/handoff.py).
- every role writes a heartbeat row; `feedwatch status` lists them.

PostgreSQL going away is never fatal: each loop logs one line, waits and carries on when the
server is back (a crawl in progress keeps running; its queued stories wait for the server).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from conf.schema import Config
from ingest.handoff import CLUSTER_WORKER_ENV
from scheduler.cluster import DONE_OUTCOMES, ClusterState, ClusterUnavailable, Job, Member
from scheduler.daemon import (
    ALERT_DELIVERY_INTERVAL,
    DaemonOptions,
    crawl_timeout,
    make_trigger,
    misfire_grace,
    trigger_key,
)
from scheduler.ingestthread import IngestThread
from scheduler.jobstate import JobStateDB
from scheduler.subproc import CrawlSupervisor
from store.backends import open_storage

logger = logging.getLogger(__name__)


def _ms(dt: datetime | None) -> int | None:
    return None if dt is None else int(dt.timestamp() * 1000)


class Heartbeat:
    """A thread that writes the member's heartbeat row every `interval` seconds."""

    def __init__(
        self, state: ClusterState, member: Member, interval: float, detail: Callable[[], str]
    ):
        self.state, self.member, self.interval, self.detail = state, member, interval, detail
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{member.role}")

    def start(self) -> None:
        self._thread.start()

    def beat(self) -> None:
        """One beat now (also called when the detail changes, so status is current)."""
        with contextlib.suppress(ClusterUnavailable):  # logged once by the state; next beat retries
            self.state.beat(self.member, self.detail())

    def _loop(self) -> None:
        while True:
            self.beat()
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        """Stop beating and remove the row: a clean stop is not a silent member."""
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(ClusterUnavailable):
            self.state.leave(self.member)


class ClusterIngest:
    """The ingest role: one active consumer of the shared queue (a session advisory lock),
    the others standbys that take over when its session ends. It writes the archive of its
    machine (`archive_dir`) and delivers the alerts its stories queued."""

    def __init__(self, config: Config, state: ClusterState, stop: threading.Event):
        self.config = config
        self.stop = stop
        self.thread = IngestThread(config, role="ingest")
        self.heartbeat = Heartbeat(
            state,
            Member("ingest"),
            config.cluster.heartbeat,
            lambda: "consuming" if self.thread.consuming else "standby",
        )

    def run(self) -> None:
        """Consume (or wait for the lock) until `stop` is set, then settle what is queued."""
        self.heartbeat.start()
        self.thread.start()
        try:
            while not self.stop.wait(ALERT_DELIVERY_INTERVAL):
                if self.thread.consuming:
                    self.deliver_alerts()
        finally:
            self.thread.stop()
            self.heartbeat.stop()

    def deliver_alerts(self) -> None:
        """Retry pending alerts, as the single daemon does every minute: where the consumer
        runs, so that file channels (jsonl) write on the ingest machine. Each row is claimed
        before it is sent: a standby or a one-off command sending too never doubles one."""
        if not self.config.alerts.channels:
            return
        from alerts.service import AlertService

        try:
            storage = open_storage(self.config.state_target)
            try:
                AlertService(storage, self.config.alerts).deliver_pending()
            finally:
                storage.close()
        except Exception as exc:  # PostgreSQL away, a channel bug: retried next minute
            logger.warning("alert delivery failed: %s", exc)


class ClusterScheduler:
    """The scheduler role: wins the election, then queues each outlet's crawls when due."""

    def __init__(self, config: Config, state: ClusterState, stop: threading.Event):
        self.config = config
        self.state = state
        self.stop = stop
        self.member = Member("scheduler")
        self.heartbeat = Heartbeat(
            state, self.member, config.cluster.heartbeat, lambda: self.detail
        )
        self.detail = "standby"
        self.aps: BackgroundScheduler | None = None
        self._keys: dict[str, str] = {}
        self._saved: dict[str, int | None] = {}
        self._pending: set[str] = set()  # due while PostgreSQL was unreachable
        # When each outlet's crawl was last queued (epoch ms): a next run is saved only once the
        # run before it is queued (see save_next_runs).
        self._queued_ms: dict[str, int] = {}
        self._pending_lock = threading.Lock()

    def outlets(self) -> list[str]:
        return [name for name, outlet in self.config.outlets.items() if outlet.enabled]

    def run(self) -> None:
        """Elect, lead or wait, until `stop` is set."""
        self.heartbeat.start()
        try:
            while True:
                self.tick()
                if self.stop.wait(self.config.cluster.poll):
                    break
        finally:
            self.demote()
            with contextlib.suppress(ClusterUnavailable):
                self.state.resign()
            self.heartbeat.stop()

    def tick(self) -> None:
        """One election round; the leader also retries queued-while-down runs and saves next runs."""
        try:
            leading = self.state.try_lead()
        except ClusterUnavailable:
            leading = False
        if leading and self.aps is None:
            self.promote()
        elif not leading and self.aps is not None:
            self.demote()
        if self.aps is not None:
            with self._pending_lock:
                pending = sorted(self._pending)
            for outlet in pending:
                self.enqueue(outlet)
            self.save_next_runs()

    def promote(self) -> None:
        """Become the leader: schedule every outlet, resuming the next runs the last leader saved."""
        try:
            stored = self.state.load_schedule()
        except ClusterUnavailable:
            return  # not leading after all; the next round tries again
        aps = BackgroundScheduler(executors={"default": ThreadPoolExecutor(2)}, timezone=UTC)
        now = datetime.now(UTC)
        for name in self.outlets():
            schedule = self.config.outlets[name].schedule
            key = trigger_key(schedule)
            self._keys[name] = key
            trigger_and_ms = stored.get(name)
            resume = now  # never ran, or the schedule changed: queue the first crawl now
            if trigger_and_ms is not None and trigger_and_ms[0] == key and trigger_and_ms[1]:
                resume = max(now, datetime.fromtimestamp(trigger_and_ms[1] / 1000, UTC))
            aps.add_job(
                self.enqueue,
                trigger=make_trigger(schedule, None if schedule.cron else resume),
                args=[name],
                id=name,
                name=f"queue {name}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=misfire_grace(schedule),
                **({} if schedule.cron else {"next_run_time": resume}),
            )
            if not schedule.cron:  # saved before it can fire: see save_next_runs
                self._save_next_run(name, _ms(resume))
        aps.start()
        self.aps = aps
        self.detail = "leader"
        self.heartbeat.beat()
        logger.info("elected the active scheduler: %d outlet(s)", len(self._keys))
        self.save_next_runs()

    def demote(self) -> None:
        """Stop queueing (lost the lock, or stopping)."""
        if self.aps is None:
            return
        self.aps.shutdown(wait=False)
        self.aps = None
        self._saved.clear()
        self._queued_ms.clear()
        self.detail = "standby"
        if not self.stop.is_set():
            logger.warning("no longer the active scheduler: waiting to be elected again")

    def enqueue(self, outlet: str) -> None:
        """The APScheduler job: queue a crawl of the outlet (coalesced if one is open)."""
        try:
            queued = self.state.enqueue(outlet)
        except ClusterUnavailable:
            with self._pending_lock:
                self._pending.add(outlet)
            return
        with self._pending_lock:
            self._pending.discard(outlet)
            self._queued_ms[outlet] = _ms(datetime.now(UTC)) or 0
        if queued:
            logger.info("queued a crawl of %s", outlet)
        else:
            logger.info("a crawl of %s is still queued or running: not queued again", outlet)

    def save_next_runs(self) -> None:
        """Store each outlet's next run when it changed, for the leader after this one.

        APScheduler moves a job's next run on as it hands the job to its executor, before the
        crawl is queued; a leader killed in between must not leave the next one a schedule that
        skips that crawl for a whole interval. So the saved time stays at a due run until that
        run is queued.
        """
        if self.aps is None:
            return
        now_ms = _ms(datetime.now(UTC)) or 0
        for job in self.aps.get_jobs():
            next_ms = _ms(getattr(job, "next_run_time", None))
            saved = self._saved.get(job.id, -1)
            if saved == next_ms:
                continue
            with self._pending_lock:
                queued_ms = self._queued_ms.get(job.id, 0)
            if saved is not None and 0 <= saved <= now_ms and queued_ms < saved:
                continue  # the saved run is due and not queued yet
            if not self._save_next_run(job.id, next_ms):
                return

    def _save_next_run(self, outlet: str, next_ms: int | None) -> bool:
        try:
            self.state.save_next_run(outlet, self._keys[outlet], next_ms)
        except ClusterUnavailable:
            return False
        self._saved[outlet] = next_ms
        return True


def crawl_command(options: DaemonOptions) -> Callable[[str, Path], Sequence[str]]:
    """The daemon's crawl command, made to end with its worker when setpriv(1) is there.

    A worker that dies (kill -9, OOM) must not leave its crawl running while another worker
    takes the job over: the kernel sends the crawl SIGTERM when its parent exits.
    """
    setpriv = shutil.which("setpriv")

    def command(outlet: str, config_path: Path) -> Sequence[str]:
        inner = list(options.command(outlet, config_path))
        return [setpriv, "--pdeathsig", "TERM", *inner] if setpriv else inner

    return command


class ClusterWorker:
    """The worker role: claim a crawl job, run it under a renewed lease, report how it ended."""

    def __init__(
        self,
        config: Config,
        config_path: Path,
        state: ClusterState,
        stop: threading.Event,
        options: DaemonOptions,
    ):
        self.config = config
        self.config_path = Path(config_path)
        self.state = state
        self.stop = stop
        self.options = options
        self.member = Member("worker")
        self.detail = "idle"
        self.heartbeat = Heartbeat(
            state, self.member, config.cluster.heartbeat, lambda: self.detail
        )
        self.supervisor = CrawlSupervisor(kill_grace=options.kill_grace)
        self.jobs_db = JobStateDB(config.state_target)  # runs and feed backoff, in PostgreSQL
        self.command = crawl_command(options)

    def run(self) -> None:
        """Claim and crawl until `stop` is set; a running crawl is stopped and its job released."""
        self.heartbeat.start()
        try:
            while not self.stop.is_set():
                try:
                    job = self.state.claim(
                        self.member, self.config.cluster.lease, self.config.cluster.max_attempts
                    )
                except ClusterUnavailable:
                    job = None
                if job is None:
                    self.stop.wait(self.config.cluster.poll)
                    continue
                self.work(job)
        finally:
            self.heartbeat.stop()

    def request_stop(self) -> None:
        """Called from the main thread: stop the crawl in progress (its job is released)."""
        self.supervisor.stop_all()

    def work(self, job: Job) -> None:
        """Run one job to its end and report it; the lease is renewed meanwhile."""
        self.detail = f"crawling {job.outlet} (job {job.id}, attempt {job.attempts})"
        self.heartbeat.beat()
        logger.info("claimed job %d: crawl of %s (attempt %d)", job.id, job.outlet, job.attempts)
        lost = threading.Event()
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(job, done, lost), name="lease")
        renewer.start()
        try:
            outcome = self.crawl(job.outlet)
        finally:
            done.set()
            renewer.join()
        self.detail = "idle"
        if lost.is_set():
            logger.warning("job %d (%s) was taken over by another worker", job.id, job.outlet)
        elif outcome == "stopped":
            self._report(lambda: self.state.release(job, self.member), "release", job)
        else:
            self._report(lambda: self._finish(job, outcome), "finish", job)
        self.heartbeat.beat()

    def _finish(self, job: Job, outcome: str) -> None:
        ours = self.state.finish(job, self.member, outcome)
        if not ours:
            logger.warning(
                "job %d (%s) ended %s, but another worker holds it now", job.id, job.outlet, outcome
            )
        elif outcome in DONE_OUTCOMES:
            logger.info("job %d (%s) done", job.id, job.outlet)
        else:
            logger.warning("job %d (%s) failed (crawl outcome: %s)", job.id, job.outlet, outcome)

    def _report(self, call: Callable[[], None], what: str, job: Job) -> None:
        """Tell the cluster how the job ended; while PostgreSQL is down, keep trying."""
        while True:
            try:
                call()
                return
            except ClusterUnavailable:
                # Stopping while the server is down: the lease expiry hands the job on. Past
                # the lease another worker may redo the crawl: one crawl more, never one lost
                # (and this machine's SQLite state keeps its items from doubling).
                if self.stop.wait(self.config.cluster.poll):
                    logger.warning("stopping before job %d could be reported (%s)", job.id, what)
                    return

    def _renew(self, job: Job, done: threading.Event, lost: threading.Event) -> None:
        lease = self.config.cluster.lease
        while not done.wait(lease / 3):
            try:
                ours = self.state.renew(job, self.member, lease)
            except ClusterUnavailable:
                continue  # the crawl goes on; it writes only this machine's state
            if not ours:
                lost.set()
                logger.warning(
                    "lost the lease of job %d (%s): stopping its crawl", job.id, job.outlet
                )
                self.supervisor.terminate(job.outlet)
                return

    def crawl(self, outlet: str) -> str:
        """The daemon's crawl of one outlet, as a subprocess; returns its outcome."""
        if outlet not in self.config.outlets:
            logger.error("job for unknown outlet %r: not in %s", outlet, self.config_path)
            return "failed (outlet not in this worker's config)"
        feeds = [feed.url for feed in self.config.outlets[outlet].feeds]
        allowed_ms = self.jobs_db.earliest_allowed_ms(feeds)
        if allowed_ms is not None and allowed_ms > int(time.time() * 1000):
            logger.info("crawl of %s deferred: every feed asked us to wait", outlet)
            return "deferred"
        env = dict(os.environ, FEEDWATCH_SCHEDULED="1", **self.options.extra_env)
        env[CLUSTER_WORKER_ENV] = "1"  # no ingest role alive: the stories wait in the queue
        timeout = crawl_timeout(self.config.outlets[outlet].schedule, self.options.crawl_timeout)
        result = self.supervisor.run(outlet, self.command(outlet, self.config_path), timeout, env)
        if result.timed_out or result.stopped or result.returncode is None:
            self.jobs_db.record_abandoned_run(
                outlet, result.started_ms, result.finished_ms, result.outcome
            )
        return result.outcome


def run_roles(
    config: Config,
    config_path: Path,
    role: str,
    state_factory: Callable[[], ClusterState],
    options: DaemonOptions | None = None,
) -> int:
    """Run the role(s) in the foreground until SIGTERM/SIGINT; 0 after a clean stop."""
    options = options or DaemonOptions()
    stop = threading.Event()
    states: list[ClusterState] = []

    def new_state() -> ClusterState:
        states.append(state_factory())
        return states[-1]

    # The consumer first: a worker's crawls see its heartbeat and hand their stories to it.
    ingests = [ClusterIngest(config, new_state(), stop)] if role in ("ingest", "all") else []
    schedulers = (
        [ClusterScheduler(config, new_state(), stop)] if role in ("scheduler", "all") else []
    )
    workers = (
        [ClusterWorker(config, config_path, new_state(), stop, options)]
        if role in ("worker", "all")
        else []
    )

    def request_stop(signum: int | None = None, frame: FrameType | None = None) -> None:
        if signum is not None:
            logger.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    failed = threading.Event()

    def guarded(run: Callable[[], None], name: str) -> Callable[[], None]:
        """A role that crashes stops the process (exit 1) instead of leaving it alive and idle."""

        def target() -> None:
            try:
                run()
            except Exception:
                logger.exception("the %s role failed; stopping", name)
                failed.set()
                stop.set()

        return target

    threads = [threading.Thread(target=guarded(i.run, "ingest")) for i in ingests]
    threads += [threading.Thread(target=guarded(s.run, "scheduler")) for s in schedulers]
    threads += [threading.Thread(target=guarded(w.run, "worker")) for w in workers]
    for thread in threads:
        thread.start()
    line = (
        f"feedwatch {role}: {len(config.outlets)} outlet(s), cluster state in PostgreSQL;"
        f" config {config_path}; stop with Ctrl-C or SIGTERM"
    )
    if options.announce is not None:
        options.announce(line)
    else:
        logger.info("%s", line)
    while not stop.wait(options.poll):
        pass
    for worker in workers:
        worker.request_stop()
    for thread in threads:
        thread.join()
    for state in states:
        state.close()
    logger.info("feedwatch %s stopped", role)
    return 1 if failed.is_set() else 0
