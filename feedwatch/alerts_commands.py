"""Text for `feedwatch alerts test RULE [FILE…]` and `feedwatch alerts list` (wired by feedwatch/cli.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.match import RuleMatcher, prepare_story
from conf.alerts import AlertsConfig
from conf.schema import OutletConfig
from feedwatch.outlets import host_in_domains, outlet_domains
from store.format import ItemFormatError
from store.imports import iter_item_paths, read_item_file
from store.sqlite import SQLiteState
from store.storage import StateStorage

UNKNOWN_OUTLET = "?"


class UnknownRuleError(ValueError):
    """The rule named on the command line is not in the config."""


def outlet_for_url(url: str, outlets: dict[str, OutletConfig]) -> str:
    """The configured outlet whose domains (its spec's and config's) cover the URL's host, or '?'."""
    for name, outlet in outlets.items():
        if host_in_domains(url, outlet_domains(outlet)):
            return name
    return UNKNOWN_OUTLET


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def test_rule(config: Any, rule_name: str, paths: Sequence[Path]) -> str:
    """Which item files a rule matches and why; `config` is the whole Config or AlertsConfig."""
    alerts: AlertsConfig = getattr(config, "alerts", config)
    outlets: dict[str, OutletConfig] = getattr(config, "outlets", {})
    rule = alerts.rule(rule_name)
    if rule is None:
        names = ", ".join(r.name for r in alerts.rules) or "none"
        raise UnknownRuleError(f"no watch rule named {rule_name!r} (rules: {names})")
    if not paths and hasattr(config, "archive_dir"):
        paths = [config.archive_dir]
    matcher = RuleMatcher(rule)
    lines = [f"rule {rule.name}: fields {', '.join(rule.fields)}"]
    checked = matched = 0
    try:
        found = list(iter_item_paths(paths))
    except ItemFormatError as exc:
        return "\n".join([*lines, f"error: {exc}"])
    for path in found:
        try:
            item = read_item_file(path)
        except ItemFormatError as exc:
            lines.append(f"skipped {exc}")
            continue
        checked += 1
        outlet = outlet_for_url(item.url, outlets)
        result = matcher.match(prepare_story(item.title, item.body), outlet)
        if result.matched:
            matched += 1
            lines.append(f"MATCH {path} [{outlet}] {item.title}")
            lines += [f"      {reason}" for reason in result.reasons]
    lines.append(f"{matched} of {checked} items match rule {rule.name}")
    return "\n".join(lines)


def list_alerts(conn: sqlite3.Connection | StateStorage, limit: int = 20) -> str:
    """The most recent alerts with each channel's delivery state, newest first."""
    tables = (SQLiteState.on(conn) if isinstance(conn, sqlite3.Connection) else conn).alerts
    events = [(i, kind, title, ms) for i, kind, _, title, _, ms in tables.events(max(1, limit))]
    if not events:
        return "no alerts yet"
    lines = []
    for event_id, kind, title, created_ms in events:
        lines.append(f"#{event_id} {_when(created_ms)} {kind:<6} {title}")
        deliveries = tables.deliveries(event_id)
        if not deliveries:
            lines.append("    (no channel: recorded only)")
        for channel, state, attempts, next_ms, error, sent_ms in deliveries:
            if state == "sent":
                lines.append(f"    {channel}: sent {_when(sent_ms)} after {attempts} attempt(s)")
            else:
                detail = f"pending, {attempts} failed attempt(s), next {_when(next_ms)}"
                if error:
                    detail += f", last error: {error}"
                lines.append(f"    {channel}: {detail}")
    return "\n".join(lines)


test_rule.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name
