"""Delivery: one alert per story to JSONL and a local webhook that fails, then recovers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from alerts_helpers import (
    KOREA,
    KOREA_TRADITIONAL,
    PUTIN,
    REPOST_RFI,
    REPOST_VOA,
    Clock,
    make_config,
    memory_db,
    story,
    webhook,
)
from rich.console import Console

from alerts.channels import AlertMessage, ConsoleNotifier, DeliveryError, expand_env
from alerts.service import AlertService, StoryRef


def _config(tmp_path: Path, hook_url: str, **rule: object) -> object:
    return make_config(
        {
            "channels": {
                "file": {"kind": "jsonl", "path": str(tmp_path / "alerts.jsonl")},
                "hook": {"kind": "apprise", "url": hook_url, "timeout": "5s"},
            },
            "rules": [
                {"name": "korea", "any": ["朝鲜", "北韩"], "notify": ["file", "hook"], **rule}
            ],
            "delivery": {"retry_base": "60s", "retry_max": "1h"},
        }
    )


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _states(conn) -> list[tuple[str, str, int]]:
    return conn.execute(
        "SELECT channel, state, attempts FROM alerts_outbox ORDER BY channel"
    ).fetchall()


def test_failing_webhook_loses_nothing_and_delivers_once(tmp_path: Path) -> None:
    clock = Clock()
    conn = memory_db()
    with webhook() as hook:
        service = AlertService(conn, _config(tmp_path, hook.url()), clock=clock)
        assert service.on_new_story(story(KOREA, 1, "rfi")) == ["korea"]
        assert service.on_new_story(story(PUTIN, 2, "rfi")) == []  # no 朝鲜 in it

        hook.fail_with = 500
        report = service.deliver_pending()
        assert (report.sent, report.failed, report.waiting) == (1, 1, 1)
        assert hook.failed_requests == 1 and hook.received == []
        assert len(_lines(tmp_path / "alerts.jsonl")) == 1  # the other channel is not held up
        error = conn.execute("SELECT last_error FROM alerts_outbox WHERE channel='hook'").fetchone()
        assert "500" in error[0] or "Internal" in error[0]

        # Before the backoff has passed nothing is retried, even if the hook is back.
        hook.fail_with = None
        clock.advance(30)
        assert service.deliver_pending().sent == 0
        hook.fail_with = 503
        clock.advance(31)
        assert service.deliver_pending().failed == 1  # second failure: backoff doubles to 120 s
        hook.fail_with = None
        clock.advance(119)
        assert service.deliver_pending().sent == 0
        clock.advance(2)
        assert service.deliver_pending().sent == 1

        assert len(hook.received) == 1
        path, payload = hook.received[0]
        assert path == "/hook"
        assert payload["title"].startswith("[korea] 韩国外长")
        assert "朝鲜" in payload["message"] and "any:" in payload["message"]
        assert _states(conn) == [("file", "sent", 1), ("hook", "sent", 3)]
        # Nothing left: more calls send nothing again.
        clock.advance(3600)
        assert service.deliver_pending().sent == 0
        assert len(hook.received) == 1
    record = _lines(tmp_path / "alerts.jsonl")[0]
    assert record["story_id"] == 1 and record["rule"] == "korea" and record["outlet"] == "rfi"
    assert record["kind"] == "match" and record["alert_id"].startswith("fw-")
    assert record["alert_id"] == payload["alert_id"]  # every channel carries the same id


def test_undelivered_alerts_go_out_on_the_next_run(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "state.sqlite3"
    import sqlite3

    with webhook() as hook:
        first = sqlite3.connect(db, isolation_level=None)
        service = AlertService(first, _config(tmp_path, hook.url()), clock=clock)
        service.on_new_story(story(KOREA, 7, "rfi"))
        hook.fail_with = 500
        service.deliver_pending()
        first.close()  # the process ends with the webhook alert undelivered

        hook.fail_with = None
        clock.advance(3600)
        second = sqlite3.connect(db, isolation_level=None)
        report = AlertService(second, _config(tmp_path, hook.url()), clock=clock).deliver_pending()
        assert report.sent == 1 and report.waiting == 0
        assert len(hook.received) == 1
        second.close()
    assert len(_lines(tmp_path / "alerts.jsonl")) == 1


def test_two_senders_at_once_send_each_alert_once(tmp_path: Path) -> None:
    # A crawl and the daemon (or two outlets' crawlers) flush the same outbox at the same time.
    import sqlite3
    import threading

    db = tmp_path / "state.sqlite3"
    clock = Clock()
    with webhook() as hook:
        hook.delay = 0.5  # a slow endpoint: the other sender looks while the first one posts
        conns = [sqlite3.connect(db, isolation_level=None, check_same_thread=False) for _ in "ab"]
        services = [AlertService(c, _config(tmp_path, hook.url()), clock=clock) for c in conns]
        services[0].on_new_story(story(KOREA, 1, "rfi"))
        reports = []
        threads = [
            threading.Thread(target=lambda s=s: reports.append(s.deliver_pending()))
            for s in services
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        for c in conns:
            c.close()
    assert len(hook.received) == 1
    assert len(_lines(tmp_path / "alerts.jsonl")) == 1
    assert sum(r.sent for r in reports) == 2 and all(r.failed == 0 for r in reports)


def test_one_alert_per_story_whatever_happens(tmp_path: Path) -> None:
    clock = Clock()
    conn = memory_db()
    with webhook() as hook:
        service = AlertService(conn, _config(tmp_path, hook.url()), clock=clock)
        korea = story(KOREA, 1, "rfi")
        assert service.on_new_story(korea) == ["korea"]
        assert service.on_new_story(korea) == []  # called twice by mistake: ignored
        # The same story's Traditional-script repost and a repost by another outlet add nothing.
        service.on_repost(1, "voa", "https://www.voachinese.com/a/some-repost.html")
        service.on_repost(1, "voa", "https://www.voachinese.com/a/some-repost.html")
        service.deliver_pending()
        traditional = story(KOREA_TRADITIONAL, 2, "voa")  # a different story id: a new story
        assert service.on_new_story(traditional) == ["korea"]
        service.deliver_pending()
        clock.advance(10)
        service.deliver_pending()
        titles = [payload["title"] for _, payload in hook.received]
    assert len(titles) == 2
    assert titles[1].startswith(
        "[korea] 韓國外長"
    )  # the Traditional story alerted in its own script
    assert [r["story_id"] for r in _lines(tmp_path / "alerts.jsonl")] == [1, 2]


def test_repost_pair_alerts_once(tmp_path: Path) -> None:
    conn = memory_db()
    config = make_config(
        {
            "channels": {"file": {"kind": "jsonl", "path": str(tmp_path / "a.jsonl")}},
            "rules": [{"name": "freedom", "all": ["自由之家"], "notify": ["file"]}],
        }
    )
    service = AlertService(conn, config, clock=Clock())
    assert service.on_new_story(story(REPOST_RFI, 10, "rfi")) == ["freedom"]
    voa = story(REPOST_VOA, 10, "voa")  # dedup merged it into story 10: the pipeline reports it
    service.on_repost(voa.story_id, voa.outlet, voa.url)
    service.deliver_pending()
    assert [r["story_id"] for r in _lines(tmp_path / "a.jsonl")] == [10]


def test_missing_environment_variable_keeps_alert_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FEEDWATCH_TEST_HOOK", raising=False)
    clock = Clock()
    conn = memory_db()
    with webhook() as hook:
        url = f"json://127.0.0.1:{hook.port}/${{FEEDWATCH_TEST_HOOK}}"
        service = AlertService(conn, _config(tmp_path, url), clock=clock)
        service.on_new_story(story(KOREA, 1, "rfi"))
        assert service.deliver_pending().failed == 1
        error = conn.execute("SELECT last_error FROM alerts_outbox WHERE channel='hook'").fetchone()
        assert "FEEDWATCH_TEST_HOOK is not set" in error[0]
        monkeypatch.setenv("FEEDWATCH_TEST_HOOK", "s3cret-path")
        clock.advance(120)
        assert service.deliver_pending().sent == 1
        assert [path for path, _ in hook.received] == ["/s3cret-path"]


def test_unreachable_webhook_fails_within_timeout(tmp_path: Path) -> None:
    with webhook() as hook:
        port = hook.port
    # The server is gone: the connection is refused and the alert stays pending.
    conn = memory_db()
    service = AlertService(conn, _config(tmp_path, f"json://127.0.0.1:{port}/x"), clock=Clock())
    service.on_new_story(story(KOREA, 1, "rfi"))
    report = service.deliver_pending()
    assert (report.sent, report.failed, report.waiting) == (1, 1, 1)


def test_ingest_transaction_of_the_caller_is_respected(tmp_path: Path) -> None:
    conn = memory_db()
    config = make_config(
        {
            "channels": {"file": {"kind": "jsonl", "path": str(tmp_path / "a.jsonl")}},
            "rules": [{"name": "korea", "any": ["朝鲜"], "notify": ["file"]}],
        }
    )
    service = AlertService(conn, config, clock=Clock())
    conn.execute("BEGIN IMMEDIATE")
    service.on_new_story(story(KOREA, 1, "rfi"))
    conn.execute("ROLLBACK")  # the story was not stored after all: neither is its alert
    assert conn.execute("SELECT COUNT(*) FROM alerts_matches").fetchone()[0] == 0
    assert service.deliver_pending().sent == 0


def test_console_channel_prints_untrusted_titles_literally() -> None:
    buffer = io.StringIO()
    notifier = ConsoleNotifier("term", Console(file=buffer, width=200, color_system=None))
    notifier.send(AlertMessage("match", "[bold]标题[/bold] 朝鲜", "正文"))
    assert "[match] [bold]标题[/bold] 朝鲜" in buffer.getvalue()


def test_expand_env_names_the_missing_variable() -> None:
    url, secrets = expand_env("tgram://${A}/${B}", {"A": "x1", "B": "y2"})
    assert url == "tgram://x1/y2" and secrets == ["x1", "y2"]
    with pytest.raises(DeliveryError, match="environment variable C is not set"):
        expand_env("tgram://${C}", {})


def test_jsonl_channel_reports_unwritable_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    conn = memory_db()
    config = make_config(
        {
            "channels": {"file": {"kind": "jsonl", "path": str(blocker / "a.jsonl")}},
            "rules": [{"name": "korea", "any": ["朝鲜"], "notify": ["file"]}],
        }
    )
    service = AlertService(conn, config, clock=Clock())
    service.on_new_story(StoryRef(1, "朝鲜新闻", "https://x.test/1", "<p>朝鲜</p>", "rfi", 0))
    report = service.deliver_pending()
    assert (report.sent, report.failed, report.waiting) == (0, 1, 1)
    error = conn.execute("SELECT last_error FROM alerts_outbox").fetchone()[0]
    assert "cannot append" in error
