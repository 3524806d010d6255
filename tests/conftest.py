"""Fixtures shared by every test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers.feedserver import FeedServer

import spiders.outlets  # noqa: F401  (registers the outlets' URL rules and boilerplate)


@pytest.fixture(scope="session")
def session_feed_server() -> Iterator[FeedServer]:
    """One local feed server for the whole session (use `feed_server`, which resets it)."""
    with FeedServer() as server:
        yield server


@pytest.fixture
def feed_server(session_feed_server: FeedServer) -> FeedServer:
    """The session's feed server with no routes, faults or counts left by an earlier test.

    For tests that need one plain server; tests that stall requests or stop the server start
    their own.
    """
    session_feed_server.reset()
    return session_feed_server


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL with a schema of its own (skips when FEEDWATCH_TEST_PG is unset)."""
    from pg import base_url, fresh_schema

    with fresh_schema(base_url()) as url:
        yield url
