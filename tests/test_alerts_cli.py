"""`alerts test` and `alerts list` text, on real fixture items and a real state database."""

from __future__ import annotations

from pathlib import Path

import pytest
from alerts_helpers import FIXTURES, KOREA, PUTIN, Clock, make_config, memory_db, story, webhook

from alerts.service import AlertService
from conf.schema import Config
from feedwatch import alerts_commands as alerts_cli

RULES = {
    "channels": {"hook": {"kind": "apprise", "url": "json://127.0.0.1:1/x"}},
    "rules": [
        {"name": "korea", "any": ["朝鮮", "北韓"], "notify": ["hook"]},
        {"name": "putin-rfi", "all": ["普京"], "outlets": {"include": ["rfi"]}},
    ],
}


def test_rule_test_lists_matching_fixture_files_and_why() -> None:
    output = alerts_cli.test_rule(make_config(RULES), "korea", [FIXTURES])
    matches = [line for line in output.splitlines() if line.startswith("MATCH")]
    # The Simplified original and its Traditional conversion; nothing else mentions North Korea.
    assert sorted(Path(line.split()[1]).name for line in matches) == [
        "rfi_999999_korea_defectors.md",
        "rfi_999999_korea_defectors.traditional-s2t.md",
    ]
    assert "any: '朝鮮' in body" in output
    assert output.splitlines()[-1] == "2 of 6 items match rule korea"


def test_rule_test_uses_outlets_from_the_whole_config() -> None:
    config = Config.model_validate(
        {
            "outlets": {
                "rfi": {"domains": ["rfi.fr"], "feeds": [{"url": "https://www.rfi.fr/cn/rss"}]},
                "dw": {"domains": ["dw.com"], "feeds": [{"url": "https://rss.dw.com/x"}]},
            },
            "alerts": RULES,
        }
    )
    output = alerts_cli.test_rule(
        config, "putin-rfi", [PUTIN, FIXTURES / "dw_1022765_trump_ukraine.md"]
    )
    # Both mention 普京, but only the RFI one is from an included outlet.
    assert f"MATCH {PUTIN} [rfi]" in output
    assert output.splitlines()[-1] == "1 of 2 items match rule putin-rfi"


def test_rule_test_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text("not an item\n", encoding="utf-8")
    output = alerts_cli.test_rule(make_config(RULES), "korea", [broken, KOREA])
    assert "skipped" in output and "broken.md" in output
    assert output.splitlines()[-1] == "1 of 1 items match rule korea"
    missing = alerts_cli.test_rule(make_config(RULES), "korea", [tmp_path / "nope"])
    assert "error:" in missing and "no such file" in missing
    with pytest.raises(alerts_cli.UnknownRuleError, match="no watch rule named 'nk'"):
        alerts_cli.test_rule(make_config(RULES), "nk", [KOREA])


def test_list_alerts_shows_delivery_state(tmp_path: Path) -> None:
    conn = memory_db()
    assert alerts_cli.list_alerts(conn, 10) == "no alerts yet"
    clock = Clock()
    with webhook() as hook:
        config = make_config(
            {**RULES, "channels": {"hook": {"kind": "apprise", "url": hook.url()}}}
        )
        service = AlertService(conn, config, clock=clock)
        service.on_new_story(story(KOREA, 1, "rfi"))
        service.on_new_story(story(PUTIN, 2, "rfi"))  # matches putin-rfi, which notifies nobody
        hook.fail_with = 500
        service.deliver_pending()
        failing = alerts_cli.list_alerts(conn, 10)
        hook.fail_with = None
        clock.advance(120)
        service.deliver_pending()
        delivered = alerts_cli.list_alerts(conn, 10)
        assert alerts_cli.list_alerts(conn, 1).count("#") == 1
    assert "hook: pending, 1 failed attempt(s)" in failing and "last error:" in failing
    assert "(no channel: recorded only)" in failing
    assert "hook: sent" in delivered and "after 2 attempt(s)" in delivered
    assert "[korea] 韩国外长" in delivered
