"""The web index: a SQLite file beside the state database, owned by the web package.

The state database keeps no texts and no per-story summary (one `items` row per URL that
carried a story), so listing the newest stories there is a scan and sort of every row, and
searching is impossible. This file holds what reading needs, derived and rebuildable:

  stories(id = story id, outlet, ts, day, title, url, path, reposts, outlets, hosts, ...)
  story_outlets(outlet, ts, story_id)   every outlet that carried a story (original or repost)
  story_rules(rule, ts, story_id)       the watch rules a story matched
  docs                                  FTS5 (unicode61) over folded, CJK-spaced title and text;
                                        its rowid is the story's `doc` key, time-ordered
  meta(name, value)                     watermarks of the state tables already read

`refresh()` reads only what is new since the last call (items, dedup rows and rule matches
above their watermarks) and the archive files of new or changed stories, so keeping it current
costs a few small queries. It is the only writer of this file; deleting the file rebuilds it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from dedup.text import html_to_text
from store.format import ItemFormatError
from store.imports import read_item_file
from web.queries import ItemRow, StateReader
from web.searchtext import index_text, match_expression

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
# Search ranks by relevance among this many newest matches: bm25 over every match of a common
# character (国 is in nearly every story) would cost a full pass at 100,000 stories.
RELEVANCE_WINDOW = 1000
SUMMARY_CHARS = 160

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stories (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL,
    outlet TEXT NOT NULL,
    ts INTEGER NOT NULL,
    day TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    canonical_url TEXT NOT NULL,
    path TEXT,
    reposts INTEGER NOT NULL DEFAULT 0,
    outlets TEXT NOT NULL,
    hosts TEXT NOT NULL,
    file_mtime_ns INTEGER,
    summary TEXT NOT NULL DEFAULT '',
    doc INTEGER NOT NULL UNIQUE  -- rowid in docs: ts * 1024 + id % 1024, so rowid order is time order
);
CREATE INDEX IF NOT EXISTS stories_time ON stories (ts, id);
CREATE INDEX IF NOT EXISTS stories_day ON stories (day, ts, id);
CREATE TABLE IF NOT EXISTS story_outlets (
    outlet TEXT NOT NULL, ts INTEGER NOT NULL, story_id INTEGER NOT NULL,
    PRIMARY KEY (outlet, story_id));
CREATE INDEX IF NOT EXISTS story_outlets_time ON story_outlets (outlet, ts, story_id);
CREATE TABLE IF NOT EXISTS story_rules (
    rule TEXT NOT NULL, ts INTEGER NOT NULL, story_id INTEGER NOT NULL,
    PRIMARY KEY (rule, story_id));
CREATE INDEX IF NOT EXISTS story_rules_time ON story_rules (rule, ts, story_id);
CREATE INDEX IF NOT EXISTS story_rules_story ON story_rules (story_id);
CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5 (
    title, body, tokenize = 'unicode61 remove_diacritics 2');
"""

_STORY_COLUMNS = (
    "id, outlet, ts, first_seen_ms, updated_ms, title, url, canonical_url, path, reposts,"
    " outlets, hosts, summary"
)


def index_path_for(state_db: Path) -> Path:
    """Where the web index of a state database lives: beside it, `<name>.web.sqlite3`."""
    return state_db.with_name(state_db.stem + ".web.sqlite3")


@dataclass(frozen=True)
class StoryRow:
    """A story as the list, feeds and search show it."""

    id: int
    outlet: str
    ts: int
    first_seen_ms: int
    updated_ms: int  # when the last item joined it
    title: str
    url: str
    canonical_url: str
    path: str | None
    reposts: int
    outlets: list[str]  # every outlet that carried it, the story's own first
    hosts: list[str]  # every host its URLs were on (mirrors show here)
    summary: str

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> StoryRow:
        return cls(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            row[9],
            row[10].split(),
            row[11].split(),
            row[12],
        )

    @property
    def cursor(self) -> str:
        """The paging key of the next page after this story."""
        return f"{self.ts}.{self.id}"


@dataclass
class RefreshReport:
    """What one refresh() read."""

    items: int = 0
    stories: int = 0
    reindexed: int = 0
    rules: int = 0
    rebuilt: bool = False


SearchOrder = Literal["time", "relevance"]


def parse_cursor(value: str | None) -> tuple[int, int] | None:
    """The (ts, story id) of a paging cursor, or None when absent or malformed."""
    if not value:
        return None
    ts, _, sid = value.partition(".")
    if not (ts.lstrip("-").isdigit() and sid.isdigit()):
        return None
    return int(ts), int(sid)


class WebIndex:
    """The web index file: refreshed from the state and archive, queried by pages and commands."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    @contextmanager
    def _write(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _meta(self, name: str, default: str = "") -> str:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else default

    def _set_meta(self, name: str, value: object) -> None:
        self.conn.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, str(value)),
        )

    # -- refresh ---------------------------------------------------------------------------

    def refresh(self, state: StateReader, batch: int = 2000) -> RefreshReport:
        """Bring the index up to date with the state database and the archive files."""
        report = RefreshReport()
        with self._write():
            identity = repr(state.first_item())
            if self._meta("state") != identity or self._meta("schema") != str(SCHEMA_VERSION):
                # Another state database (a fresh demo, a restored backup): start over.
                report.rebuilt = self._meta("state") != ""
                for table in ("stories", "story_outlets", "story_rules", "docs", "meta"):
                    self.conn.execute(f"DELETE FROM {table}")
                self._set_meta("state", identity)
                self._set_meta("schema", SCHEMA_VERSION)
            last = int(self._meta("items", "0"))
            while rows := state.items_after(last, batch):
                for row in rows:
                    report.stories += self._add_item(row)
                last = rows[-1].id
                report.items += len(rows)
            self._set_meta("items", last)
            last_dedup, touched = state.dedup_rows_after(int(self._meta("dedup", "0")))
            self._set_meta("dedup", last_dedup)
            for story_id in touched:
                report.reindexed += self._reindex_if_changed(story_id)
            last_match = int(self._meta("matches", "0"))
            for match_id, rule, story_id in state.matches_after(last_match):
                report.rules += self._add_rule(rule, story_id)
                last_match = match_id
            self._set_meta("matches", last_match)
        return report

    def _add_item(self, row: ItemRow) -> int:
        host = _host(row.url)
        known = self.conn.execute(
            "SELECT outlets, hosts, updated_ms FROM stories WHERE id = ?", (row.story_id,)
        ).fetchone()
        if known is not None:
            outlets, hosts = known[0].split(), known[1].split()
            self.conn.execute(
                "UPDATE stories SET reposts = reposts + 1, outlets = ?, hosts = ?, updated_ms = ?"
                " WHERE id = ?",
                (
                    " ".join(_added(outlets, row.outlet)),
                    " ".join(_added(hosts, host)),
                    max(known[2], row.first_seen_ms),
                    row.story_id,
                ),
            )
            ts = self.conn.execute(
                "SELECT ts FROM stories WHERE id = ?", (row.story_id,)
            ).fetchone()[0]
            self.conn.execute(
                "INSERT OR IGNORE INTO story_outlets (outlet, ts, story_id) VALUES (?, ?, ?)",
                (row.outlet, ts, row.story_id),
            )
            return 0
        title, text, mtime = _read_story(row)
        doc = row.ts * 1024 + row.story_id % 1024
        while self.conn.execute("SELECT 1 FROM stories WHERE doc = ?", (doc,)).fetchone():
            doc += 1  # the same millisecond and id remainder: take the next free key
        self.conn.execute(
            f"INSERT INTO stories (doc, item_id, day, file_mtime_ns, {_STORY_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc,
                row.id,
                _day(row.ts),
                mtime,
                row.story_id,
                row.outlet,
                row.ts,
                row.first_seen_ms,
                row.first_seen_ms,
                title,
                row.url,
                row.canonical_url,
                row.path,
                0,
                row.outlet,
                host,
                _summary(text),
            ),
        )
        self.conn.execute(
            "INSERT OR IGNORE INTO story_outlets (outlet, ts, story_id) VALUES (?, ?, ?)",
            (row.outlet, row.ts, row.story_id),
        )
        self.conn.execute(
            "INSERT INTO docs (rowid, title, body) VALUES (?, ?, ?)",
            (doc, index_text(title), index_text(text)),
        )
        return 1

    def _reindex_if_changed(self, story_id: int) -> int:
        """Index a story's text again when its archive file changed (a richer body arrived)."""
        row = self.conn.execute(
            "SELECT path, file_mtime_ns, title, doc FROM stories WHERE id = ?", (story_id,)
        ).fetchone()
        if row is None or not row[0]:
            return 0
        mtime = _mtime(row[0])
        if mtime is None or mtime == row[1]:
            return 0
        try:
            text = html_to_text(read_item_file(row[0]).body)
        except (OSError, ItemFormatError) as exc:
            logger.warning(
                "web index: cannot read %s (%s); its old text stays indexed", row[0], exc
            )
            return 0
        self.conn.execute(
            "UPDATE stories SET file_mtime_ns = ?, summary = ? WHERE id = ?",
            (mtime, _summary(text), story_id),
        )
        self.conn.execute("DELETE FROM docs WHERE rowid = ?", (row[3],))
        self.conn.execute(
            "INSERT INTO docs (rowid, title, body) VALUES (?, ?, ?)",
            (row[3], index_text(row[2]), index_text(text)),
        )
        return 1

    def _add_rule(self, rule: str, story_id: int) -> int:
        row = self.conn.execute("SELECT ts FROM stories WHERE id = ?", (story_id,)).fetchone()
        if row is None:
            return 0
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO story_rules (rule, ts, story_id) VALUES (?, ?, ?)",
            (rule, row[0], story_id),
        )
        return cur.rowcount

    def refresh_from(self, state_db: str | Path) -> RefreshReport:
        """refresh() from the state database at `state_db` (opened read-only for the call)."""
        reader = StateReader.open(state_db)
        try:
            return self.refresh(reader)
        finally:
            reader.close()

    # -- queries ---------------------------------------------------------------------------

    def stories(
        self,
        *,
        outlet: str | None = None,
        day: str | None = None,
        rule: str | None = None,
        since_ms: int | None = None,
        before: tuple[int, int] | None = None,
        limit: int = 50,
    ) -> list[StoryRow]:
        """Newest stories first, filtered, one page after the `before` cursor (keyset paging).

        Each filter walks its own (key, ts, id) index backwards, so a page costs the same at
        the 1st and the 2,000th page.
        """
        where: list[str] = []
        params: list[Any] = []
        if outlet:
            source = "story_outlets f JOIN stories s ON s.id = f.story_id"
            where.append("f.outlet = ?")
            params.append(outlet)
            order_ts, order_id = "f.ts", "f.story_id"
        elif rule:
            source = "story_rules f JOIN stories s ON s.id = f.story_id"
            where.append("f.rule = ?")
            params.append(rule)
            order_ts, order_id = "f.ts", "f.story_id"
            rule = None
        else:
            source = "stories s"
            order_ts, order_id = "s.ts", "s.id"
        if rule:
            where.append("s.id IN (SELECT story_id FROM story_rules WHERE rule = ?)")
            params.append(rule)
        if day:
            where.append("s.day = ?")
            params.append(day)
        if since_ms is not None:
            where.append(f"{order_ts} >= ?")
            params.append(since_ms)
        if before is not None:
            where.append(f"({order_ts}, {order_id}) < (?, ?)")
            params.extend(before)
        sql = f"SELECT {_cols('s')} FROM {source}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order_ts} DESC, {order_id} DESC LIMIT ?"
        params.append(limit)
        return [StoryRow.from_row(r) for r in self.conn.execute(sql, params)]

    def story(self, story_id: int) -> StoryRow | None:
        """One story, or None."""
        row = self.conn.execute(
            f"SELECT {_STORY_COLUMNS} FROM stories WHERE id = ?", (story_id,)
        ).fetchone()
        return StoryRow.from_row(row) if row else None

    def story_by_path(self, path: Path) -> StoryRow | None:
        """The story stored in an archive file."""
        row = self.conn.execute(
            f"SELECT {_STORY_COLUMNS} FROM stories WHERE path = ?", (str(path.resolve()),)
        ).fetchone()
        return StoryRow.from_row(row) if row else None

    def rules_of(self, story_ids: list[int]) -> dict[int, list[str]]:
        """The watch rules each story matched."""
        out: dict[int, list[str]] = {}
        if not story_ids:
            return out
        marks = ",".join("?" * len(story_ids))
        for rule, sid in self.conn.execute(
            f"SELECT rule, story_id FROM story_rules WHERE story_id IN ({marks}) ORDER BY rule",
            story_ids,
        ):
            out.setdefault(sid, []).append(rule)
        return out

    def outlets(self) -> list[str]:
        """Outlets with stories in the index."""
        return [
            r[0] for r in self.conn.execute("SELECT DISTINCT outlet FROM story_outlets ORDER BY 1")
        ]

    def rules(self) -> list[str]:
        """Rules that matched at least one story."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT rule FROM story_rules ORDER BY 1")]

    def count(self) -> int:
        """How many stories are indexed."""
        return int(self.conn.execute("SELECT COUNT(*) FROM stories").fetchone()[0])

    def search(
        self, query: str, *, order: SearchOrder = "time", limit: int = 50, offset: int = 0
    ) -> list[StoryRow]:
        """Stories whose title or text hold every term of `query` (either script).

        Newest first walks the full-text index backwards in rowid (= time) order and stops after
        one page, however many stories match; by relevance, bm25 ranks the RELEVANCE_WINDOW
        newest matches.
        """
        expression = match_expression(query)
        if expression is None:
            return []
        if order == "relevance":
            sql = (
                f"SELECT {_cols('s')} FROM (SELECT rowid, rank FROM docs WHERE docs MATCH ?"
                " ORDER BY rowid DESC LIMIT ?) d JOIN stories s ON s.doc = d.rowid"
                " ORDER BY d.rank, s.doc DESC LIMIT ? OFFSET ?"
            )
            params: tuple[Any, ...] = (expression, RELEVANCE_WINDOW, limit, offset)
        else:
            sql = (
                f"SELECT {_cols('s')} FROM (SELECT rowid FROM docs WHERE docs MATCH ?"
                " ORDER BY rowid DESC LIMIT ? OFFSET ?) d JOIN stories s ON s.doc = d.rowid"
                " ORDER BY s.doc DESC"
            )
            params = (expression, limit, offset)
        return [StoryRow.from_row(r) for r in self.conn.execute(sql, params)]

    def scan_search(self, query: str, limit: int = 50) -> list[int]:
        """The same search as a plain scan (LIKE over every stored text): the benchmark's baseline."""
        from web.searchtext import query_terms

        terms = query_terms(query)
        if not terms:
            return []
        where = " AND ".join("(d.title LIKE ? OR d.body LIKE ?)" for _ in terms)
        params: list[Any] = []
        for term in terms:
            params += [f"%{term}%", f"%{term}%"]
        sql = (
            f"SELECT s.id FROM docs d JOIN stories s ON s.doc = d.rowid WHERE {where}"
            " ORDER BY s.ts DESC, s.id DESC LIMIT ?"
        )
        return [r[0] for r in self.conn.execute(sql, [*params, limit])]


class IndexKeeper:
    """Opens the state read-only and keeps the web index fresh, at most once per `interval`."""

    def __init__(
        self, state_db: Path, interval: float = 2.0, source: str | Path | None = None
    ) -> None:
        # The index is a SQLite file beside `state_db` (on PostgreSQL: this machine's
        # `cluster.local_state_db`); `source` is the state it is built from, when not that file.
        self.state_db: str | Path = source if source is not None else state_db
        self.index = WebIndex(index_path_for(state_db))
        self.interval = interval
        self._last = 0.0

    def state(self) -> StateReader:
        """A new read-only reader of the state (the caller closes it)."""
        return StateReader.open(self.state_db)

    def fresh(self) -> WebIndex:
        """The index, refreshed first when the last refresh is older than `interval`."""
        now = time.monotonic()
        if now - self._last >= self.interval:
            report = self.index.refresh_from(self.state_db)
            self._last = time.monotonic()
            if report.items:
                logger.info(
                    "web index: %d new item(s), %d new stories", report.items, report.stories
                )
        return self.index


def _cols(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in _STORY_COLUMNS.split(","))


def _read_story(row: ItemRow) -> tuple[str, str, int | None]:
    """Title, plain text and file mtime of a story's archive file (the items title on failure)."""
    if not row.path:
        return row.title, "", None
    try:
        item = read_item_file(row.path)
    except (OSError, ItemFormatError) as exc:
        logger.warning("web index: cannot read %s (%s); indexing its title only", row.path, exc)
        return row.title, "", None
    return item.title or row.title, html_to_text(item.body), _mtime(row.path)


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _summary(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUMMARY_CHARS else flat[:SUMMARY_CHARS].rstrip() + "…"


def _day(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d")


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "?").lower()


def _added(values: list[str], value: str) -> list[str]:
    return values if value in values else [*values, value]
