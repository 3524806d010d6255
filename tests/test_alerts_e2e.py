"""The example rule of the default config over a crawl of the bundled snapshot: one alert per
matching story, to the JSONL sink and to a local webhook; reposts add none; a failing webhook
loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from alerts_helpers import Webhook, webhook

pytestmark = pytest.mark.slow  # two subprocess crawls of the bundled snapshot

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "feedwatch" / "data" / "snapshot.warc.gz"


def _config(tmp_path: Path, hook: Webhook) -> Path:
    raw = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["archive_dir"] = "archive"
    raw["state_db"] = "state/feedwatch.sqlite3"
    raw["http"]["autothrottle"] = False
    alerts = raw["alerts"]
    alerts["channels"]["hook"] = {"kind": "apprise", "url": hook.url(), "timeout": "5s"}
    alerts["delivery"] = {"retry_base": "1s", "retry_max": "1s"}
    for rule in alerts["rules"]:
        rule["notify"] = ["file", "hook"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _crawl(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "feedwatch",
            "crawl",
            "--replay",
            str(SNAPSHOT),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=config.parent,
    )


def _jsonl(config: Path) -> list[dict[str, object]]:
    path = config.parent / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_alert_per_story_and_a_failing_webhook_loses_nothing(tmp_path: Path) -> None:
    with webhook() as hook:
        config = _config(tmp_path, hook)
        hook.fail_with = 500
        first = _crawl(config)
        assert "total:" in first.stdout, first.stderr
        matches = [a for a in _jsonl(config) if a["kind"] == "match"]
        story_ids = [a["story_id"] for a in matches]
        assert len(story_ids) >= 3  # the snapshot holds several 朝鲜/普京 stories
        assert len(story_ids) == len(set(story_ids))  # one per story: merged reposts add none
        # Every matching story's file really mentions a rule term (in either script).
        for alert in matches:
            text = Path(str(alert["path"])).read_text(encoding="utf-8")
            assert any(term in text for term in ("朝鲜", "北韓", "普京"))
        assert hook.received == [] and hook.failed_requests > 0

        # The webhook recovers: the next run delivers each pending alert exactly once.
        hook.fail_with = None
        second = _crawl(config)
        assert "total: 0 new items" in second.stdout, second.stderr
        delivered = [payload for _path, payload in hook.received]
        assert len(delivered) == len(story_ids)
        assert sorted(p["title"] for p in delivered) == sorted(
            f"[{a['rule']}] {a['title']}" for a in matches
        )
        assert len(_jsonl(config)) == len(matches)  # the JSONL sink got nothing twice

        # A third crawl adds nothing anywhere.
        _crawl(config)
        assert len(hook.received) == len(story_ids)
        assert len(_jsonl(config)) == len(matches)
