"""The read-only web app (Flask, Jinja templates, no JavaScript): stories, search, feeds, status.

Only GET and HEAD routes exist; the state database is opened read-only per request and the web
index (web/index.py) is refreshed at most every two seconds. Every response carries a strict
Content-Security-Policy (no script at all, styles from this origin only, no frames).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from flask import Flask, Response, abort, g, render_template, request, url_for

from conf.schema import Config
from web.feeds import DEFAULT_ENTRIES, FeedMeta, atom_feed, build_entries, etag_of, json_feed
from web.index import IndexKeeper, SearchOrder, WebIndex, parse_cursor
from web.queries import StateReader, StateUnavailable, iter_config_feeds
from web.render import safe_url
from web.story import load_story

PAGE_SIZE = 50
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none';"
        " form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FEED_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


def fmt_time(ms: int | None) -> str:
    """Epoch milliseconds as 'YYYY-MM-DD HH:MM' UTC ('-' for none)."""
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def create_app(config: Config, *, refresh_interval: float = 2.0) -> Flask:
    """The app for one configuration (its state database and archive)."""
    app = Flask(__name__)
    app.config["FEEDWATCH"] = config
    keeper = IndexKeeper(
        Path(config.state_db), interval=refresh_interval, source=config.state_target
    )
    app.extensions["feedwatch.index"] = keeper
    lock = threading.Lock()  # one index connection, used by one request thread at a time
    app.jinja_env.filters["when"] = fmt_time
    app.jinja_env.filters["readable_url"] = unquote  # percent-encoded paths shown as text
    app.jinja_env.filters["safe_url"] = safe_url  # only http(s) URLs become links
    app.jinja_env.globals["rule_names"] = [r.name for r in config.alerts.rules]

    @contextmanager
    def index() -> Iterator[WebIndex]:
        with lock:
            yield keeper.fresh()

    def state() -> StateReader:
        if "state" not in g:
            g.state = keeper.state()
        reader: StateReader = g.state
        return reader

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        reader = g.pop("state", None)
        if reader is not None:
            reader.close()

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(StateUnavailable)
    def _no_state(exc: StateUnavailable) -> tuple[str, int]:
        return render_template("error.html", message=str(exc)), 503

    @app.route("/")
    def stories() -> str:
        outlet = request.args.get("outlet") or None
        day = request.args.get("day") or None
        rule = request.args.get("rule") or None
        if day and not _DAY.match(day):
            abort(400, "day must be YYYY-MM-DD")
        before = parse_cursor(request.args.get("before"))
        with index() as ix:
            rows = ix.stories(outlet=outlet, day=day, rule=rule, before=before, limit=PAGE_SIZE + 1)
            rules = ix.rules_of([r.id for r in rows])
            total = ix.count()
            outlets = ix.outlets()
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        next_url = (
            url_for("stories", before=rows[-1].cursor, outlet=outlet, day=day, rule=rule)
            if more
            else None
        )
        return render_template(
            "stories.html",
            rows=rows,
            rules=rules,
            total=total,
            outlets=outlets,
            outlet=outlet,
            day=day,
            rule=rule,
            next_url=next_url,
            paged=before is not None,
        )

    @app.route("/story/<int:story_id>")
    def story(story_id: int) -> str:
        with index() as ix:
            row = ix.story(story_id)
        if row is None:
            abort(404, f"no story {story_id}")
        view = load_story(row, state(), config.dedup)
        return render_template("story.html", view=view)

    @app.route("/story/<int:story_id>/file")
    def story_file(story_id: int) -> Response:
        with index() as ix:
            row = ix.story(story_id)
        if row is None or not row.path:
            abort(404, f"no archive file for story {story_id}")
        path = Path(row.path).resolve()
        if not path.is_relative_to(Path(config.archive_dir).resolve()) or not path.is_file():
            abort(404, "the archive file is not in the archive folder")
        response = Response(path.read_bytes(), content_type="text/plain; charset=utf-8")
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return response

    @app.route("/search")
    def search() -> str:
        query = (request.args.get("q") or "").strip()[:200]
        order: SearchOrder = "relevance" if request.args.get("order") == "relevance" else "time"
        page = max(1, _int(request.args.get("page"), 1))
        results = []
        rules: dict[int, list[str]] = {}
        if query:
            with index() as ix:
                results = ix.search(
                    query, order=order, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
                )
                rules = ix.rules_of([r.id for r in results])
        more = len(results) > PAGE_SIZE
        return render_template(
            "search.html",
            query=query,
            order=order,
            rows=results[:PAGE_SIZE],
            rules=rules,
            page=page,
            more=more,
        )

    @app.route("/outlets")
    def outlets() -> str:
        reader = state()
        rows = [
            reader.outlet_status(name, o.title or name, o.enabled, list(iter_config_feeds(o)))
            for name, o in config.outlets.items()
        ]
        return render_template("outlets.html", rows=rows, now_ms=_now_ms())

    @app.route("/alerts")
    def alerts() -> str:
        return render_template("alerts.html", rows=state().recent_alerts(100))

    @app.route("/feeds/all.<fmt>")
    def feed_all(fmt: str) -> Response:
        return _feed(fmt, "all", "feedwatch: all stories")

    @app.route("/feeds/outlet/<name>.<fmt>")
    def feed_outlet(name: str, fmt: str) -> Response:
        if name not in config.outlets:
            abort(404, f"no outlet {name!r}")
        return _feed(
            fmt, f"outlet:{name}", f"feedwatch: {config.outlets[name].title or name}", outlet=name
        )

    @app.route("/feeds/rule/<name>.<fmt>")
    def feed_rule(name: str, fmt: str) -> Response:
        if name not in {r.name for r in config.alerts.rules}:
            abort(404, f"no watch rule {name!r}")
        return _feed(fmt, f"rule:{name}", f"feedwatch: rule {name}", rule=name)

    def _feed(fmt: str, key: str, title: str, **filters: Any) -> Response:
        if fmt not in _FEED_TYPES:
            abort(404, "feeds are .atom or .json")
        with index() as ix:
            rows = ix.stories(limit=DEFAULT_ENTRIES, **filters)
            rules = ix.rules_of([r.id for r in rows])
        meta = FeedMeta(
            key,
            title,
            request.url,
            url_for("stories", _external=True, **filters),
            build_entries(rows, state(), rules),
        )
        body = atom_feed(meta) if fmt == "atom" else json_feed(meta)
        response = Response(body, content_type=_FEED_TYPES[fmt])
        response.set_etag(etag_of(body))
        if meta.updated_ms:
            response.last_modified = datetime.fromtimestamp(meta.updated_ms / 1000, UTC)
        response.cache_control.no_cache = True  # readers revalidate: 304 when nothing changed
        response.make_conditional(request)  # 304 with no body when a validator matches
        return response

    return app


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
