"""Config loading: the default config is valid; bad values are refused with the key's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from conf.schema import ConfigError, load_config, parse_duration

ROOT = Path(__file__).resolve().parents[1]


def test_default_config_loads_every_outlet_of_the_design() -> None:
    config = load_config(ROOT / "config.yaml")
    assert {"rfi", "dw", "voa", "epochtimes"} <= set(config.outlets)
    assert config.archive_dir.is_absolute()
    feeds = [f.url for o in config.outlets.values() for f in o.feeds]
    assert "https://rss.dw.com/rdf/rss-chi-all" in feeds
    assert "https://feedx.net/rss/rfi.xml" in feeds


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("archive_dirr: x\n", "archive_dirr: unknown key"),
        ("outlets:\n  rfi:\n    feeds: []\n", "outlets.rfi.feeds"),
        ("outlets:\n  rfi:\n    feeds: [{url: 'ftp://x'}]\n", "outlets.rfi.feeds.0.url"),
        (
            "outlets:\n  rfi:\n    schedule: {every: 5s}\n    feeds: [{url: 'https://a.b/c'}]\n",
            "outlets.rfi.schedule.every",
        ),
        ("outlets:\n  RFI:\n    feeds: [{url: 'https://a.b/c'}]\n", "outlets"),
        ("http:\n  concurrent_requests: 0\n", "http.concurrent_requests"),
        ("http:\n  timeout: soon\n", "http.timeout"),
        ("outlets: [1, 2]\n", "outlets"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("key: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("90s", 90), ("6h", 21600), (45, 45), ("1d", 86400)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5s", "5 minutes", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_bundled_demo_config_is_the_default_with_the_mirror_and_rfi_tw_added() -> None:
    default = load_config(ROOT / "config.yaml").model_dump(exclude={"archive_dir", "state_db"})
    demo = load_config(ROOT / "feedwatch" / "data" / "demo-config.yaml").model_dump(
        exclude={"archive_dir", "state_db"}
    )
    assert default["outlets"]["epochtimes_mirror"]["enabled"] is False
    default["outlets"]["epochtimes_mirror"]["enabled"] = True
    # The demo adds RFI's Traditional edition, to show its stories merged with the Simplified ones.
    tw = {"url": "https://www.rfi.fr/tw/rss", "via": None, "full_text": False}
    default["outlets"]["rfi"]["feeds"].append(tw)
    for section in (default, demo):  # channel paths resolve next to each file
        for channel in section["alerts"]["channels"].values():
            channel["path"] = channel["path"] and channel["path"].name
    assert demo == default


def test_config_knows_every_spider_kind_of_the_registry() -> None:
    from conf.schema import outlet_kinds
    from spiders.registry import SPIDER_KINDS as REGISTRY

    assert set(outlet_kinds()) == set(REGISTRY)
