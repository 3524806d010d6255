"""`run --role` and the cluster part of `status`, without a server where none is needed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from conf.schema import load_config
from feedwatch.cli import main
from scheduler.cluster import ClusterUnavailable, JobCounts, MemberRow
from scheduler.clusterstatus import cluster_report

OUTLET = "outlets:\n  one:\n    feeds: [{url: 'https://example.org/rss'}]\n"


def config(tmp_path: Path, state_db: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"state_db: {state_db}\n{OUTLET}", encoding="utf-8")
    return path


@pytest.mark.parametrize("role", ["scheduler", "worker"])
def test_a_cluster_role_on_sqlite_is_refused_in_one_line(
    tmp_path: Path, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--role", role, "--config", str(config(tmp_path, "state/x.sqlite3"))])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "needs a cluster: set state_db: postgresql://" in err


def test_status_of_an_unreachable_cluster_is_one_line_and_unhealthy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://fw:secret@127.0.0.1:9/fw"
    code = main(["status", "--config", str(config(tmp_path, url))])
    out = capsys.readouterr().out
    assert code == 1
    [line] = [line for line in out.splitlines() if line.startswith("cluster ")]
    assert "UNREACHABLE" in line and "secret" not in line


class FakeState:
    """The two reads `cluster_report` makes, from fixed rows."""

    def __init__(self, members: list[MemberRow], down: bool = False) -> None:
        self.rows, self.down = members, down

    def members(self) -> list[MemberRow]:
        if self.down:
            raise ClusterUnavailable("connection refused")
        return self.rows

    def job_counts(self) -> JobCounts:
        return JobCounts(queued=1, running=2, done=30, failed=1)

    def load_schedule(self) -> dict[str, tuple[str, int | None]]:
        return {"one": ("every=1800 jitter=0", 1_700_000_000_000)}


def row(role: str, detail: str, age: float, pid: int = 1) -> MemberRow:
    now = datetime.now(UTC)
    return MemberRow(role, "box", pid, now, now, detail, age)


@pytest.mark.parametrize(
    ("members", "code", "expected"),
    [
        (
            [
                row("scheduler", "leader", 1),
                row("worker", "idle", 2),
                row("ingest", "consuming", 1),
                row("ingest", "standby", 1),
            ],
            0,
            "cluster ok",
        ),
        (
            [
                row("scheduler", "standby", 1),
                row("worker", "idle", 2),
                row("ingest", "consuming", 1),
            ],
            1,
            "no active scheduler",
        ),
        ([row("scheduler", "leader", 1), row("ingest", "consuming", 1)], 1, "no live worker"),
        (
            [row("scheduler", "leader", 1), row("worker", "idle", 2), row("ingest", "standby", 1)],
            1,
            "no active ingest role (crawled stories wait in the queue)",
        ),
        (
            [
                row("scheduler", "leader", 100, 7),
                row("scheduler", "leader", 1),
                row("worker", "idle", 1),
                row("ingest", "consuming", 1),
            ],
            1,
            "scheduler on box (pid 7) is silent",
        ),
    ],
)
def test_cluster_health(tmp_path: Path, members: list[MemberRow], code: int, expected: str) -> None:
    cfg = load_config(config(tmp_path, "postgresql://fw@db/fw"))
    text, got = cluster_report(FakeState(members), cfg)  # type: ignore[arg-type]
    assert got == code
    assert expected in text
    assert "1 queued, 2 running, 30 done, 1 failed" in text.splitlines()[0]
    stamp = datetime.fromtimestamp(1_700_000_000).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert f"next crawl of one: {stamp}" in text


class CrashingState(FakeState):
    """A state whose election raises a bug (not an outage); heartbeats work."""

    def __init__(self) -> None:
        super().__init__([])

    def try_lead(self) -> bool:
        raise RuntimeError("a bug")

    def beat(self, member: object, detail: str) -> None:
        pass

    leave = resign = close = lambda self, *args: None  # noqa: E731


def test_a_crashing_role_stops_its_process_with_exit_1(tmp_path: Path) -> None:
    import threading

    from scheduler.daemon import DaemonOptions
    from scheduler.roles import run_roles

    cfg = load_config(config(tmp_path, "postgresql://fw@db/fw"))
    codes: list[int] = []
    runner = threading.Thread(  # not the main thread: no signal handlers are installed
        target=lambda: codes.append(
            run_roles(
                cfg, tmp_path / "config.yaml", "scheduler", CrashingState, DaemonOptions(poll=0.05)
            )  # type: ignore[arg-type]
        )
    )
    runner.start()
    runner.join(10)
    assert codes == [1]
