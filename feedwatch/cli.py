"""The `feedwatch` command line. `parse_args(argv)` is separate so tests can call it."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import shtab

from conf.schema import DEFAULT_CONFIG, Config, ConfigError, load_config
from conf.yamlfile import excerpt
from feedwatch import __version__, read_commands
from feedwatch.errors import UsageError, one_line
from feedwatch.interrupts import Interrupted, handlers_installed
from feedwatch.logsetup import LEVELS, configure_logging, level_from_flags, restore_logging
from feedwatch.preflight import check_folder, check_paths, check_state_db
from feedwatch.progress import ProgressReport
from scheduler.cluster import ROLES
from store.format import ItemFormatError

logger = logging.getLogger("feedwatch")
CONFIG_ENV = "FEEDWATCH_CONFIG"

__all__ = ["UsageError", "build_parser", "main", "parse_args"]


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options every command takes, before or after its name (`feedwatch -q crawl` and
    `feedwatch crawl -q` are the same). Subcommands use SUPPRESS as default so that an option
    given before the command name is not overwritten by the subcommand's default."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    _files(
        parser.add_argument(
            "--config",
            type=Path,
            metavar="FILE",
            default=default(None),
            help=f"config file (default: $FEEDWATCH_CONFIG, else ./{DEFAULT_CONFIG})",
        )
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="errors only, no progress display (for cron)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="say what feedwatch does (INFO); -vv: everything, Scrapy's own chatter too",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=default(None),
        help="log level (overrides -q/-v)",
    )
    _files(
        parser.add_argument(
            "--log-file",
            type=Path,
            metavar="FILE",
            default=default(None),
            help="also append log lines to this file",
        )
    )


def _add_config(parser: argparse.ArgumentParser) -> None:
    """Give a subcommand the global options (--config, -q, -v, --log-level, --log-file)."""
    _global_options(parser, top=False)


def _files(action: argparse.Action) -> argparse.Action:
    """Mark an argument as a file path for shell completion."""
    action.complete = shtab.FILE  # type: ignore[attr-defined]
    return action


def _dirs(action: argparse.Action) -> argparse.Action:
    """Mark an argument as a folder for shell completion."""
    action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
    return action


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
    parser.add_argument("--version", action="version", version=f"feedwatch {__version__}")
    _global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("crawl", help="crawl outlets once (all enabled outlets if none are named)")
    p.add_argument(
        "outlets",
        nargs="*",
        metavar="OUTLET",
        help="outlet names from the config (default: all enabled)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="fetch feeds now, ignoring Retry-After, max-age and failure backoff",
    )
    _add_config(p)
    _add_replay(p)

    p = sub.add_parser(
        "fetch", help="fetch one article page or feed URL; on any other page, list its feeds"
    )
    p.add_argument("url", help="an article page, a feed, or any web page (its feeds are listed)")
    p.add_argument("--outlet", help="parse as this outlet (default: guessed from the URL's host)")
    p.add_argument(
        "--dry-run", action="store_true", help="print the rendered item(s), store nothing"
    )
    _add_config(p)
    _add_replay(p)

    p = sub.add_parser(
        "add", help="add a site's feed to the config as a 'generic' outlet (checked first)"
    )
    p.add_argument("url", help="the feed, or a web page that links to its feed")
    p.add_argument("--name", help="outlet name (default: from the host, e.g. example_org)")
    _add_config(p)
    _add_replay(p)

    p = sub.add_parser("run", help="run the scheduler daemon in the foreground")
    p.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all: the single daemon (default); scheduler, worker, ingest: one role of a cluster"
        " over PostgreSQL (state_db: postgresql://..., docs/CLUSTER.md)",
    )
    read_commands.add_serve_options(p, flag=True)
    _add_config(p)

    p = sub.add_parser("status", help="per-outlet health; exits 1 when an outlet keeps failing")
    p.add_argument(
        "--max-failures", type=int, default=3, help="failed runs in a row that count as unhealthy"
    )
    _add_config(p)

    p = sub.add_parser(
        "check", help="verify archive and state against each other; exits 1 on problems"
    )
    p.add_argument(
        "--repair", action="store_true", help="fix what can be fixed (never deletes an item file)"
    )
    _add_config(p)

    p = sub.add_parser(
        "import", help="import item files or folders (seed format, Jekyll, mirror pages)"
    )
    _files(
        p.add_argument(
            "paths", nargs="+", type=Path, metavar="PATH", help="item files or folders of them"
        )
    )
    p.add_argument(
        "--no-alerts", action="store_true", help="do not run watch rules on imported stories"
    )
    _add_config(p)

    p = sub.add_parser("dedup", help="near-duplicate tools (work without a config file too)")
    dsub = p.add_subparsers(dest="dedup_command", required=True, metavar="ACTION")
    q = dsub.add_parser("cluster", help="group item files into stories; prints JSON")
    _files(
        q.add_argument(  # kept as typed: printed back as given
            "paths", nargs="+", metavar="PATH", help="item files or folders of them"
        )
    )
    q.add_argument(
        "--json", action="store_true", help="print one JSON array of clusters (the default)"
    )
    q.add_argument(
        "--content-only", action="store_true", help="ignore URL identity, compare text only"
    )
    _add_config(q)
    q = dsub.add_parser("explain", help="explain the dedup decision for two item files")
    _files(q.add_argument("a", type=Path, metavar="A", help="the first item file"))
    _files(q.add_argument("b", type=Path, metavar="B", help="the second item file"))
    _add_config(q)

    p = sub.add_parser("alerts", help="watch rules and alert delivery")
    asub = p.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    q = asub.add_parser("test", help="show which stored items a rule matches, and why")
    q.add_argument("rule", help="the name of a watch rule in the config")
    _files(
        q.add_argument(
            "paths",
            nargs="*",
            type=Path,
            metavar="FILE",
            help="item files or folders to test (default: the archive)",
        )
    )
    _add_config(q)
    q = asub.add_parser("list", help="recent alerts and their delivery state")
    q.add_argument("--limit", type=int, default=20, help="how many alerts to show")
    _add_config(q)

    p = sub.add_parser("demo", help="crawl the bundled offline snapshot into a fresh archive")
    _dirs(
        p.add_argument(
            "--out",
            type=Path,
            default=Path("demo-out"),
            help="folder for the demo's archive and state",
        )
    )
    _add_config(p)  # --config here defaults to the bundled demo config

    p = sub.add_parser("init", help="write a commented config.yaml to start from")
    _dirs(
        p.add_argument(
            "dir",
            nargs="?",
            type=Path,
            default=Path("."),
            metavar="DIR",
            help="folder for config.yaml (default: the current folder)",
        )
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing config.yaml")
    _add_config(p)

    p = sub.add_parser("completion", help="print a shell completion script")
    p.add_argument("shell", choices=shtab.SUPPORTED_SHELLS, help="the shell to complete for")
    _add_config(p)
    read_commands.add_parsers(sub, _add_config)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments and resolve the config path.

    `args.config` is --config, else $FEEDWATCH_CONFIG, else ./config.yaml (the demo's stays
    None: it then uses its bundled config); `args.config_given` says whether the user chose it.
    """
    args = build_parser().parse_args(argv)
    args.config_given = args.config is not None or bool(os.environ.get(CONFIG_ENV))
    if args.config is None and args.command != "demo":
        args.config = Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    args.level = level_from_flags(args.quiet, args.verbose, args.log_level)
    if args.command == "demo" and not (args.quiet or args.verbose or args.log_level):
        # The demo's own output says what happened; its log shows errors only unless asked.
        args.level = logging.ERROR
    return args


def _config(args: argparse.Namespace) -> Config:
    # Loaded once in main(), before any heavy import, so a bad config fails fast.
    config: Config = args.loaded_config
    return config


def _log_level(args: argparse.Namespace) -> str:
    """The level name for Scrapy's LOG_LEVEL setting (its per-level log counters)."""
    return str(logging.getLevelName(args.level))


def _progress(args: argparse.Namespace) -> ProgressReport:
    # A crawl the daemon started shares the daemon's terminal: its log lines are enough there.
    return ProgressReport.for_cli(args.quiet or os.environ.get("FEEDWATCH_SCHEDULED") == "1")


def _check_replay(args: argparse.Namespace) -> None:
    record = getattr(args, "record", None)
    if record is not None:
        if record.is_dir():
            raise UsageError(f"--record {record} is a folder; give a FILE.warc.gz")
        check_folder("--record", record.parent, record)
    replay = getattr(args, "replay", None)
    if replay is None:
        return
    if not replay.is_file():
        raise UsageError(f"--replay {replay}: no such file")
    from crawler.replay import ReplayError, open_replay

    try:
        open_replay(replay)  # fails here in one line, not as a Twisted traceback mid-crawl
    except ReplayError as exc:
        raise UsageError(str(exc)) from None


def _rebuild_lost_state(config: Config) -> None:
    # Before crawling: a lost state next to a full archive would re-alert every story.
    from feedwatch.recovery import rebuild_lost_state

    rebuild_lost_state(config)


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
    check_paths(config)
    _rebuild_lost_state(config)
    settings = build_settings(
        args.config,
        replay=args.replay,
        record=args.record,
        log_level=_log_level(args),
        overrides={"HTTPSTATE_FORCE": True} if args.force else None,
    )
    with _progress(args) as progress:
        summaries = run_crawl(config, args.config, names, settings, progress)
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
    if not _is_fetchable(args.url):
        raise UsageError(f"{excerpt(args.url)} is not an http(s) URL with a host")
    if not args.dry_run:
        check_paths(config)
        _rebuild_lost_state(config)
    return run_fetch(config, args)


def _is_fetchable(url: str) -> bool:
    """An absolute http(s) URL with a host, as a feed URL in the config must be."""
    from pydantic import ValidationError

    from conf.schema import FeedConfig
    from store.urls import is_http_url

    try:
        FeedConfig(url=url)
    except ValidationError:
        return False
    return is_http_url(url)


def cmd_add(args: argparse.Namespace) -> int:
    from feedwatch.addoutlet import AddError, run_add

    _check_replay(args)
    if not _is_fetchable(args.url):
        raise UsageError(f"{excerpt(args.url)} is not an http(s) URL with a host")
    try:
        return run_add(_config(args), args)
    except AddError as exc:
        raise UsageError(str(exc)) from None


def cmd_run(args: argparse.Namespace) -> int:
    from scheduler.daemon import DaemonOptions, run_daemon

    def announce(line: str) -> None:
        print(line, flush=True)

    options = DaemonOptions(announce=None if args.quiet else announce)
    config = _config(args)
    check_paths(config)
    if config.postgres_url is None:
        if args.role != "all":
            raise UsageError(
                f"--role {args.role} needs a cluster: set state_db: postgresql://... in"
                f" {args.config} (one machine on SQLite: --role all, the default)"
            )
        _rebuild_lost_state(config)
        if args.serve:
            read_commands.start_background_server(config, args.host, args.port)
        return run_daemon(config, args.config, options)
    from scheduler.pgcluster import PgCluster
    from scheduler.roles import run_roles

    if not config.outlets or not any(o.enabled for o in config.outlets.values()):
        raise UsageError("no enabled outlets in the config: nothing to schedule")
    url = config.postgres_url
    return run_roles(config, args.config, args.role, lambda: PgCluster(url), options)


def cmd_status(args: argparse.Namespace) -> int:
    from scheduler.status import status_report
    from store.backends import open_connection

    config = _config(args)
    if args.max_failures < 1:
        raise UsageError("--max-failures must be 1 or more")
    if config.postgres_url is None:
        check_state_db(config.state_db)
    try:
        conn = open_connection(config.state_target)
    except ConnectionError as exc:  # PostgreSQL unreachable: one line, then the cluster's
        text, code = f"state: {exc}", 1
    else:
        try:
            text, code = status_report(config, conn, args.max_failures)
        finally:
            conn.close()
    print(text)
    if config.postgres_url is not None:
        from scheduler.clusterstatus import cluster_report
        from scheduler.pgcluster import PgCluster

        state = PgCluster(config.postgres_url)
        try:
            cluster_text, cluster_code = cluster_report(state, config)
        finally:
            state.close()
        print(cluster_text)
        code = max(code, cluster_code)
    return code


def cmd_check(args: argparse.Namespace) -> int:
    from feedwatch.check import run_check

    text, code = run_check(_config(args), repair_problems=args.repair)
    print(text)
    return code


def cmd_import(args: argparse.Namespace) -> int:
    from feedwatch.importer import import_paths

    config = _config(args)
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or folder")
    odd = [p for p in args.paths if not (p.is_file() or p.is_dir())]
    if odd:
        raise UsageError(f"{odd[0]}: not a file or a folder")
    check_paths(config)
    with _progress(args) as progress:
        report = import_paths(config, args.paths, alerts=not args.no_alerts, progress=progress)
    print(report.summary())
    return 0 if not report.failed else 1


def cmd_dedup(args: argparse.Namespace) -> int:
    from feedwatch.dedup_commands import cluster_files, explain_files

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
            raise UsageError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    print(explain_files(args.a, args.b, config.dedup))
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from feedwatch.alerts_commands import list_alerts, test_rule
    from store.state import open_state

    config = _config(args)
    if args.alerts_command == "test":
        if args.rule not in {rule.name for rule in config.alerts.rules}:
            raise UsageError(f"no watch rule named {args.rule!r} in {args.config}")
        missing = [p for p in args.paths if not p.exists()]
        if missing:
            raise UsageError(f"{missing[0]}: no such file or folder")
        paths = args.paths or [config.archive_dir]
        print(test_rule(config, args.rule, paths))
        return 0
    if config.postgres_url is not None:
        from store.backends import open_storage

        storage = open_storage(config.postgres_url)
        try:
            print(list_alerts(storage, args.limit))
        finally:
            storage.close()
        return 0
    check_state_db(config.state_db)
    print(list_alerts(open_state(config.state_db), args.limit))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from feedwatch.demo import run_demo

    # The demo prints its own progress lines and report; the log shows errors only unless -v.
    return run_demo(args.out, args.config, _log_level(args))


def cmd_init(args: argparse.Namespace) -> int:
    from feedwatch.initconfig import write_config

    target = write_config(args.dir, force=args.force)
    print(f"wrote {target}: edit its outlets, then run: feedwatch crawl --config {target}")
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "crawl": cmd_crawl,
    "fetch": cmd_fetch,
    "add": cmd_add,
    "run": cmd_run,
    "status": cmd_status,
    "check": cmd_check,
    "import": cmd_import,
    "dedup": cmd_dedup,
    "alerts": cmd_alerts,
    "demo": cmd_demo,
    "init": cmd_init,
    "completion": cmd_completion,
    **read_commands.COMMANDS,
}
# Commands that read no config file (the demo writes its own).
NO_CONFIG = {"demo", "init", "completion"}


def _load_config(args: argparse.Namespace) -> Config:
    """The config; the dedup tools fall back to the defaults when no config file was chosen
    and ./config.yaml does not exist (they only need the dedup thresholds)."""
    if args.command == "dedup" and not args.config_given and not args.config.exists():
        return Config()
    try:
        return load_config(args.config)
    except ConfigError as exc:
        if not args.config_given and not args.config.exists():
            raise ConfigError(f"{exc}; create one with: feedwatch init") from None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `feedwatch` console script."""
    args = parse_args(argv)
    configure_logging(args.level, args.log_file)
    try:
        with handlers_installed():
            if args.command not in NO_CONFIG:
                args.loaded_config = _load_config(args)
            return COMMANDS[args.command](args)
    except (ConfigError, UsageError, ItemFormatError) as exc:
        print(f"feedwatch {args.command}: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`feedwatch … | head`): not an error worth a traceback. Point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a killed writer
    except (OSError, sqlite3.Error) as exc:  # BrokenPipeError is an OSError: caught above
        # The file system or the database refused something the checks could not foresee
        # (disk full, a file removed meanwhile): one line; -v logs the traceback too.
        logger.debug("%s failed", args.command, exc_info=True)
        reason = one_line(f"{type(exc).__name__}: {exc}")
        print(f"feedwatch {args.command}: {reason}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"feedwatch {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"feedwatch {args.command}: interrupted by SIGINT", file=sys.stderr)
        return 130
    finally:
        restore_logging()
