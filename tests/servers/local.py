"""The lifecycle both test servers share: a threaded HTTP server on 127.0.0.1, port 0."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LocalServer:
    """start() / stop() / `with`; subclasses say which handler serves requests."""

    def __init__(self) -> None:
        self._stopping = threading.Event()  # stalled handlers wait on it, so stop() frees them
        self._httpd: ThreadingHTTPServer | None = None
        self.base_url = ""

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler, bound to this server instance."""
        raise NotImplementedError

    def start(self) -> str:
        """Listen on a free port of 127.0.0.1; returns the base URL."""
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval: stop() waits for it (the default 0.5 s, per server, per test).
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()
        host, port = self._httpd.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        return self.base_url

    def stop(self) -> None:
        """Stop serving and release stalled requests."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
