"""`feedwatch import`: read item files of any real shape and ingest them like crawled stories."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from conf.schema import Config
from feedwatch.interrupts import Interrupted
from feedwatch.outlets import outlet_for_url
from feedwatch.progress import ProgressReport
from ingest.ingestor import Ingestor, Story
from store.format import ItemFormatError
from store.imports import iter_item_paths, read_item_file
from store.state import now_ms, open_state
from store.urls import canonical_url

logger = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """Counts per outcome, and the files that could not be read."""

    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def counts_text(self) -> str:
        """ "new 3, seen 1" (or "nothing")."""
        return ", ".join(f"{kind} {n}" for kind, n in sorted(self.counts.items())) or "nothing"

    def summary(self) -> str:
        lines = ["imported: " + self.counts_text()]
        lines += [f"failed: {reason}" for reason in self.failed]
        return "\n".join(lines)


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
    conn = open_state(config.state_db)
    ingestor = Ingestor(config, conn, alerts=alerts)
    files = list(iter_item_paths(paths))  # listed first: the progress display needs a total
    if progress is not None:
        progress.add("import", "import", total=len(files), unit="files")
    try:
        _import_all(ingestor, config, files, report, progress)
        ingestor.deliver_alerts()
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        raise Interrupted(signum, "imported before the stop: " + report.counts_text()) from None
    finally:
        conn.close()
    return report


def _import_all(
    ingestor: Ingestor,
    config: Config,
    files: list[Path],
    report: ImportReport,
    progress: ProgressReport | None,
) -> None:
    for done, path in enumerate(files, 1):
        if progress is not None:
            progress.update("import", done - 1, detail=_counts(report))
        try:
            item = read_item_file(path)
        except ItemFormatError as exc:
            logger.warning("skipped %s", exc)
            report.failed.append(str(exc))
            continue
        outlet = outlet_for_url(config, item.url) or (urlsplit(item.url).hostname or "unknown")
        outcome = ingestor.ingest(
            Story(
                outlet=outlet,
                canonical_url=canonical_url(item.url),
                stored=item,
                first_seen_ms=now_ms(),
            )
        )
        report.counts[outcome.kind] = report.counts.get(outcome.kind, 0) + 1
    if progress is not None:
        progress.update("import", len(files), detail=_counts(report), done=True)


def _counts(report: ImportReport) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(report.counts.items()))
