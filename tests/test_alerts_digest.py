"""Digests: one message per rule per period, with a controlled clock; reposts summarized later."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from alerts_helpers import KOREA, KOREA_TRADITIONAL, PUTIN, Clock, make_config, memory_db, story

from alerts.digest import next_due_ms
from alerts.service import AlertService
from conf.alerts import DigestConfig

HALF_HOUR = 1800
START = 1_700_000_000 // HALF_HOUR * HALF_HOUR + 60  # one minute into a 30-minute period


def _config(tmp_path: Path) -> object:
    return make_config(
        {
            "channels": {"file": {"kind": "jsonl", "path": str(tmp_path / "digest.jsonl")}},
            "rules": [
                {
                    "name": "watch",
                    "any": ["朝鲜", "普京"],
                    "notify": ["file"],
                    "digest": {"every": "30m"},
                }
            ],
        }
    )


def _messages(tmp_path: Path) -> list[dict]:
    path = tmp_path / "digest.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_digest_batches_matches_into_one_message_per_period(tmp_path: Path) -> None:
    clock = Clock(START)
    service = AlertService(memory_db(), _config(tmp_path), clock=clock)
    service.deliver_pending()  # the first call opens the rule's first period
    assert service.on_new_story(story(KOREA, 1, "rfi")) == ["watch"]
    clock.advance(600)
    assert service.on_new_story(story(PUTIN, 2, "rfi")) == ["watch"]
    assert service.deliver_pending().sent == 0  # the period is not over yet
    assert _messages(tmp_path) == []

    clock.advance(HALF_HOUR - 600 - 60)  # exactly the period's end
    assert service.deliver_pending().sent == 1
    [digest] = _messages(tmp_path)
    assert digest["kind"] == "digest" and digest["rule"] == "watch"
    assert [s["story_id"] for s in digest["stories"]] == [1, 2] or [
        s["story_id"] for s in digest["stories"]
    ] == [2, 1]
    assert digest["title"] == "[watch] digest: 2 stories, 0 reposts"
    assert "韩国外长" in digest["body"] and "普京" in digest["body"]

    # Nothing new in the next period: no empty digest.
    clock.advance(HALF_HOUR)
    assert service.deliver_pending().sent == 0

    # A story in a later period goes into that period's digest only.
    service.on_new_story(story(KOREA_TRADITIONAL, 3, "voa"))
    service.on_new_story(story(KOREA_TRADITIONAL, 3, "voa"))  # repeated call: still one entry
    clock.advance(HALF_HOUR)
    assert service.deliver_pending().sent == 1
    second = _messages(tmp_path)[1]
    assert [s["story_id"] for s in second["stories"]] == [3]


def test_reposts_of_matched_stories_appear_in_the_next_digest(tmp_path: Path) -> None:
    clock = Clock(START)
    service = AlertService(memory_db(), _config(tmp_path), clock=clock)
    service.deliver_pending()
    service.on_new_story(story(KOREA, 1, "rfi"))
    clock.advance(HALF_HOUR)
    service.deliver_pending()
    service.on_repost(1, "voa", "https://www.voachinese.com/a/repost.html")
    service.on_repost(1, "rfi", "https://www.rfi.fr/cn/same-outlet-edit")  # same outlet: not news
    service.on_repost(99, "dw", "https://www.dw.com/zh/unmatched")  # story the rule never matched
    clock.advance(HALF_HOUR)
    assert service.deliver_pending().sent == 1
    digest = _messages(tmp_path)[1]
    assert digest["stories"] == []
    assert digest["reposts"] == [
        {
            "story_id": 1,
            "title": story(KOREA, 1, "rfi").title,
            "outlet": "voa",
            "url": "https://www.voachinese.com/a/repost.html",
        }
    ]
    assert "also on voa" in digest["body"]
    clock.advance(HALF_HOUR)
    assert service.deliver_pending().sent == 0  # each repost is reported once
    # Only reposts a digest can report are kept: the unmatched story's was not recorded.
    assert [r[2] for r in service.tables.reposts_of_matches("watch", 0, 10**9)] == ["voa"]
    assert service.tables.newest_repost_id() == 2


def test_reposts_are_not_recorded_without_a_digest_rule(tmp_path: Path) -> None:
    config = make_config(
        {
            "channels": {"file": {"kind": "jsonl", "path": str(tmp_path / "a.jsonl")}},
            "rules": [{"name": "korea", "any": ["朝鲜"], "notify": ["file"]}],
        }
    )
    service = AlertService(memory_db(), config, clock=Clock(START))
    assert service.on_new_story(story(KOREA, 1, "rfi")) == ["korea"]
    service.on_repost(1, "voa", "https://www.voachinese.com/a/repost.html")
    assert service.tables.newest_repost_id() == 0


def test_daily_digest_time_in_a_time_zone() -> None:
    daily = DigestConfig(daily="08:00", timezone="Asia/Shanghai")
    before = int(datetime(2024, 3, 1, 23, 0, tzinfo=UTC).timestamp() * 1000)  # 07:00 in Shanghai
    due = next_due_ms(daily, before)
    assert datetime.fromtimestamp(due / 1000, UTC) == datetime(2024, 3, 2, 0, 0, tzinfo=UTC)
    # At the due time exactly, the next one is a day later.
    assert next_due_ms(daily, due) == due + 86_400_000


def test_every_periods_are_aligned_so_restarts_do_not_shift_them() -> None:
    every = DigestConfig(every=HALF_HOUR)
    assert next_due_ms(every, START * 1000) == (START - 60 + HALF_HOUR) * 1000
    assert next_due_ms(every, (START - 60) * 1000) == (START - 60 + HALF_HOUR) * 1000
