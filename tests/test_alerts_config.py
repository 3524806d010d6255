"""Alert config validation: bad rules and channels are refused with the rule's name and why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from conf.alerts import AlertsConfig, check_no_inline_secret
from conf.schema import ConfigError, load_config

GOOD = {
    "channels": {
        "file": {"kind": "jsonl", "path": "alerts.jsonl"},
        "hook": {"kind": "apprise", "url": "json://127.0.0.1:8080/${HOOK_TOKEN}"},
        "term": {"kind": "console"},
    },
    "rules": [
        {"name": "korea", "any": ["朝鲜", "北韓"], "notify": ["file", "hook"]},
        {
            "name": "putin-digest",
            "all": ["普京"],
            "none": ["体育"],
            "regex": r"国际刑事法院|ICC",
            "fields": ["title"],
            "outlets": {"exclude": ["epochtimes"]},
            "notify": ["term"],
            "digest": {"every": "30m"},
        },
    ],
    "health": {"notify": ["file"], "failing_runs": 2},
}


def _load(tmp_path: Path, alerts: dict) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"alerts": alerts}, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def _with_rule(**changes: object) -> dict:
    rule = {"name": "korea", "any": ["朝鲜"], "notify": ["file"], **changes}
    return {"channels": {"file": {"kind": "jsonl", "path": "a.jsonl"}}, "rules": [rule]}


def test_good_config_loads_and_jsonl_path_resolves(tmp_path: Path) -> None:
    config = _load(tmp_path, GOOD)
    alerts = config.alerts  # type: ignore[attr-defined]
    assert [rule.name for rule in alerts.rules] == ["korea", "putin-digest"]
    assert alerts.rules[1].digest.every == 1800
    assert alerts.rules[1].outlets.allows("rfi") and not alerts.rules[1].outlets.allows(
        "epochtimes"
    )
    assert alerts.health.failing_runs == 2
    alerts.resolve_paths(tmp_path)
    assert alerts.channels["file"].path == tmp_path / "alerts.jsonl"


@pytest.mark.parametrize(
    ("changes", "where", "why"),
    [
        ({"regex": "(("}, "alerts.rules.0.regex", "rule 'korea': regex does not compile"),
        ({"notify": ["slack"]}, "alerts.rules.0.notify", "unknown channel 'slack'"),
        ({"any": [], "none": ["x"]}, "alerts.rules.0", "needs at least one of all, any or regex"),
        ({"any": ["  "]}, "alerts.rules.0.any", "a term cannot be empty"),
        ({"fields": ["url"]}, "alerts.rules.0.fields", ""),
        ({"fields": []}, "alerts.rules.0.fields", "fields needs title, body or both"),
        ({"digest": {"every": "30m", "daily": "08:00"}}, "alerts.rules.0.digest", "exactly one"),
        ({"digest": {}}, "alerts.rules.0.digest", "exactly one"),
        ({"digest": {"daily": "25:00"}}, "alerts.rules.0.digest.daily", "HH:MM"),
        ({"digest": {"every": "10s"}}, "alerts.rules.0.digest.every", "at least 60s"),
        ({"digest": {"daily": "08:00", "timezone": "Mars/Base"}}, "timezone", "unknown time zone"),
        ({"colour": "red"}, "alerts.rules.0.colour", "unknown key"),
    ],
)
def test_bad_rule_is_refused_with_path_and_reason(
    tmp_path: Path, changes: dict, where: str, why: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, _with_rule(**changes))
    message = str(info.value)
    assert where in message
    assert why in message
    assert len(message.splitlines()) == 1


def test_duplicate_rule_names_are_refused(tmp_path: Path) -> None:
    alerts = _with_rule()
    alerts["rules"].append(dict(alerts["rules"][0]))
    with pytest.raises(ConfigError, match="rule 'korea' is defined twice"):
        _load(tmp_path, alerts)


def test_health_channel_must_exist(tmp_path: Path) -> None:
    alerts = {**_with_rule(), "health": {"notify": ["pager"]}}
    with pytest.raises(ConfigError, match=r"alerts\.health\.notify: health notifies unknown"):
        _load(tmp_path, alerts)


@pytest.mark.parametrize(
    ("channel", "why"),
    [
        ({"kind": "jsonl"}, "a jsonl channel needs path"),
        ({"kind": "apprise"}, "an apprise channel needs url"),
        ({"kind": "console", "url": "json://x"}, "url is only for apprise"),
        ({"kind": "apprise", "url": "mailto://me:hunter2@example.com"}, "literal password"),
        ({"kind": "apprise", "url": "ntfy://ntfy.sh/topic?token=tk_abc"}, "literal token="),
        (
            {"kind": "apprise", "url": "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/42"},
            "literal token",
        ),
        ({"kind": "apprise", "url": "not a url"}, "not an Apprise URL"),
        ({"kind": "pager"}, ""),
        ({"kind": "console", "timeout": "0s"}, "timeout must be between"),
    ],
)
def test_bad_channel_is_refused(tmp_path: Path, channel: dict, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, {"channels": {"c": channel}})
    assert "alerts.channels.c" in str(info.value)
    assert why in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "mailto://me:${MAIL_PASSWORD}@example.com",
        "tgram://${TELEGRAM_BOT_TOKEN}/${TELEGRAM_CHAT}",
        "ntfy://ntfy.sh/feedwatch-alerts?token=${NTFY_TOKEN}",
        "json://127.0.0.1:8080/hook",
        "slack://${SLACK_A}/${SLACK_B}/${SLACK_C}/#news",
    ],
)
def test_env_references_are_accepted(url: str) -> None:
    check_no_inline_secret(url)
    config = AlertsConfig.model_validate({"channels": {"c": {"kind": "apprise", "url": url}}})
    assert config.channels["c"].url == url  # kept unexpanded: expanded only at send time


def test_rule_validated_alone_still_checks_its_regex() -> None:
    with pytest.raises(ValidationError, match="regex does not compile"):
        AlertsConfig.model_validate({"rules": [{"name": "r", "regex": "[a-"}]})
