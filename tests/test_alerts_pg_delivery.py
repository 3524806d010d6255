"""Alert delivery on several machines: two senders on one PostgreSQL outbox send each alert once
(each claims a row with one conditional UPDATE before it sends it)."""

from __future__ import annotations

import threading
from collections import Counter

from alerts.channels import AlertMessage
from alerts.service import AlertService
from conf.alerts import AlertsConfig
from store.backends import open_storage


class Recorder:
    """A channel that counts what it was asked to send (one per outbox row)."""

    def __init__(self, channel: str, sent: Counter[tuple[str, str]], lock: threading.Lock):
        self.channel, self.sent, self.lock = channel, sent, lock

    def send(self, message: AlertMessage) -> None:
        with self.lock:
            self.sent[(self.channel, message.alert_id)] += 1


def test_two_deliverers_on_one_postgresql_outbox_send_each_alert_once(pg_url: str) -> None:
    channels = [f"c{i}" for i in range(30)]
    setup = open_storage(pg_url)
    try:
        with setup.transaction():
            for n in range(4):
                setup.alerts.queue_event(f"k{n}", "match", "r", "t", "b", "{}", 1000, channels)
        due = len(setup.alerts.due(2**62))
    finally:
        setup.close()
    assert due == 4 * len(channels)
    sent: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(2)
    reports = []

    def deliverer() -> None:
        storage = open_storage(pg_url)  # a connection of its own: another machine
        try:
            notifiers = {c: Recorder(c, sent, lock) for c in channels}
            service = AlertService(storage, AlertsConfig(), notifiers=notifiers)
            start.wait()
            reports.append(service.deliver_pending())
        finally:
            storage.close()

    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == due and set(sent.values()) == {1}  # every alert, each once
    assert sum(r.sent for r in reports) == due
    check = open_storage(pg_url)
    try:
        assert check.alerts.pending_count() == 0
    finally:
        check.close()
