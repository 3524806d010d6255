"""Who consumes a one-off command's queued stories: a consumer process beside it, or the daemon.

A one-off `crawl`, `fetch` or `import` produces; `python -m feedwatch.ingest_consumer` runs beside it
(a second process, so producing and consuming use two cores), unless `feedwatch run` is
consuming already (its heartbeat is fresh): then the stories are handed to it and the command
says "queued N for the running daemon". The child consumes until its stdin is closed (by
`finish`, or by the kernel when this process dies) and this producer's rows are all settled.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from types import TracebackType

from conf.schema import Config
from store.backends import open_storage
from store.queue import TokenOutcomes

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLUSTER_WORKER_ENV = "FEEDWATCH_CLUSTER_WORKER"  # set by `run --role worker` for its crawls


class IngestHandoff:
    """One producer's token and the consumer that settles its rows (a context manager)."""

    def __init__(self, config: Config, config_path: Path, *, log_level: str = "WARNING") -> None:
        self.config = config
        self.token = f"{uuid.uuid4().hex}"
        storage = open_storage(config.state_target)
        try:
            self.to_daemon = storage.queue.daemon_running()
        finally:
            storage.close()
        # Who settles the stories, for the crawl's summary ("queued N for ...").
        self.consumer = "the running daemon"
        if config.postgres_url is not None:
            self.consumer = "the ingest role"
            if not self.to_daemon and os.environ.get(CLUSTER_WORKER_ENV):
                # A cluster worker's machine need not hold the archive: its stories wait in
                # the shared queue for an ingest role, reported as queued, not as stored.
                logger.warning("no ingest role is running: the stories wait in the queue")
                self.to_daemon = True
                self.consumer = "the ingest role (none running now: they wait in the queue)"
        self.child: subprocess.Popen[bytes] | None = None
        if not self.to_daemon:
            command = [
                sys.executable,
                "-m",
                "feedwatch.ingest_consumer",
                "--config",
                str(config_path),
            ]
            command += ["--token", self.token, "--log-level", log_level]
            # The consumer runs this checkout's code, whatever is installed or on the path.
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
            )
            self.child = subprocess.Popen(command, stdin=subprocess.PIPE, env=env)
        self.outcomes: TokenOutcomes | None = None

    @property
    def settings(self) -> dict[str, str]:
        """Scrapy settings that make the store pipeline queue under this token."""
        return {"FEEDWATCH_INGEST_TOKEN": self.token}

    def finish(self) -> TokenOutcomes | None:
        """Wait until every row this producer queued is settled; None when the daemon has them."""
        if self.child is not None:
            self._wait_child()
        if self.to_daemon:
            return None
        storage = open_storage(self.config.state_target)
        try:
            queue = storage.queue
            if queue.pending(self.token):
                # The consumer died (killed, crashed): settle the rest here, nothing is left.
                logger.warning("ingest consumer ended early; consuming the rest here")
                # Imported only here: the crawl process does not load the ingest step (dedup,
                # numpy, alerts) when its consumer does the work.
                from ingest.consumer import consume_for

                done = threading.Event()
                done.set()
                consume_for(self.config, self.token, done)
            self.outcomes = queue.outcomes(self.token)
            queue.forget(self.token)
        finally:
            storage.close()
        return self.outcomes

    def _wait_child(self) -> None:
        child, self.child = self.child, None
        assert child is not None
        if child.stdin is not None:
            child.stdin.close()  # "everything is queued"
        code = child.wait()
        if code != 0:
            logger.warning("ingest consumer exited with %s", code)

    def __enter__(self) -> IngestHandoff:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # On an error or an interrupt, the child still settles what was queued, then exits.
        if self.child is not None:
            self._wait_child()
