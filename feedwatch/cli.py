"""The `feedwatch` command line. `parse_args(argv)` is separate so tests can call it."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from feedwatch import read_commands
from feedwatch.config import DEFAULT_CONFIG, Config, ConfigError, load_config
from store.format import ItemFormatError

logger = logging.getLogger("feedwatch")


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(DEFAULT_CONFIG),
        help="config file (default: %(default)s)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log Scrapy's progress")


def _add_replay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="FILE.warc.gz",
        help="serve every request from a recorded WARC",
    )
    parser.add_argument(
        "--record", type=Path, metavar="FILE.warc.gz", help="record every response into a WARC"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="feedwatch",
        description="Monitor news feeds: crawl, merge reposts, archive every story, alert on matches.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("crawl", help="crawl outlets once (all enabled outlets if none are named)")
    p.add_argument("outlets", nargs="*", metavar="OUTLET")
    p.add_argument(
        "--force",
        action="store_true",
        help="fetch feeds now, ignoring Retry-After, max-age and failure backoff",
    )
    _add_config(p)
    _add_replay(p)

    p = sub.add_parser("fetch", help="fetch one article page or feed URL")
    p.add_argument("url")
    p.add_argument("--outlet", help="parse as this outlet (default: guessed from the URL's host)")
    p.add_argument(
        "--dry-run", action="store_true", help="print the rendered item(s), store nothing"
    )
    _add_config(p)
    _add_replay(p)

    p = sub.add_parser("run", help="run the scheduler daemon in the foreground")
    read_commands.add_serve_options(p, flag=True)
    _add_config(p)

    p = sub.add_parser("status", help="per-outlet health; exits 1 when an outlet keeps failing")
    p.add_argument(
        "--max-failures", type=int, default=3, help="failed runs in a row that count as unhealthy"
    )
    _add_config(p)

    p = sub.add_parser(
        "import", help="import item files or folders (seed format, Jekyll, mirror pages)"
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument(
        "--no-alerts", action="store_true", help="do not run watch rules on imported stories"
    )
    _add_config(p)

    p = sub.add_parser("dedup", help="near-duplicate tools")
    dsub = p.add_subparsers(dest="dedup_command", required=True, metavar="ACTION")
    q = dsub.add_parser("cluster", help="group item files into stories; prints JSON")
    q.add_argument("paths", nargs="+", metavar="PATH")  # kept as typed: printed back as given
    q.add_argument(
        "--json", action="store_true", help="print one JSON array of clusters (the default)"
    )
    q.add_argument(
        "--content-only", action="store_true", help="ignore URL identity, compare text only"
    )
    _add_config(q)
    q = dsub.add_parser("explain", help="explain the dedup decision for two item files")
    q.add_argument("a", type=Path)
    q.add_argument("b", type=Path)
    _add_config(q)

    p = sub.add_parser("alerts", help="watch rules and alert delivery")
    asub = p.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    q = asub.add_parser("test", help="show which stored items a rule matches, and why")
    q.add_argument("rule")
    q.add_argument("paths", nargs="*", type=Path, metavar="FILE")
    _add_config(q)
    q = asub.add_parser("list", help="recent alerts and their delivery state")
    q.add_argument("--limit", type=int, default=20)
    _add_config(q)

    p = sub.add_parser("demo", help="crawl the bundled offline snapshot into a fresh archive")
    p.add_argument(
        "--out", type=Path, default=Path("demo-out"), help="folder for the demo's archive and state"
    )
    p.add_argument(
        "--config", type=Path, default=None, help="config file (default: the bundled demo config)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log Scrapy's progress")
    read_commands.add_parsers(sub, _add_config)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    return build_parser().parse_args(argv)


def _config(args: argparse.Namespace) -> Config:
    # Loaded once in main(), before any heavy import, so a bad config fails fast.
    config: Config = args.loaded_config
    return config


def _log_level(args: argparse.Namespace) -> str:
    return "INFO" if getattr(args, "verbose", False) else "WARNING"


def _check_replay(args: argparse.Namespace) -> None:
    replay = getattr(args, "replay", None)
    if replay is None:
        return
    if not replay.is_file():
        raise UsageError(f"--replay {replay}: no such file")
    from feedwatch.replay import ReplayError, open_replay

    try:
        open_replay(replay)  # fails here in one line, not as a Twisted traceback mid-crawl
    except ReplayError as exc:
        raise UsageError(str(exc)) from None


def cmd_crawl(args: argparse.Namespace) -> int:
    from feedwatch.crawl import build_settings, format_summary, run_crawl

    config = _config(args)
    _check_replay(args)
    names = args.outlets or [n for n, o in config.outlets.items() if o.enabled]
    unknown = [n for n in names if n not in config.outlets]
    if unknown:
        raise UsageError(
            f"unknown outlet {unknown[0]!r}; configured: {', '.join(sorted(config.outlets))}"
        )
    if not names:
        raise UsageError("no enabled outlets in the config")
    settings = build_settings(
        args.config,
        replay=args.replay,
        record=args.record,
        log_level=_log_level(args),
        overrides={"HTTPSTATE_FORCE": True} if args.force else None,
    )
    summaries = run_crawl(config, args.config, names, settings)
    print(format_summary(summaries))
    return 0 if all(s.ok for s in summaries) else 1


def cmd_fetch(args: argparse.Namespace) -> int:
    from feedwatch.fetch import run_fetch

    config = _config(args)
    _check_replay(args)
    if args.outlet and args.outlet not in config.outlets:
        raise UsageError(
            f"unknown outlet {args.outlet!r}; configured: {', '.join(sorted(config.outlets))}"
        )
    if not args.url.startswith(("http://", "https://")):
        raise UsageError(f"{args.url!r} is not an http(s) URL")
    return run_fetch(config, args)


def cmd_run(args: argparse.Namespace) -> int:
    from scheduler.daemon import run_daemon

    if args.serve:
        read_commands.start_background_server(_config(args), args.host, args.port)
    return run_daemon(_config(args), args.config)


def cmd_status(args: argparse.Namespace) -> int:
    from scheduler.status import status_report
    from store.state import open_state

    config = _config(args)
    conn = open_state(config.state_db)
    text, code = status_report(config, conn, args.max_failures)
    print(text)
    return code


def cmd_import(args: argparse.Namespace) -> int:
    from feedwatch.importer import import_paths

    config = _config(args)
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or folder")
    report = import_paths(config, args.paths, alerts=not args.no_alerts)
    print(report.summary())
    return 0 if not report.failed else 1


def cmd_dedup(args: argparse.Namespace) -> int:
    from dedup.cli import cluster_files, explain_files

    config = _config(args)
    if args.dedup_command == "cluster":
        missing = [p for p in args.paths if not Path(p).exists()]
        if missing:
            raise UsageError(f"{missing[0]}: no such file or folder")
        clusters = cluster_files(args.paths, args.content_only, config.dedup)
        print(json.dumps(clusters, ensure_ascii=False, indent=1))
        return 0
    for path in (args.a, args.b):
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    print(explain_files(args.a, args.b, config.dedup))
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from alerts.cli import list_alerts, test_rule
    from store.state import open_state

    config = _config(args)
    if args.alerts_command == "test":
        if args.rule not in {rule.name for rule in config.alerts.rules}:
            raise UsageError(f"no watch rule named {args.rule!r} in {args.config}")
        paths = args.paths or [config.archive_dir]
        print(test_rule(config, args.rule, paths))
        return 0
    print(list_alerts(open_state(config.state_db), args.limit))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from feedwatch.demo import run_demo

    # The snapshot leaves most DW article pages out on purpose (a 404 keeps the feed summary):
    # those expected warnings would drown the demo's output, so it logs errors only unless -v.
    return run_demo(args.out, args.config, "INFO" if args.verbose else "ERROR")


SCRAPY_COMMANDS = {"crawl", "fetch", "demo"}
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "crawl": cmd_crawl,
    "fetch": cmd_fetch,
    "run": cmd_run,
    "status": cmd_status,
    "import": cmd_import,
    "dedup": cmd_dedup,
    "alerts": cmd_alerts,
    "demo": cmd_demo,
    **read_commands.COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `feedwatch` console script."""
    args = parse_args(argv)
    if args.command not in SCRAPY_COMMANDS:  # Scrapy installs its own handler (LOG_LEVEL)
        logging.basicConfig(
            level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
    try:
        if args.command != "demo":
            args.loaded_config = load_config(args.config)
        return COMMANDS[args.command](args)
    except (ConfigError, UsageError, ItemFormatError) as exc:
        print(f"feedwatch {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"feedwatch {args.command}: interrupted", file=sys.stderr)
        return 130
