"""A real PostgreSQL for the cluster tests: `.ci/run` starts one and exports FEEDWATCH_TEST_PG.

Each test gets its own schema (through the URL's search_path), dropped afterwards, so tests
and several engineers' runs can share one database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest

ENV = "FEEDWATCH_TEST_PG"
SKIP_REASON = f"needs a PostgreSQL server: set {ENV}=postgresql://... (.ci/run does)"


def base_url() -> str:
    url = os.environ.get(ENV, "")
    if not url:
        pytest.skip(SKIP_REASON)
    return url


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A URL whose tables land in a new schema of their own, dropped on exit."""
    import psycopg

    schema = f"fw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in url else "?"
    try:
        yield f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
