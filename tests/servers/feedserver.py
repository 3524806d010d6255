"""A small threaded HTTP server on 127.0.0.1 for crawl tests: feeds, validators and faults.

    server = FeedServer({"/rss": (feed_bytes, "application/rss+xml")})
    base_url = server.start()          # "http://127.0.0.1:PORT"
    ...crawl base_url + "/rss"...
    server.requests["/rss"], server.bytes_sent["/rss"], server.statuses["/rss"]
    server.set_route("/rss", new_bytes)                        # the feed changes
    server.set_fault("/rss", status=429, retry_after=120)       # or stall=5.0, status=500
    server.set_fault("/rss")                                    # back to normal
    server.stop()

Every route gets a strong ETag (hash of its body) and a Last-Modified (when it was set);
`If-None-Match` / `If-Modified-Since` yield 304 as a real server would. Also a context manager:
`with FeedServer(routes) as server: ...` (start on enter, stop on exit), so a pytest fixture is
three lines. Counts are per path: `.requests` on arrival (a stalled request counts at once),
`.bytes_sent`, `.statuses` and `.log` (with each request's headers) once it is answered.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from servers.local import LocalServer


@dataclass
class _Route:
    body: bytes
    content_type: str
    etag: str
    last_modified: float


@dataclass
class _Fault:
    stall: float = 0.0  # seconds to wait before sending the status line
    status: int | None = None  # answer with this status instead of the route
    retry_after: str | None = None
    remaining: int | None = None  # None: until cleared; n: for the next n requests


@dataclass
class LoggedRequest:
    """One request the server received."""

    path: str
    status: int
    headers: dict[str, str]


class _CountingWriter:
    """Wraps the socket writer to count the bytes (headers + body) sent per request."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)  # closed, fileno... for socketserver's cleanup


class FeedServer(LocalServer):
    """Serve a dict of path -> (bytes, content type) with validators and switchable faults."""

    def __init__(self, routes: dict[str, tuple[bytes, str]] | None = None) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}
        self._faults: dict[str, _Fault] = {}
        super().__init__()
        self.requests: Counter[str] = Counter()
        self.bytes_sent: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()  # "path status" -> count, e.g. "/rss 304"
        self.log: list[LoggedRequest] = []
        for path, (body, content_type) in (routes or {}).items():
            self.set_route(path, body, content_type)

    # -- control -------------------------------------------------------------------------

    def handler_class(self) -> type[_Handler]:
        server = self

        class Handler(_Handler):
            feed_server = server

        return Handler

    def url(self, path: str) -> str:
        """The absolute URL of a path on this server."""
        return self.base_url + path

    def set_route(
        self, path: str, body: bytes, content_type: str = "application/rss+xml; charset=utf-8"
    ) -> None:
        """Serve `body` at `path`; a changed body gets a new ETag and a later Last-Modified."""
        with self._lock:
            previous = self._routes.get(path)
            modified = time.time()
            if previous is not None and previous.body != body:
                # HTTP dates have one-second resolution: keep Last-Modified strictly increasing.
                modified = max(modified, previous.last_modified + 1)
            elif previous is not None:
                modified = previous.last_modified
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            self._routes[path] = _Route(body, content_type, etag, modified)

    def set_fault(
        self,
        path: str,
        *,
        stall: float = 0.0,
        status: int | None = None,
        retry_after: int | str | None = None,
        times: int | None = None,
    ) -> None:
        """Make `path` stall and/or answer `status` (with Retry-After); no arguments clears it."""
        with self._lock:
            if not stall and status is None:
                self._faults.pop(path, None)
                return
            self._faults[path] = _Fault(
                stall, status, None if retry_after is None else str(retry_after), times
            )

    def reset(self) -> None:
        """Back to a fresh server on the same port: no routes, no faults, no counts."""
        with self._lock:
            self._routes.clear()
            self._faults.clear()
        self.reset_counts()

    def reset_counts(self) -> None:
        """Forget the request/byte counts and the log (routes and faults stay)."""
        with self._lock:
            self.requests.clear()
            self.bytes_sent.clear()
            self.statuses.clear()
            self.log.clear()

    def total_requests(self) -> int:
        """Requests served on all paths."""
        return sum(self.requests.values())

    def total_bytes(self) -> int:
        """Bytes (status line, headers and bodies) sent on all paths."""
        return sum(self.bytes_sent.values())

    # -- used by the handler -------------------------------------------------------------

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            fault = self._faults.get(path)
            if fault is not None and fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[path]
            return fault

    def _route(self, path: str) -> _Route | None:
        with self._lock:
            return self._routes.get(path)

    def _arrived(self, path: str) -> None:
        with self._lock:
            self.requests[path] += 1

    def _count(self, path: str, status: int, sent: int, headers: dict[str, str]) -> None:
        with self._lock:
            self.bytes_sent[path] += sent
            self.statuses[f"{path} {status}"] += 1
            self.log.append(LoggedRequest(path, status, headers))


class _Handler(BaseHTTPRequestHandler):
    feed_server: FeedServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.wfile = _CountingWriter(self.wfile)  # type: ignore[assignment]

    def handle(self) -> None:
        """Serve keep-alive requests; a client that hangs up is normal, not an error."""
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output quiet."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        """Serve a route, a 304, or the configured fault."""
        server = self.feed_server
        path = urlsplit(self.path).path
        headers = {k: v for k, v in self.headers.items()}
        self.wfile.count = 0  # type: ignore[attr-defined]
        server._arrived(path)  # counted on arrival, so a stalled request is seen at once
        fault = server._take_fault(path)
        if fault is not None and fault.stall and server._stopping.wait(fault.stall):
            return
        status, extra, body, content_type = self._answer(path, fault)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): still count what was attempted
        server._count(path, status, self.wfile.count, headers)  # type: ignore[attr-defined]

    def _answer(self, path: str, fault: _Fault | None) -> tuple[int, dict[str, str], bytes, str]:
        if fault is not None and fault.status is not None:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return fault.status, extra, b"fault\n", "text/plain"
        route = self.feed_server._route(path)
        if route is None:
            return 404, {}, b"not found\n", "text/plain"
        validators = {
            "ETag": route.etag,
            "Last-Modified": email.utils.formatdate(route.last_modified, usegmt=True),
        }
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = [t.strip() for t in if_none_match.split(",")]
            if route.etag in tags or "*" in tags:
                return 304, validators, b"", route.content_type
        else:
            since = self.headers.get("If-Modified-Since")
            try:
                since_ts = email.utils.parsedate_to_datetime(since).timestamp() if since else None
            except (TypeError, ValueError):
                since_ts = None
            if since_ts is not None and int(route.last_modified) <= since_ts:
                return 304, validators, b"", route.content_type
        return 200, validators, route.body, route.content_type
