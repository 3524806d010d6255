"""`feedwatch import`: read item files of any real shape and ingest them like crawled stories.

The files are read and queued here; the ingest consumer (ingest/consumer.py) settles them in a
thread beside, or the running daemon does (then the import says so and counts what it queued).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from conf.schema import Config
from feedwatch.interrupts import Interrupted
from feedwatch.outlets import outlet_for_url
from feedwatch.progress import ProgressReport
from ingest.consumer import consume_for
from ingest.payload import story_to_payload
from ingest.story import Story
from store.backends import open_storage
from store.format import ItemFormatError
from store.imports import iter_item_paths, read_item_file
from store.state import now_ms
from store.storage import QueueStorage
from store.urls import canonical_url

logger = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """Counts per outcome, and the files that could not be read."""

    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    to_daemon: bool = False  # the running daemon settles them: `counts` has only "queued"

    def counts_text(self) -> str:
        """ "new 3, seen 1" (or "nothing")."""
        return ", ".join(f"{kind} {n}" for kind, n in sorted(self.counts.items())) or "nothing"

    def summary(self) -> str:
        if self.to_daemon:
            lines = [f"imported: queued {self.counts.get('queued', 0)} for the running daemon"]
        else:
            lines = ["imported: " + self.counts_text()]
        lines += [f"failed: {reason}" for reason in self.failed]
        return "\n".join(lines)


class _Beside(threading.Thread):
    """The consumer thread of one import; keeps its error for the importing thread."""

    def __init__(self, config: Config, token: str) -> None:
        super().__init__(name="ingest-consumer", daemon=True)
        self.config, self.token = config, token
        self.producer_done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            consume_for(self.config, self.token, self.producer_done)
        except BaseException as exc:  # re-raised by the importing thread
            self.error = exc


def import_paths(
    config: Config,
    paths: list[Path],
    *,
    alerts: bool = True,
    progress: ProgressReport | None = None,
) -> ImportReport:
    """Ingest every item file under `paths`; bad files are reported, never fatal.

    Importing an archive folder into a fresh state database rebuilds the seen items and the
    dedup index from the archive (use alerts=False so old stories do not alert again).
    """
    report = ImportReport()
    storage = open_storage(config.state_target)
    queue = storage.queue
    token = f"import-{uuid.uuid4().hex}"
    report.to_daemon = queue.daemon_running()
    beside = None if report.to_daemon else _Beside(config, token)
    if beside is not None:
        beside.start()
    files = list(iter_item_paths(paths))  # listed first: the progress display needs a total
    if progress is not None:
        progress.add("import", "import", total=len(files), unit="files")
    queued = 0
    try:
        try:
            for done, path in enumerate(files, 1):
                if progress is not None:
                    progress.update("import", done - 1, detail=f"queued {queued}")
                try:
                    item = read_item_file(path)
                except ItemFormatError as exc:
                    logger.warning("skipped %s", exc)
                    report.failed.append(str(exc))
                    continue
                outlet = outlet_for_url(config, item.url) or (
                    urlsplit(item.url).hostname or "unknown"
                )
                story = Story(
                    outlet=outlet,
                    canonical_url=canonical_url(item.url),
                    stored=item,
                    first_seen_ms=now_ms(),
                    alerts=alerts,
                )
                queue.put(token, outlet, story_to_payload(story))
                queued += 1
            # The consumer sends the alerts this import queued once it reaches this row.
            queue.put(token, "import", json.dumps({"health": False}), "run_end")
        finally:
            if beside is not None:
                beside.producer_done.set()
                beside.join()  # the consumer settles what was queued
        if beside is not None and beside.error is not None:
            raise beside.error
        _collect(report, queue, token, queued)
        if progress is not None:
            progress.update("import", len(files), detail=_counts(report), done=True)
    except (KeyboardInterrupt, Interrupted) as exc:
        _collect(report, queue, token, queued)
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        raise Interrupted(signum, "imported before the stop: " + report.counts_text()) from None
    finally:
        storage.close()
    return report


def _collect(report: ImportReport, queue: QueueStorage, token: str, queued: int) -> None:
    """What became of the queued stories (or, handed to the daemon, how many were queued)."""
    if report.to_daemon:
        report.counts["queued"] = queued
        return
    outcomes = queue.outcomes(token)
    for counts in outcomes.counts.values():
        for kind, n in counts.items():
            if kind != "upgraded" and n:
                report.counts[kind] = report.counts.get(kind, 0) + n
    queue.forget(token)


def _counts(report: ImportReport) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(report.counts.items()))
