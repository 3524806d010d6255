"""`state_db: postgresql://...` and the `cluster` section (docs/CLUSTER.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conf.schema import ConfigError, load_config

OUTLET = "outlets:\n  one:\n    feeds: [{url: 'https://example.org/rss'}]\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text + OUTLET, encoding="utf-8")
    return path


def test_sqlite_path_stays_the_single_machine_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "state_db: state/x.sqlite3\n"))
    assert config.postgres_url is None
    assert config.state_db == tmp_path / "state" / "x.sqlite3"


def test_postgres_url_is_the_cluster_and_sqlite_keeps_the_rest(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "state_db: postgresql://fw:secret@db.example:5433/feedwatch\n"
            "cluster: {lease: 2m, heartbeat: 5s, local_state_db: local/fw.sqlite3}\n",
        )
    )
    assert config.postgres_url == "postgresql://fw:secret@db.example:5433/feedwatch"
    # Items, dedup and alerts stay in this machine's SQLite file until the storage interface.
    assert config.state_db == tmp_path / "local" / "fw.sqlite3"
    assert config.cluster.lease == 120.0
    assert config.cluster.heartbeat == 5.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state_db: postgresql://u:pw@h/db?nonsense=1\n", "state_db: not a valid PostgreSQL URL"),
        ("cluster: {lease: 1s}\n", "cluster.lease"),
        ("cluster: {heartbeat: soon}\n", "cluster.heartbeat"),
        ("cluster: {max_attempts: 0}\n", "cluster.max_attempts"),
        ("cluster: {leader: yes}\n", "cluster.leader: unknown key"),
    ],
)
def test_bad_cluster_values_are_refused_at_their_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert expected in str(info.value)
    assert "pw" not in str(info.value)  # a password never reaches a message
