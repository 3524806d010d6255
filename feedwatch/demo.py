"""`feedwatch demo`: the whole cycle offline, replaying the snapshot bundled with the package."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from conf.schema import Config, load_config
from feedwatch.crawl import build_settings, format_summary, run_crawl
from store.imports import iter_item_paths, read_item_file

SHOWN = 10
MARKER = ".feedwatch-demo"  # only folders carrying it are ever emptied by the demo


def _data_file(name: str) -> Path:
    return Path(str(resources.files("feedwatch") / "data" / name))


def prepare_out_dir(out: Path, config_file: Path | None) -> Path:
    """Empty (or create) the demo folder and write its config there; returns the config path."""
    if out.exists():
        if not (out / MARKER).exists() and any(out.iterdir()):
            raise FileExistsError(f"{out} exists and is not a demo folder; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).touch()
    raw = yaml.safe_load(
        (config_file or _data_file("demo-config.yaml")).read_text(encoding="utf-8")
    )
    raw["archive_dir"] = "archive"
    raw["state_db"] = "state/feedwatch.sqlite3"
    config_path = out / "config.yaml"
    config_path.write_text(
        yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return config_path


def run_demo(out: Path, config_file: Path | None, log_level: str) -> int:
    """Crawl every enabled outlet from the bundled snapshot into `out`, then show what was stored."""
    console = Console()
    config_path = prepare_out_dir(out, config_file)
    config = load_config(config_path)
    snapshot = _data_file("snapshot.warc.gz")
    names = [name for name, outlet in config.outlets.items() if outlet.enabled]
    console.print(f"Replaying {snapshot.name} for {', '.join(names)} into {out}/ (no network)")
    settings = build_settings(config_path, replay=snapshot, log_level=log_level)
    summaries = run_crawl(config, config_path, names, settings)
    stored = sorted(
        ((read_item_file(path), path) for path in iter_item_paths([config.archive_dir])),
        key=lambda pair: pair[0].ts,
        reverse=True,
    )
    table = Table(title=f"{len(stored)} stories stored in {config.archive_dir} (newest {SHOWN})")
    table.add_column("file", overflow="fold")
    table.add_column("published (UTC)")
    table.add_column("title", overflow="fold")
    for item, path in stored[:SHOWN]:
        when = datetime.fromtimestamp(item.ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(str(path.relative_to(config.archive_dir)), when, item.title)
    console.print(table)
    _print_alerts(console, config)
    console.print(format_summary(summaries), soft_wrap=True, highlight=False)
    console.print(
        f"Config used: {config_path} (try: feedwatch status --config {config_path})", soft_wrap=True
    )
    return 0


def _print_alerts(console: Console, config: Config) -> None:
    """List the alerts the demo's rules delivered to their JSONL channels."""
    for name, channel in config.alerts.channels.items():
        if channel.kind != "jsonl" or channel.path is None or not channel.path.exists():
            continue
        lines = channel.path.read_text(encoding="utf-8").splitlines()
        console.print(f"{len(lines)} alerts delivered to channel {name!r} ({channel.path}):")
        for line in lines:
            alert = json.loads(line)
            label = escape(f"[{alert.get('rule') or alert.get('kind')}]")
            console.print(f"  {label} {escape(str(alert.get('title', '')))}")
