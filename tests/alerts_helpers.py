"""Shared helpers for the tests/test_alerts_*.py files: fixtures, a clock, a local webhook."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

# Matching needs dedup's text normalization; until it exists the alerts tests skip, not crash.
pytest.importorskip("dedup.text", reason="dedup.text (html_to_text, normalize_text) not present")

from alerts.service import StoryRef  # noqa: E402
from conf.alerts import AlertsConfig  # noqa: E402 - after the skip check on purpose
from store.imports import read_item_file  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "alerts"
KOREA = FIXTURES / "rfi_999999_korea_defectors.md"
KOREA_TRADITIONAL = FIXTURES / "rfi_999999_korea_defectors.traditional-s2t.md"
PUTIN = FIXTURES / "rfi_1000000_putin_icc.md"
DW_UKRAINE = FIXTURES / "dw_1022765_trump_ukraine.md"
REPOST_RFI = FIXTURES / "repost_rfi_freedom_house.md"
REPOST_VOA = FIXTURES / "repost_voa_freedom_house.md"


def story(path: Path, story_id: int, outlet: str) -> StoryRef:
    """A StoryRef built from a real fixture item."""
    item = read_item_file(path)
    return StoryRef(story_id, item.title, item.url, item.body, outlet, item.ts, str(path))


def make_config(raw: dict[str, Any]) -> AlertsConfig:
    """Validate an `alerts:` mapping as config.yaml would."""
    return AlertsConfig.model_validate(raw)


class Clock:
    """A clock the test moves by hand (seconds since the epoch)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def memory_db() -> sqlite3.Connection:
    """An autocommit in-memory database, opened like store.state.open_state does."""
    return sqlite3.connect(":memory:", isolation_level=None)


class Webhook:
    """A local JSON webhook (what Apprise's json:// posts to) that can be told to fail."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.fail_with: int | None = None
        self.failed_requests = 0
        self.delay = 0.0  # seconds each request takes (a slow endpoint)
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length) or b"{}")
                time.sleep(hook.delay)
                if hook.fail_with is not None:
                    hook.failed_requests += 1
                    self.send_response(hook.fail_with)
                else:
                    hook.received.append((self.path, payload))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass  # keep test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "hook") -> str:
        """The Apprise URL that posts JSON to this server."""
        return f"json://127.0.0.1:{self.port}/{path}"


@contextmanager
def webhook() -> Iterator[Webhook]:
    """Run a Webhook for the duration of a with-block."""
    hook = Webhook()
    hook.thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()
        hook.thread.join(timeout=5)
