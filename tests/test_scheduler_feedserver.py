"""The reusable local feed server: validators, 304s, faults and counters."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from servers.feedserver import FeedServer

RSS = b"<rss><channel><title>t</title></channel></rss>"


@pytest.fixture
def server(feed_server: FeedServer) -> FeedServer:
    feed_server.set_route("/rss", RSS, "application/rss+xml")
    return feed_server


def get(url: str, timeout: float = 5, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def test_serves_routes_with_validators_and_304(server: FeedServer) -> None:
    status, headers, body = get(server.url("/rss"))
    assert (status, body) == (200, RSS)
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert get(server.url("/rss"), **{"If-None-Match": etag})[0] == 304
    assert get(server.url("/rss"), **{"If-Modified-Since": modified})[0] == 304
    assert get(server.url("/rss"), **{"If-None-Match": '"other"'})[0] == 200
    assert get(server.url("/missing"))[0] == 404
    assert server.requests["/rss"] == 4
    assert server.statuses["/rss 304"] == 2
    assert server.bytes_sent["/rss"] > 2 * len(RSS)  # two bodies plus four header blocks


def test_changed_body_gets_new_validators(server: FeedServer) -> None:
    _, headers, _ = get(server.url("/rss"))
    server.set_route("/rss", RSS.replace(b"<title>t", b"<title>u"))
    status, new_headers, body = get(
        server.url("/rss"),
        **{"If-None-Match": headers["ETag"]},
    )
    assert status == 200 and b"<title>u" in body
    assert new_headers["ETag"] != headers["ETag"]
    assert new_headers["Last-Modified"] != headers["Last-Modified"]


def test_faults_status_retry_after_and_count(server: FeedServer) -> None:
    server.set_fault("/rss", status=429, retry_after=120, times=1)
    status, headers, _ = get(server.url("/rss"))
    assert (status, headers["Retry-After"]) == (429, "120")
    assert get(server.url("/rss"))[0] == 200  # times=1: the fault is used up
    server.set_fault("/rss", status=503)
    assert get(server.url("/rss"))[0] == 503
    assert get(server.url("/rss"))[0] == 503
    server.set_fault("/rss")
    assert get(server.url("/rss"))[0] == 200


def test_stall_makes_the_client_time_out() -> None:
    # Its own server: stopping it releases the stalled handler, which would outlive the test.
    with FeedServer({"/rss": (RSS, "application/rss+xml")}) as server:
        server.set_fault("/rss", stall=30)
        with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
            get(server.url("/rss"), timeout=0.5)
        server.set_fault("/rss")
        assert get(server.url("/rss"))[0] == 200


def test_the_shared_server_starts_each_test_fresh(feed_server: FeedServer) -> None:
    """`feed_server` is shared by the session: what a test set or counted is gone after it."""
    assert feed_server.total_requests() == 0
    assert get(feed_server.url("/rss"))[0] == 404  # the route the other tests set is gone
    feed_server.set_fault("/x", status=500)
    feed_server.set_route("/y", b"y")
    feed_server.reset()
    assert get(feed_server.url("/x"))[0] == 404 and get(feed_server.url("/y"))[0] == 404
    assert feed_server.requests["/x"] == 1 and feed_server.total_requests() == 2
