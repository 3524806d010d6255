"""A local HTTP server on 127.0.0.1 that misbehaves on purpose, one fault per path.

    server = FaultServer()
    base = server.start()                                     # "http://127.0.0.1:PORT"
    server.add("/ok.xml", Answer(body=feed_bytes))
    server.add("/slow.xml", Answer(stall_before=60))          # no status line for a minute
    server.add("/cut.xml", Answer(body=feed_bytes, stall_after=500))  # headers, 500 bytes, stall
    server.add("/reset.xml", Answer(reset=True))              # TCP RST, no answer
    server.add("/busy.xml", Answer(status=429, headers={"Retry-After": "120"}))
    server.add("/loop", Answer(status=302, headers={"Location": "/loop"}))
    server.add("/bomb.xml", Answer(body=gzip_bytes, headers={"Content-Encoding": "gzip"}))
    server.requests["/ok.xml"]                                # requests received per path
    server.stop()                                             # releases every stalled request

Unknown paths answer 404. Stalls end early when the server stops, so a test never waits for
them. Bodies are served as given; the helpers at the end build them from real recorded feeds
and pages of `tests/fixtures/outlets` (real Epoch Times nsc413 feed, real RFI article page; see
PROVENANCE.md there and in `tests/fixtures/reliability`): re-encoded with Python codecs (GBK,
Big5 after OpenCC Simplified->Traditional, UTF-8 with a BOM), cut, broken, given duplicate GUIDs,
dates removed or moved to 2099, control characters inserted, or wrapped in a gzip bomb.
"""

from __future__ import annotations

import gzip
import re
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from servers.local import LocalServer


@dataclass
class Answer:
    """How one path answers."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"  # "" sends no Content-Type
    headers: dict[str, str] = field(default_factory=dict)
    stall_before: float = 0.0  # seconds to wait before the status line
    stall_after: int | None = None  # send this many body bytes, then stall until stopped
    reset: bool = False  # close the connection with a TCP reset instead of answering
    content_length: int | None = None  # announce this length instead of len(body)


class FaultServer(LocalServer):
    """Serve `Answer`s by path on 127.0.0.1 (port 0), counting requests."""

    def __init__(self) -> None:
        self._answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        super().__init__()
        self.requests: Counter[str] = Counter()

    def add(self, path: str, answer: Answer) -> str:
        """Serve `answer` at `path`; returns the absolute URL."""
        with self._lock:
            self._answers[path] = answer
        return self.base_url + path

    def handler_class(self) -> type[_Handler]:
        server = self

        class Handler(_Handler):
            fault_server = server

        return Handler

    def _answer_for(self, path: str) -> Answer | None:
        with self._lock:
            self.requests[path] += 1
            return self._answers.get(path)


class _Handler(BaseHTTPRequestHandler):
    fault_server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output quiet."""

    def handle(self) -> None:
        """A client that gives up (its timeout) is expected here, not an error."""
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        """Answer with the path's Answer, faults included."""
        server = self.fault_server
        answer = server._answer_for(urlsplit(self.path).path)
        if answer is None:
            answer = Answer(b"not found\n", status=404, content_type="text/plain")
        if answer.stall_before and server._stopping.wait(answer.stall_before):
            return
        if answer.reset:
            # SO_LINGER with a zero timeout turns close() into a TCP RST.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        try:
            self.send_response(answer.status)
            if answer.content_type:
                self.send_header("Content-Type", answer.content_type)
            length = (
                answer.content_length if answer.content_length is not None else len(answer.body)
            )
            self.send_header("Content-Length", str(length))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if answer.stall_after is not None:
                self.wfile.write(answer.body[: answer.stall_after])
                self.wfile.flush()
                server._stopping.wait(3600)
                self.close_connection = True
                return
            self.wfile.write(answer.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


# -- content built from real fixtures ---------------------------------------------------

OUTLETS = Path(__file__).parent.parent / "fixtures" / "outlets"
RSS_UTF8 = "application/rss+xml; charset=utf-8"


def read_fixture(relative: str) -> bytes:
    """A fixture file of tests/fixtures/outlets, gunzipped when it ends in .gz."""
    data = (OUTLETS / relative).read_bytes()
    return gzip.decompress(data) if relative.endswith(".gz") else data


@cache
def nsc413() -> tuple[str, list[str]]:
    """The real Epoch Times nsc413 feed split into its channel header and its 60 <item>s."""
    text = read_fixture("epochtimes/nsc413_2019-04-04.xml.gz").decode("utf-8")
    return text[: text.index("<item>")], re.findall(r"<item>.*?</item>", text, re.S)


def item_link(item: str) -> str:
    """The <link> of an RSS item."""
    match = re.search(r"<link>(.*?)</link>", item, re.S)
    assert match, item[:200]
    return match.group(1).strip()


def item_title(item: str) -> str:
    """The <title> of an RSS item."""
    match = re.search(r"<title>(.*?)</title>", item, re.S)
    assert match, item[:200]
    return match.group(1).strip()


def rss(items: list[str], encoding: str = "UTF-8") -> str:
    """An RSS document with the real nsc413 channel header and these items."""
    head, _ = nsc413()
    return (
        head.replace('encoding="UTF-8"', f'encoding="{encoding}"')
        + "".join(items)
        + ("\n\t</channel>\n</rss>\n")
    )


def to_traditional(text: str) -> str:
    """Simplified -> Traditional Chinese with OpenCC (Big5 cannot encode most Simplified)."""
    import opencc

    return opencc.OpenCC("s2t").convert(text)


def gzip_bomb(decompressed_size: int) -> bytes:
    """A gzip stream of `decompressed_size` zero bytes (about 1,000:1)."""
    return gzip.compress(b"\0" * decompressed_size, compresslevel=9, mtime=0)
