"""Progress of long work (crawl, import): a rich display on a terminal, plain lines when
stderr is not a terminal (logs, pipes), nothing with -q (cron).

Progress goes to stderr, so stdout keeps only the command's result (summaries, JSON).
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

Mode = Literal["live", "plain", "off"]
PLAIN_INTERVAL = 10.0  # seconds between two plain lines of one task (a cron log stays short)


@dataclass
class _Task:
    label: str
    unit: str
    total: int | None
    completed: int = 0
    detail: str = ""
    last_line: float = float("-inf")  # the first change prints at once
    done: bool = False
    rich_id: TaskID | None = None


class ProgressReport:
    """Tasks with a count (of a total when known) and a detail text; use as a context manager."""

    def __init__(
        self, mode: Mode, stream: TextIO | None = None, interval: float = PLAIN_INTERVAL
    ) -> None:
        self.mode = mode
        self.stream = stream
        self.interval = interval
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()
        self._rich: Progress | None = None

    @classmethod
    def for_cli(cls, quiet: bool) -> ProgressReport:
        """The mode the command line wants: off with -q, live on a terminal, else plain."""
        if quiet:
            return cls("off")
        return cls("live" if sys.stderr.isatty() else "plain")

    def __enter__(self) -> ProgressReport:
        if self.mode == "live":
            self._rich = Progress(
                # Our own mark: rich's spinner ticks off a task once its bar is full, but all
                # feeds fetched is not the end of an outlet (article pages, storing).
                TextColumn("{task.fields[mark]}"),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream) if self.stream else Console(stderr=True),
            )
            self._rich.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def add(self, key: str, label: str, total: int | None = None, unit: str = "") -> None:
        """Start a task (an outlet's crawl, an import)."""
        with self._lock:
            task = _Task(label, unit, total)
            self._tasks[key] = task
            if self._rich is not None:
                task.rich_id = self._rich.add_task(
                    label, total=total, unit=unit, detail="", mark="…"
                )

    def update(
        self,
        key: str,
        completed: int,
        *,
        total: int | None = None,
        detail: str = "",
        done: bool = False,
    ) -> None:
        """Set a task's count (and total, detail); `done` marks it finished."""
        with self._lock:
            task = self._tasks[key]
            if task.done:
                return
            if total is not None:
                task.total = total
            changed = (completed, detail) != (task.completed, task.detail)
            task.completed, task.detail, task.done = completed, detail, done
            if self._rich is not None and task.rich_id is not None:
                finished = task.total if done and task.total is not None else completed
                self._rich.update(
                    task.rich_id,
                    completed=finished,
                    total=task.total,
                    detail=detail,
                    mark="✓" if done else "…",
                )
            elif self.mode == "plain":
                now = time.monotonic()
                if done or (changed and now - task.last_line >= self.interval):
                    task.last_line = now
                    self._plain_line(task)

    def _plain_line(self, task: _Task) -> None:
        count = f"{task.completed}/{task.total}" if task.total is not None else str(task.completed)
        parts = [f"{task.label}:", count]
        if task.unit:
            parts.append(task.unit)
        if task.detail:
            parts.append(f"({task.detail})")
        if task.done:
            parts.append("done")
        print(" ".join(parts), file=self.stream or sys.stderr, flush=True)
