"""Offline record and replay of HTTP traffic as WARC files (warcio), as Scrapy downloader middlewares.

`WarcRecordMiddleware` (setting `FEEDWATCH_RECORD=out.warc.gz`) writes every request and the
response it got into a gzipped WARC. `WarcReplayMiddleware` (setting `FEEDWATCH_REPLAY=in.warc.gz`)
answers every request from such a file, so no request reaches the network; a URL the file does not
hold gets a synthetic 404.

Bodies are stored RAW, exactly as the server sent them (still gzip-encoded when the server said
`Content-Encoding: gzip`; redirects stored as the 3xx they were). Both middlewares therefore sit on
the downloader side of every built-in middleware (`REPLAY_ORDER` 950, `RECORD_ORDER` 960: after
HttpCompressionMiddleware 590, RedirectMiddleware 600 and HttpCacheMiddleware 900), so that on
replay Scrapy decodes, redirects and retries recorded responses exactly as it did live.

Lookup of a request URL: the exact URL first, then `store.urls.serialize_url` and
`store.urls.canonical_url` forms (so `?maca=` tracking or http/https differences still match). A
URL recorded several times is served in recording order, its last capture repeating.
"""

from __future__ import annotations

import gzip
import io
import logging
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Headers, Request, Response
from scrapy.responsetypes import responsetypes
from w3lib.url import canonicalize_url, safe_url_string
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

try:  # the store's URL rules are the project's notion of "the same URL"
    from store.urls import canonical_url, serialize_url
except ImportError:  # pragma: no cover - only when feedwatch is used without the store package
    canonical_url = serialize_url = None  # type: ignore[assignment]

__all__ = [
    "RECORD_ORDER",
    "REPLAY_ORDER",
    "RecordedResponse",
    "ReplayError",
    "WarcIndex",
    "WarcRecordMiddleware",
    "WarcReplayMiddleware",
    "load_index",
    "open_replay",
    "lookup_keys",
]

logger = logging.getLogger(__name__)

REPLAY_ORDER = 950
RECORD_ORDER = 960
WARC_SUFFIXES = (".warc.gz", ".warc")
# Transport framing that no longer describes the stored body (Twisted has already de-chunked it).
_HOP_BY_HOP = {b"transfer-encoding", b"connection", b"keep-alive"}
# Schemes that never touch the network: left to Scrapy's own handlers.
_LOCAL_SCHEMES = {"data", "file"}


class ReplayError(ValueError):
    """A WARC file that cannot be replayed or recorded into, phrased as one line for the user."""


@dataclass(frozen=True)
class RecordedResponse:
    """One response record of a WARC: status, headers and the raw body as sent."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    protocol: str = "HTTP/1.1"


@dataclass
class _Capture:
    offset: int
    length: int


def _loose_keys(url: str) -> list[str]:
    """Looser forms of `url` under which a capture is also found, most specific first."""
    keys: list[str] = []
    makers: list[Callable[[str], str] | None] = [serialize_url, canonical_url, _fallback_key]
    for make in makers:
        if make is None:
            continue
        try:
            key = make(url)
        except Exception:  # noqa: BLE001 - a bad URL only loses its loose keys
            continue
        if key and key not in keys:
            keys.append(key)
    return keys


def _fallback_key(url: str) -> str:
    """w3lib canonical form (sorted query, no fragment): the last resort for odd URLs."""
    return "w3lib:" + canonicalize_url(url)


def lookup_keys(url: str) -> list[str]:
    """Every key `url` is looked up under, exact URL first."""
    exact = safe_url_string(url)
    return [exact] + [k for k in _loose_keys(url) if k != exact]


@dataclass
class WarcIndex:
    """Response records of one WARC file by URL; bodies stay on disk until served."""

    path: Path
    captures: dict[str, list[_Capture]] = field(default_factory=dict)
    loose: dict[str, str] = field(default_factory=dict)
    cursors: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(c) for c in self.captures.values())

    def urls(self) -> list[str]:
        """The recorded URLs, in recording order."""
        return list(self.captures)

    def add(self, url: str, capture: _Capture) -> None:
        """Index one response record (later captures of a URL queue after earlier ones)."""
        exact = safe_url_string(url)
        self.captures.setdefault(exact, []).append(capture)
        for key in _loose_keys(url):
            # First capture wins a loose key: an exact URL is never shadowed by a lookalike.
            self.loose.setdefault(key, exact)

    def find(self, url: str) -> str | None:
        """The recorded URL that answers `url`, or None."""
        for i, key in enumerate(lookup_keys(url)):
            if i == 0 and key in self.captures:
                return key
            if key in self.loose:
                return self.loose[key]
        return None

    def lookup(self, url: str) -> RecordedResponse | None:
        """The next recorded response for `url` (recording order, last one repeats), or None."""
        recorded = self.find(url)
        if recorded is None:
            return None
        captures = self.captures[recorded]
        n = self.cursors.get(recorded, 0)
        self.cursors[recorded] = n + 1
        capture = captures[min(n, len(captures) - 1)]
        return self._read(capture)

    def _read(self, capture: _Capture) -> RecordedResponse:
        with self.path.open("rb") as fh:
            fh.seek(capture.offset)
            data = fh.read(capture.length)
        record = next(iter(ArchiveIterator(io.BytesIO(data))))
        return _to_recorded(record)


def _to_recorded(record: Any) -> RecordedResponse:
    http = record.http_headers
    return RecordedResponse(
        url=record.rec_headers.get_header("WARC-Target-URI"),
        status=int(http.get_statuscode() or 0),
        headers=list(http.headers),
        body=record.raw_stream.read(),
        protocol=http.protocol or "HTTP/1.1",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_path(path: str | Path) -> Path:
    """`path` as a Path when it names an existing .warc(.gz) file; else ReplayError."""
    path = Path(path)
    if not path.name.endswith(WARC_SUFFIXES):
        raise ReplayError(f"replay file {path}: expected a .warc.gz file")
    if not path.is_file():
        raise ReplayError(f"replay file {path}: no such file")
    return path


def _check_gzip_stream(path: Path) -> None:
    """Decompress a gzipped WARC once end to end: warcio reads a cut-off gzip member silently."""
    with path.open("rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            return
    try:
        with gzip.open(path, "rb") as gz:
            while gz.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise ReplayError(f"replay file {path} is not a readable WARC: {_first_line(exc)}") from exc


def load_index(path: str | Path) -> WarcIndex:
    """Read and check every record of a WARC file; raise ReplayError with one line if it is bad."""
    path = _check_path(path)
    _check_gzip_stream(path)
    index = WarcIndex(path)
    records = 0
    try:
        with path.open("rb") as fh:
            it = ArchiveIterator(fh, check_digests="raise")
            for record in it:
                records += 1
                if record.format != "warc":  # warcio reads any text line as a (bogus) ARC header
                    raise ReplayError(f"replay file {path} is not a readable WARC: no WARC header")
                url = record.rec_headers.get_header("WARC-Target-URI")
                record.raw_stream.read()  # the whole block: gzip CRCs and WARC digests get checked
                if getattr(record.raw_stream, "limit", 0) > 0:
                    raise ReplayError(f"replay file {path} is truncated (record for {url})")
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                if not record.http_headers.get_statuscode():
                    raise ReplayError(f"replay file {path}: record for {url} has no HTTP status")
                index.add(url, _Capture(it.get_record_offset(), it.get_record_length()))
    except ReplayError:
        raise
    except Exception as exc:  # noqa: BLE001 - warcio raises many kinds on bad input
        raise ReplayError(f"replay file {path} is not a readable WARC: {_first_line(exc)}") from exc
    if not records and path.stat().st_size:
        raise ReplayError(f"replay file {path} is not a readable WARC: no WARC record found")
    if not index.captures:
        raise ReplayError(f"replay file {path} holds no HTTP response records")
    return index


# One index per file and process: every crawler of a multi-outlet run shares it.
_INDEXES: dict[tuple[str, int, int], WarcIndex] = {}


def open_replay(path: str | Path) -> WarcIndex:
    """The checked index of a replay file, loaded once per process; raises ReplayError.

    The CLI calls this before starting a crawl so a bad file gives one line, not a traceback.
    """
    path = _check_path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise ReplayError(f"replay file {path}: {exc.strerror or exc}") from exc
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _INDEXES:
        _INDEXES[key] = load_index(path)
    return _INDEXES[key]


class WarcReplayMiddleware:
    """Serve every request from a recorded WARC (`FEEDWATCH_REPLAY`); misses become 404s."""

    def __init__(self, index: WarcIndex, stats: Any, maxsize: int = 0) -> None:
        self.index = index
        self.stats = stats
        self.maxsize = maxsize
        self.misses: list[str] = []

    @classmethod
    def from_crawler(cls, crawler: Any) -> WarcReplayMiddleware:
        """Load the WARC named by FEEDWATCH_REPLAY; NotConfigured when the setting is empty."""
        value = crawler.settings.get("FEEDWATCH_REPLAY")
        if not value:
            raise NotConfigured  # no message: Scrapy would log a warning on every normal crawl
        index = open_replay(Path(value))
        logger.info("replaying %d responses from %s", len(index), value)
        mw = cls(index, crawler.stats, crawler.settings.getint("DOWNLOAD_MAXSIZE"))
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    def spider_closed(self) -> None:
        """Sum the misses up in one warning (each one is an INFO line)."""
        if self.misses:
            logger.warning(
                "%d request(s) not in the replay snapshot were answered 404, first: %s",
                len(self.misses),
                self.misses[0],
            )

    def process_request(self, request: Request) -> Response | None:
        """Answer `request` from the WARC, or with a synthetic 404 when it is not recorded."""
        if urlsplit(request.url).scheme in _LOCAL_SCHEMES:
            return None
        recorded = self.index.lookup(request.url)
        if recorded is None:
            self.stats.inc_value("replay/miss")
            self.misses.append(request.url)
            # DEBUG: the spider says it in its own line ("not in the replay snapshot").
            logger.debug("not in replay snapshot: %s", request.url)
            headers = Headers({"Content-Type": "text/plain; charset=utf-8"})
            body = b"not in replay snapshot\n"
            misscls = responsetypes.from_args(headers=headers, url=request.url, body=body)
            return misscls(
                url=request.url,
                status=404,
                headers=headers,
                body=body,
                request=request,
                flags=["replay", "replay-miss"],
            )
        maxsize = request.meta.get("download_maxsize", self.maxsize)
        if maxsize and len(recorded.body) > maxsize:
            # The live download handler would cancel this download; do the same.
            raise IgnoreRequest(
                f"replayed body of {request.url} ({len(recorded.body)} B) exceeds DOWNLOAD_MAXSIZE"
            )
        self.stats.inc_value("replay/hit")
        headers = Headers(recorded.headers)
        respcls = responsetypes.from_args(headers=headers, url=request.url, body=recorded.body)
        return respcls(
            url=request.url,
            status=recorded.status,
            headers=headers,
            body=recorded.body,
            request=request,
            flags=["replay"],
            protocol=recorded.protocol,
        )


@dataclass
class _SharedWriter:
    fh: BinaryIO
    writer: WARCWriter
    users: int = 0


# One writer per file and process; a file is truncated on its first use in a process only.
_WRITERS: dict[str, _SharedWriter] = {}
_STARTED: set[str] = set()


def _acquire_writer(path: Path) -> _SharedWriter:
    key = str(path.resolve())
    shared = _WRITERS.get(key)
    if shared is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = path.open("ab" if key in _STARTED else "wb")
        except OSError as exc:
            raise ReplayError(f"record file {path}: {exc.strerror or exc}") from exc
        writer = WARCWriter(fh, gzip=True)
        if key not in _STARTED:
            info = {"software": "feedwatch (scrapy + warcio)", "format": "WARC File Format 1.0"}
            writer.write_record(writer.create_warcinfo_record(path.name, info))
        _STARTED.add(key)
        shared = _WRITERS[key] = _SharedWriter(fh, writer)
    shared.users += 1
    return shared


def _release_writer(path: Path) -> None:
    key = str(path.resolve())
    shared = _WRITERS.get(key)
    if shared is None:
        return
    shared.users -= 1
    if shared.users <= 0:
        shared.fh.close()
        del _WRITERS[key]


def _header_pairs(headers: Headers, drop: Iterable[bytes] = ()) -> list[tuple[str, str]]:
    """Scrapy headers as (name, value) text pairs, one per value; latin-1 keeps bytes intact."""
    skip = {d.lower() for d in drop}
    pairs = []
    for name, values in headers.items():
        if name.lower() in skip:
            continue
        for value in values:
            pairs.append((name.decode("latin-1"), value.decode("latin-1")))
    return pairs


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


class WarcRecordMiddleware:
    """Write every request and its raw response into a gzipped WARC (`FEEDWATCH_RECORD`)."""

    def __init__(self, path: Path, stats: Any) -> None:
        self.path = path
        self.stats = stats
        self.shared: _SharedWriter | None = _acquire_writer(path)

    @classmethod
    def from_crawler(cls, crawler: Any) -> WarcRecordMiddleware:
        """Open the WARC named by FEEDWATCH_RECORD; NotConfigured when the setting is empty."""
        value = crawler.settings.get("FEEDWATCH_RECORD")
        if not value:
            raise NotConfigured  # no message: Scrapy would log a warning on every normal crawl
        path = Path(value)
        if not path.name.endswith(WARC_SUFFIXES):
            raise ReplayError(f"record file {path}: expected a name ending in .warc.gz")
        mw = cls(path, crawler.stats)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        logger.info("recording responses into %s", path)
        return mw

    def process_response(self, request: Request, response: Response) -> Response:
        """Append the request and the response as WARC records; the response goes on unchanged."""
        if self.shared is None or "replay-miss" in response.flags:
            return response  # a synthetic miss is not something the server said
        writer = self.shared.writer
        http = StatusAndHeaders(
            _status_line(response.status),
            _header_pairs(response.headers, drop=_HOP_BY_HOP),
            protocol=response.protocol or "HTTP/1.1",
        )
        record = writer.create_warc_record(
            response.url,
            "response",
            payload=io.BytesIO(response.body),
            length=len(response.body),
            http_headers=http,
        )
        writer.write_record(record)
        resp_id = record.rec_headers.get_header("WARC-Record-ID")
        warc_date = record.rec_headers.get_header("WARC-Date")
        writer.write_record(self._request_record(writer, request, resp_id, warc_date))
        self.shared.fh.flush()  # a crash keeps every record written so far
        self.stats.inc_value("record/responses")
        return response

    @staticmethod
    def _request_record(writer: WARCWriter, request: Request, resp_id: str, date: str) -> Any:
        parts = urlsplit(request.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        pairs = _header_pairs(request.headers)
        if not any(name.lower() == "host" for name, _ in pairs):
            pairs.insert(0, ("Host", parts.netloc))
        http = StatusAndHeaders(
            f"{request.method} {target} HTTP/1.1", pairs, protocol="", is_http_request=True
        )
        return writer.create_warc_record(
            request.url,
            "request",
            payload=io.BytesIO(request.body),
            length=len(request.body),
            http_headers=http,
            warc_headers_dict={"WARC-Concurrent-To": resp_id, "WARC-Date": date},
        )

    def spider_closed(self) -> None:
        """Close the WARC once the last crawler using it is done."""
        if self.shared is not None:
            self.shared = None
            _release_writer(self.path)
