"""What the cluster benchmarks share: a PostgreSQL schema per run, role processes, CPU from /proc.

- `fresh_schema`: a schema of its own for one run (dropped after), and the URL whose
  search_path points at it; the roles and the store create their tables there.
- `start_role`: `feedwatch -v run --role ROLE --config …` as its own process, logging to a file.
- `probe_ingest`: whether `--role ingest` exists in this checkout (it said "not available"
  before the ingest role landed); the one line to print when it does not.
- `cpu_s`: a process's CPU seconds, its reaped children (a worker's crawls) included.
- `PgBackendMeter`: the CPU of exactly the PostgreSQL backends serving our processes (found by
  the client ports of their TCP connections), so other users of the shared server do not
  count; `postgres_cpu_s` is the whole server's (an upper bound on a shared machine).
- `open_items`: the store that holds the run's items, read through the storage interface: the
  PostgreSQL tables when the roles put items there, else the machine's SQLite file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from conf.cluster import is_postgres_url  # noqa: E402
from store.backends import open_storage  # noqa: E402
from store.postgres import StoreUnavailable  # noqa: E402
from store.sqlstore import SQLStore  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
LOCAL_STATE = Path("state/feedwatch.sqlite3")  # cluster.local_state_db's default, per workdir


def cpu_s(pid: int, children: bool = True) -> float:
    """utime + stime (+ cutime + cstime) of a process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11 : 15 if children else 13]) / TICKS


def postgres_cpu_s() -> float:
    """CPU of every postgres process on this machine (reaped backends included)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "postgres":
                    total += cpu_s(int(proc.name))
            except OSError:
                continue
    return total


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process."""
    parents = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parents[int(proc.name)] = int(
                    (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, ValueError, IndexError):
                continue
    return parents


def with_descendants(roots: Iterable[int]) -> set[int]:
    """The given processes and every process below them (a worker's crawl and its setpriv)."""
    parents = _parents()
    found = set(roots)
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


def _socket_inodes(pids: Iterable[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    return inodes


def client_ports(pids: Iterable[int], server_port: int) -> set[int]:
    """Local ports of the processes' TCP connections to `server_port`."""
    inodes = _socket_inodes(pids)
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            local, remote, inode = cols[1], cols[2], cols[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == server_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


JOBS_SQL = (
    "SELECT count(*) FILTER (WHERE status IN ('done', 'failed')),"
    " count(*) FILTER (WHERE status = 'failed'), coalesce(sum(attempts - 1), 0),"
    " extract(epoch FROM min(enqueued_at))::float8, extract(epoch FROM max(finished_at))::float8"
    " FROM cluster_jobs"
)


class Watch:
    """Queries of the run's progress that ride out a PostgreSQL restart (the server is shared:
    another engineer's test may restart it): a failed query answers None and reconnects."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection[Any] | None = None

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any] | None:
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            return self.conn.execute(sql, params).fetchall()
        except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
            # UndefinedTable: the roles have not created cluster_jobs yet.
            if self.conn is not None and self.conn.broken:
                self.conn.close()
            return None

    def jobs(self) -> tuple[int, int, int, float | None, float | None] | None:
        """(finished jobs, failed jobs, claims beyond the first, first queued, last finished)."""
        rows = self.query(JOBS_SQL)
        return tuple(rows[0]) if rows else None  # type: ignore[return-value]

    def queue_empty(self, store: SQLStore | None) -> bool:
        """Whether an ingest queue has nothing left to consume (True without a queue)."""
        if store is None:
            return True
        try:
            return not store.queue.pending()
        except Exception:  # noqa: BLE001 (a restart: the store reconnects on the next call)
            return False

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class PgBackendMeter:
    """CPU of the PostgreSQL backends that serve a set of processes, sampled from /proc.

    A backend's CPU is read while it lives (`sample`, every fraction of a second); a backend
    that ends between two samples loses its last fraction, so short connections (one per
    crawl) are slightly under-counted: the whole server's delta is the upper bound.
    """

    def __init__(self, pg: str) -> None:
        self.monitor = Watch(pg)
        self.server_port = urlsplit(pg).port or 5432
        self.seen: dict[int, float] = {}

    def sample(self, roots: Iterable[int]) -> None:
        ports = client_ports(with_descendants(roots), self.server_port)
        if not ports:
            return
        rows = self.monitor.query(
            "SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%s)"
            " AND pid <> pg_backend_pid()",
            (sorted(ports),),
        )
        for (pid,) in rows or []:
            used = cpu_s(int(pid), children=False)
            if used:
                self.seen[int(pid)] = max(used, self.seen.get(int(pid), 0.0))

    def total(self) -> float:
        return sum(self.seen.values())


def _admin(pg: str, sql: str) -> None:
    """One statement, retried for up to 60 s while the shared server restarts."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(pg, autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql)  # type: ignore[arg-type]
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@contextmanager
def fresh_schema(pg: str, prefix: str) -> Iterator[str]:
    """A new schema for one run; yields the URL whose search_path is that schema."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(pg, f"CREATE SCHEMA {schema}")
    try:
        yield f"{pg}{'&' if '?' in pg else '?'}options={quote(f'-csearch_path={schema}')}"
    finally:
        _admin(pg, f"DROP SCHEMA {schema} CASCADE")


def start_role(role: str, name: str, config: Path, workdir: Path) -> subprocess.Popen[bytes]:
    """`feedwatch -v run --role ROLE` from the workdir, its output appended to NAME.log."""
    log = open(workdir / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "feedwatch", "-v", "run", "--role", role, "--config", str(config)],
        cwd=workdir,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    return proc


def probe_ingest(proc: subprocess.Popen[bytes], log: Path, wait_s: float = 5.0) -> str | None:
    """None when the ingest role started (still running after `wait_s`), else the line to print.

    A checkout without the role exits 2 at once with "not available": measure without it. An
    ingest role that exits for another reason is an error of the run (its log says which).
    """
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    if proc.poll() is None:
        return None
    said = log.read_text(errors="replace").strip().splitlines()
    last = said[-1] if said else f"exit {proc.returncode}"
    if proc.returncode == 2 and "not available" in last:
        return f"--ingest: this feedwatch has no ingest role ({last.strip()}); going on without it"
    raise SystemExit(f"the ingest role exited ({proc.returncode}): {last}; log {log}")


def open_items(state_db: str, workdir: Path) -> tuple[SQLStore, str]:
    """The store holding the run's items and where it is ('PostgreSQL' or 'SQLite file').

    Once `state_db: postgresql://…` holds everything, the items are in PostgreSQL; before,
    each machine kept them in its own SQLite file (`cluster.local_state_db`, in `workdir`).
    A `state_db` that is a SQLite path is opened as it is.
    """
    if not is_postgres_url(state_db):
        return open_storage(state_db), "SQLite file"
    deadline = time.monotonic() + 60
    while True:  # the shared server may be restarting (another engineer's test)
        try:
            store = open_storage(state_db)
            break
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    local = workdir / LOCAL_STATE
    if store.items.count() or not local.exists():
        return store, "PostgreSQL"
    store.close()
    return open_storage(local), "SQLite file"
