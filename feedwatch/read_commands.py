"""The reading commands: `serve`, `stories`, `show`, `search`, `export`, `opml`, and `run --serve`.

Registered by feedwatch/cli.py (`add_parsers`, `COMMANDS`); the work is done by the `web`
package, imported only when a command runs so the CLI stays quick to start.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conf.schema import Config, parse_duration

if TYPE_CHECKING:
    from web.index import StoryRow, WebIndex

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?$")


def _usage(message: str) -> Exception:
    from feedwatch.cli import UsageError  # at call time: cli imports this module

    return UsageError(message)


def add_serve_options(parser: argparse.ArgumentParser, *, flag: bool = False) -> None:
    """--host/--port (and, for `run`, --serve) options."""
    if flag:
        parser.add_argument("--serve", action="store_true", help="also serve the web app")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)"
    )


def add_parsers(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the reading subcommands to the CLI's subparsers."""
    p = sub.add_parser("serve", help="serve the read-only web app (stories, search, feeds, status)")
    add_serve_options(p)
    add_config(p)

    p = sub.add_parser("stories", help="list stored stories, newest first")
    p.add_argument("--outlet", help="only stories this outlet carried")
    p.add_argument("--rule", help="only stories this watch rule matched")
    p.add_argument(
        "--since",
        metavar="WHEN",
        help="published since a date (2025-02-15) or for a duration (2d, 6h)",
    )
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="print a JSON array")
    add_config(p)

    p = sub.add_parser("show", help="print one story as readable text (by id, URL or item file)")
    p.add_argument(
        "what", metavar="ID|URL|FILE", help="a story id (from `stories`), a URL or an item file"
    )
    add_config(p)

    p = sub.add_parser("search", help="search stored stories (Simplified and Traditional alike)")
    p.add_argument("terms", nargs="+", metavar="TERM", help="words to find (all of them)")
    p.add_argument("--order", choices=("time", "relevance"), default="time")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true", help="print a JSON array")
    add_config(p)

    p = sub.add_parser("export", help="write a merged Atom or JSON feed (one entry per story)")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--atom", action="store_true", help="Atom 1.0")
    kind.add_argument("--json", action="store_true", help="JSON Feed 1.1")
    p.add_argument("--outlet", help="only stories this outlet carried")
    p.add_argument("--rule", help="only stories this watch rule matched")
    p.add_argument(
        "--since", metavar="WHEN", help="published since a date (2025-02-15) or for a duration (2d)"
    )
    p.add_argument(
        "--limit", type=int, default=50, help="newest stories to include (default: %(default)s)"
    )
    p.add_argument(
        "--base-url",
        default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
        help="where `feedwatch serve` is reached, for the feed's links",
    )
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here (default: stdout)")
    add_config(p)

    p = sub.add_parser("opml", help="export the configured feeds as OPML, or import an OPML file")
    osub = p.add_subparsers(dest="opml_command", required=True, metavar="ACTION")
    q = osub.add_parser("export", help="print (or write) the configured feeds as OPML 2.0")
    q.add_argument("-o", "--output", type=Path, metavar="FILE")
    add_config(q)
    q = osub.add_parser("import", help="add an OPML file's feeds to the config as generic outlets")
    q.add_argument("file", type=Path, help="the OPML file to read")
    add_config(q)


def parse_since(value: str | None, now_ms: int | None = None) -> int | None:
    """Epoch ms from a UTC date/datetime ('2025-02-15', '2025-02-15T08:00') or a duration ago ('2d')."""
    if value is None:
        return None
    value = value.strip()
    if _DATE.match(value):
        when = datetime.fromisoformat(value.replace(" ", "T"))
        return int(when.replace(tzinfo=UTC).timestamp() * 1000)
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise _usage(
            f"--since {value!r}: use a date (2025-02-15) or a duration (30m, 6h, 2d)"
        ) from None
    now = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
    return now - int(seconds * 1000)


def _index(config: Config) -> WebIndex:
    from web.index import IndexKeeper
    from web.queries import StateReader, StateUnavailable

    try:
        StateReader.open(config.state_target).close()  # no index file beside a missing state
        return IndexKeeper(Path(config.state_db), interval=0, source=config.state_target).fresh()
    except StateUnavailable as exc:
        raise _usage(str(exc)) from None


def _check_filters(config: Config, outlet: str | None, rule: str | None) -> None:
    if outlet and outlet not in config.outlets:
        raise _usage(f"unknown outlet {outlet!r}; configured: {', '.join(sorted(config.outlets))}")
    if rule and rule not in {r.name for r in config.alerts.rules}:
        names = ", ".join(r.name for r in config.alerts.rules) or "none"
        raise _usage(f"no watch rule named {rule!r} (rules: {names})")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _story_json(row: StoryRow, rules: list[str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "outlet": row.outlet,
        "published": _when(row.ts),
        "ts": row.ts,
        "title": row.title,
        "url": row.url,
        "reposts": row.reposts,
        "outlets": row.outlets,
        "hosts": row.hosts,
        "rules": rules,
        "path": row.path,
        "summary": row.summary,
    }


def _print_rows(
    rows: list[StoryRow], rules: dict[int, list[str]], as_json: bool, summary: bool
) -> None:
    if as_json:
        print(
            json.dumps(
                [_story_json(r, rules.get(r.id, [])) for r in rows], ensure_ascii=False, indent=1
            )
        )
        return
    for r in rows:
        extra = f" [+{r.reposts} via {', '.join(r.hosts)}]" if r.reposts else ""
        tags = "".join(f" #{rule}" for rule in rules.get(r.id, []))
        print(f"{r.id:>7}  {_when(r.ts)}  {r.outlet:<12} {r.title}{extra}{tags}")
        if summary and r.summary:
            print(f"         {r.summary}")


def cmd_serve(args: argparse.Namespace) -> int:
    from waitress import create_server

    from web.app import create_app

    app = create_app(args.loaded_config)
    _build_index(app.extensions["feedwatch.index"])
    try:
        server = create_server(app, host=args.host, port=args.port, threads=4, ident="feedwatch")
    except OSError as exc:
        raise _usage(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc})") from None
    print(
        f"feedwatch: serving http://{args.host}:{args.port}/ (read-only; Ctrl-C stops)",
        file=sys.stderr,
    )
    try:
        server.run()
    finally:
        server.close()
    return 0


def _build_index(keeper: Any) -> None:
    """Bring the web index up to date before serving, so no first request waits for it."""
    from web.queries import StateUnavailable

    started = time.monotonic()
    try:
        report = keeper.index.refresh_from(keeper.state_db)
    except StateUnavailable as exc:
        print(f"feedwatch: {exc}; serving anyway", file=sys.stderr)
        return
    if report.items:
        print(
            f"feedwatch: indexed {report.stories} new stories ({report.items} items)"
            f" in {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )


def start_background_server(config: Config, host: str, port: int) -> tuple[threading.Thread, Any]:
    """Serve the web app from a daemon thread (for `feedwatch run --serve`); returns the server too."""
    from waitress import create_server

    from web.app import create_app

    try:
        server = create_server(
            create_app(config), host=host, port=port, threads=4, ident="feedwatch"
        )
    except OSError as exc:
        raise _usage(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    thread = threading.Thread(target=server.run, name="feedwatch-web", daemon=True)
    thread.start()
    logger.warning("serving the web app on http://%s:%s/", host, port)
    return thread, server


def _filtered_stories(config: Config, args: argparse.Namespace) -> tuple[WebIndex, list[StoryRow]]:
    """The web index and the stories that `--outlet`, `--rule`, `--since`, `--limit` select."""
    _check_filters(config, args.outlet, args.rule)
    index = _index(config)
    rows = index.stories(
        outlet=args.outlet,
        rule=args.rule,
        since_ms=parse_since(args.since),
        limit=max(1, args.limit),
    )
    return index, rows


def cmd_stories(args: argparse.Namespace) -> int:
    config: Config = args.loaded_config
    index, rows = _filtered_stories(config, args)
    _print_rows(rows, index.rules_of([r.id for r in rows]), args.json, summary=False)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from web.searchtext import match_expression

    query = " ".join(args.terms)
    if match_expression(query) is None:
        raise _usage(f"{query!r} has no word or character to search for")
    index = _index(args.loaded_config)
    rows = index.search(query, order=args.order, limit=max(1, args.limit))
    _print_rows(rows, index.rules_of([r.id for r in rows]), args.json, summary=True)
    if not rows and not args.json:
        print(f"no story holds every term of {query!r}", file=sys.stderr)
        return 1
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from store.format import ItemFormatError
    from store.imports import read_item_file
    from store.urls import canonical_url
    from web.story import load_story

    config: Config = args.loaded_config
    what: str = args.what
    index = _index(config)
    row = None
    if what.isdigit():
        row = index.story(int(what))
        if row is None:
            raise _usage(f"no story {what}")
    elif what.startswith(("http://", "https://")):
        from web.queries import StateReader

        reader = StateReader.open(config.state_target)
        try:
            story_id = reader.story_of_url(canonical_url(what)) or reader.story_of_url(what)
        finally:
            reader.close()
        row = index.story(story_id) if story_id is not None else None
        if row is None:
            raise _usage(f"no stored story has the URL {what}")
    else:
        path = Path(what)
        if not path.is_file():
            raise _usage(f"{what}: not a story id, an http(s) URL or an item file")
        row = index.story_by_path(path)
        if row is None:  # a file outside the archive: show it as it is
            try:
                item = read_item_file(path)
            except (OSError, ItemFormatError) as exc:
                raise _usage(f"{path}: {exc}") from None
            from dedup.text import html_to_text

            print(f"{item.title}\n{_when(item.ts)} UTC  {item.url}\n")
            print(
                "\n".join(
                    line.strip() for line in html_to_text(item.body).splitlines() if line.strip()
                )
            )
            return 0
    from web.queries import StateReader

    reader = StateReader.open(config.state_target)
    try:
        view = load_story(row, reader, config.dedup)
    finally:
        reader.close()
    story = view.story
    print(story.title)
    print(f"{story.outlet}  {_when(story.ts)} UTC  {story.url}")
    if view.rules:
        print("rules: " + ", ".join(m.rule for m in view.rules))
    if view.error:
        print(f"(the archive file cannot be read: {view.error})")
    print()
    print(view.body_text)
    others = [i for i in view.items if i.url != story.url]
    if others:
        print(f"\nalso carried by {len(others)}:")
        for other in others:
            print(f"  {other.outlet}  {_when(other.first_seen_ms)}  {other.url}")
    if story.path:
        print(f"\nfile: {story.path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from web.feeds import FeedMeta, atom_feed, build_entries, json_feed
    from web.queries import StateReader

    config: Config = args.loaded_config
    index, rows = _filtered_stories(config, args)
    base = args.base_url.rstrip("/")
    fmt = "atom" if args.atom else "json"
    if args.outlet:
        key, title, path = (
            f"outlet:{args.outlet}",
            f"feedwatch: {args.outlet}",
            f"/feeds/outlet/{args.outlet}.{fmt}",
        )
        home = f"{base}/?outlet={args.outlet}"
    elif args.rule:
        key, title, path = (
            f"rule:{args.rule}",
            f"feedwatch: rule {args.rule}",
            f"/feeds/rule/{args.rule}.{fmt}",
        )
        home = f"{base}/?rule={args.rule}"
    else:
        key, title, path, home = "all", "feedwatch: all stories", f"/feeds/all.{fmt}", f"{base}/"
    reader = StateReader.open(config.state_target)
    try:
        entries = build_entries(rows, reader, index.rules_of([r.id for r in rows]))
    finally:
        reader.close()
    meta = FeedMeta(key, title, base + path, home, entries)
    body = atom_feed(meta) if args.atom else json_feed(meta)
    if args.output:
        from store.archive import atomic_write_bytes

        atomic_write_bytes(args.output, body, overwrite=True)
        print(f"wrote {len(entries)} stories to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(body)
    return 0


def cmd_opml(args: argparse.Namespace) -> int:
    from web.opml import OpmlError, export_opml, import_opml

    if args.opml_command == "export":
        body = export_opml(args.loaded_config)
        if args.output:
            args.output.write_bytes(body)
        else:
            sys.stdout.buffer.write(body)
        return 0
    if not args.file.is_file():
        raise _usage(f"{args.file}: no such file")
    try:
        report = import_opml(args.config, args.file.read_bytes())
    except OpmlError as exc:
        raise _usage(f"{args.file}: {exc}") from None
    for line in report.skipped:
        print(line)
    for name, url in report.added:
        print(f"added outlet {name}: {url}")
    print(f"{len(report.added)} feed(s) added to {args.config}, {len(report.skipped)} skipped")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": cmd_serve,
    "stories": cmd_stories,
    "show": cmd_show,
    "search": cmd_search,
    "export": cmd_export,
    "opml": cmd_opml,
}
