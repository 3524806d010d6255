"""`feedwatch demo`: the whole cycle offline, replaying the snapshot bundled with the package."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape

from conf.schema import Config, load_config, read_config_data
from feedwatch.crawl import build_settings, run_crawl
from feedwatch.demo_report import Merge, alerts_by_outlet, merges, outlet_table
from feedwatch.errors import UsageError
from feedwatch.preflight import check_folder
from store.imports import iter_item_paths
from store.state import open_state

SHOWN = 6  # reposts, edits and alerts listed by name
MARKER = ".feedwatch-demo"  # only folders carrying it are ever emptied by the demo


def _data_file(name: str) -> Path:
    return Path(str(resources.files("feedwatch") / "data" / name))


def prepare_out_dir(out: Path, config_file: Path | None) -> Path:
    """Empty (or create) the demo folder and write its config there; returns the config path.

    Everything is checked before anything is written: a bad --out or --config changes nothing.
    """
    source = config_file or _data_file("demo-config.yaml")
    load_config(source)  # ConfigError (one line) before the folder is touched
    raw = read_config_data(source)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise UsageError(f"--out {out} is a file, not a folder; choose another --out")
        if not (out / MARKER).exists() and any(out.iterdir()):
            raise UsageError(
                f"--out {out} holds files that the demo did not write; choose another --out"
            )
    else:
        check_folder("--out", out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).touch()
    raw["archive_dir"] = "archive"
    raw["state_db"] = "state/feedwatch.sqlite3"
    config_path = out / "config.yaml"
    config_path.write_text(
        yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return config_path


def run_demo(out: Path, config_file: Path | None, log_level: str) -> int:
    """Crawl every enabled outlet from the bundled snapshot into `out`, then show what was stored."""
    console = Console(highlight=False)
    config_path = prepare_out_dir(out, config_file)
    config = load_config(config_path)
    snapshot = _data_file("snapshot.warc.gz")
    names = [name for name, outlet in config.outlets.items() if outlet.enabled]
    console.print(
        f"Replaying {snapshot.name} for {', '.join(names)} into {out}/ (no network)",
        soft_wrap=True,
    )
    settings = build_settings(
        config_path,
        replay=snapshot,
        log_level=log_level,
        overrides={"EXTENSIONS": {"feedwatch.demo_progress.ProgressLines": 500}},
    )
    summaries = run_crawl(config, config_path, names, settings)
    stored = sum(1 for _ in iter_item_paths([config.archive_dir]))
    console.print()
    console.print(outlet_table(config, summaries, alerts_by_outlet(config), stored))
    conn = open_state(config.state_db)
    try:
        _print_merges(console, merges(conn))
    finally:
        conn.close()
    _print_alerts(console, config)
    console.print(
        f"\nThe stories are files in {config.archive_dir}/ (one per story). Browse them, with"
        " what was merged into each, in the web view:",
        soft_wrap=True,
    )
    console.print(f"  feedwatch serve --config {config_path}", soft_wrap=True)
    console.print(f"or check the outlets: feedwatch status --config {config_path}", soft_wrap=True)
    return 0 if all(s.ok for s in summaries) else 1


def _print_merges(console: Console, found: list[Merge]) -> None:
    """The reposts and edits the crawl recorded, a few of each kind."""
    for kind, heading in (("repost", "Reposts merged"), ("revision", "Edits recorded")):
        rows = [m for m in found if m.kind == kind]
        if not rows:
            continue
        console.print(f"\n{heading} ({len(rows)}):")
        for m in rows[:SHOWN]:
            if kind == "revision":
                line = f"  {escape(f'[{m.outlet}]')} {escape(m.story_title)}  [dim]({m.how})[/dim]"
            else:
                line = (
                    f"  {escape(f'[{m.outlet}]')} {escape(m.title)}  [dim]→ story[/dim]"
                    f" {escape(f'[{m.story_outlet}]')} {escape(m.story_title)}"
                    f"  [dim]({m.how})[/dim]"
                )
            console.print(line, soft_wrap=True)
        if len(rows) > SHOWN:
            console.print(f"  … and {len(rows) - SHOWN} more")


def _print_alerts(console: Console, config: Config) -> None:
    """List the alerts the demo's rules delivered to their JSONL channels."""
    for name, channel in config.alerts.channels.items():
        if channel.kind != "jsonl" or channel.path is None or not channel.path.exists():
            continue
        lines = channel.path.read_text(encoding="utf-8").splitlines()
        console.print(
            f"\n{len(lines)} alerts delivered to channel {name!r} ({channel.path}):", soft_wrap=True
        )
        for line in lines[:SHOWN]:
            alert = json.loads(line)
            label = escape(f"[{alert.get('rule') or alert.get('kind')}]")
            title = " ".join(str(alert.get("title", "")).split())
            outlet = escape(f"[{alert.get('outlet', '')}]")
            console.print(f"  {label} {outlet} {escape(title)}", soft_wrap=True)
        if len(lines) > SHOWN:
            console.print(f"  … and {len(lines) - SHOWN} more")
