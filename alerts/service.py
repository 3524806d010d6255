"""The alert service: match new stories, queue alerts durably, deliver them with retries.

Everything lives in the `alerts_*` tables behind the storage interface (store/alert_tables.py,
`StateStorage.alerts`), written before any send, so an
alert is never lost: a send that fails (or a process that dies) leaves it pending, and the next
`deliver_pending()` call, in this run or the next, sends it. Delivery is at-least-once per
channel; each message carries its `alert_id` so a consumer can drop a re-delivered duplicate.
One story alerts once per rule, whatever its reposts do (UNIQUE(rule, story_id)).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alerts.channels import AlertMessage, DeliveryError, MessageKind, Notifier, build_notifier
from alerts.digest import next_due_ms
from alerts.health import Finding, OutletHealth, OutletRun, judge_quiet, record_run
from alerts.ids import alert_id_for
from alerts.match import RuleMatcher, prepare_story
from conf.alerts import AlertsConfig, WatchRule
from store.alert_tables import AlertTables
from store.sqlite import SQLiteState
from store.storage import AlertStorage, StateStorage
from store.urls import canonical_url

logger = logging.getLogger(__name__)

# How long a claimed alert is left to its sender before another may retry it (a send that
# takes longer than this has hung; channels time out well before).
_CLAIM_LEASE_MS = 10 * 60 * 1000


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the alerts_* tables if they do not exist yet (tools that open a bare connection)."""
    AlertTables(conn).ensure_schema()


@dataclass(frozen=True)
class StoryRef:
    """A new story as the pipeline hands it over (only for dedup "new" decisions)."""

    story_id: int
    title: str
    url: str
    body_html: str
    outlet: str
    ts_ms: int
    path: str = ""
    body_text: str | None = None  # the body's visible text when already extracted (Body.text)


@dataclass(frozen=True)
class DeliveryReport:
    """What one deliver_pending() call did."""

    sent: int
    failed: int
    waiting: int  # still pending afterwards (backing off, or not reached within the budget)


class AlertService:
    """Match, queue, digest and deliver alerts; watch outlet health."""

    def __init__(
        self,
        state: StateStorage | sqlite3.Connection,
        config: AlertsConfig,
        clock: Callable[[], float] = time.time,
        notifiers: Mapping[str, Notifier] | None = None,
    ) -> None:
        # A bare SQLite connection (tools, tests) is taken as the embedded store on it.
        self.storage: StateStorage = (
            SQLiteState.on(state) if isinstance(state, sqlite3.Connection) else state
        )
        self.tables: AlertStorage = self.storage.alerts
        self.config = config
        self.clock = clock
        self._notifiers = dict(notifiers or {})
        self._matchers = [RuleMatcher(rule) for rule in config.rules if rule.enabled]
        self._digest_rules = [r.name for r in config.rules if r.enabled and r.digest is not None]

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- new stories and reposts ------------------------------------------------------------

    def on_new_story(self, story: StoryRef) -> list[str]:
        """Match a new story against every rule; queue alerts. Returns the rules that matched."""
        if not self._matchers:
            return []
        text = prepare_story(story.title, story.body_html, body_text=story.body_text)
        results = [(m.rule, m.match(text, story.outlet)) for m in self._matchers]
        matched = [(rule, result.reasons) for rule, result in results if result.matched]
        now = self._now_ms()
        fresh: list[str] = []
        with self.storage.transaction():
            for rule, reasons in matched:
                if self._record_match(rule, story, reasons, now):
                    fresh.append(rule.name)
        for name in fresh:
            logger.info("story %s matched rule %s", story.story_id, name)
        return fresh

    def _record_match(self, rule: WatchRule, story: StoryRef, reasons: list[str], now: int) -> bool:
        fresh = self.tables.record_match(
            rule.name,
            story.story_id,
            story.outlet,
            story.title,
            story.url,
            story.ts_ms,
            story.path,
            json.dumps(reasons, ensure_ascii=False),
            now,
        )
        if not fresh:
            return False  # this story already alerted for this rule
        if rule.digest is None:
            data = {
                # Same rule and story (by canonical URL): same id, even from a rebuilt state.
                "alert_id": alert_id_for("match", rule.name, canonical_url(story.url)),
                "rule": rule.name,
                "story_id": story.story_id,
                "outlet": story.outlet,
                "title": story.title,
                "url": story.url,
                "ts": story.ts_ms,
                "path": story.path,
                "reasons": reasons,
            }
            body = f"{story.outlet}: {story.title}\n{story.url}\n" + "\n".join(reasons)
            event_id = self._queue(
                f"match:{rule.name}:{story.story_id}",
                "match",
                rule.name,
                f"[{rule.name}] {story.title}",
                body,
                data,
                rule.notify,
                now,
            )
            if event_id is not None:
                self.tables.set_match_events(event_id, rule.name, [story.story_id])
        return True

    def on_repost(self, story_id: int, outlet: str, url: str) -> None:
        """Record that a story was republished (by another outlet); digests summarize these.

        Only a digest rule's matched stories are recorded: no digest reads any other repost
        (each rule's first period starts after the reposts recorded before it), so the state
        does not keep one row per repost for nothing.
        """
        with self.storage.transaction():
            if any(self.tables.matched(rule, story_id) for rule in self._digest_rules):
                self.tables.add_repost(story_id, outlet, url, self._now_ms())

    def _queue(
        self,
        key: str,
        kind: MessageKind,
        rule: str | None,
        title: str,
        body: str,
        data: Mapping[str, Any],
        channels: Iterable[str],
        now: int,
    ) -> int | None:
        """Store an event and one outbox row per channel; None when the key already exists."""
        return self.tables.queue_event(
            key,
            kind,
            rule,
            title,
            body,
            json.dumps(data, ensure_ascii=False),
            now,
            list(dict.fromkeys(channels)),
        )

    # -- digests ----------------------------------------------------------------------------

    def flush_digests(self) -> int:
        """Queue one digest per digest rule whose period has ended; returns how many."""
        now = self._now_ms()
        queued = 0
        for rule in self.config.rules:
            if rule.digest is None or not rule.enabled:
                continue
            with self.storage.transaction():
                queued += self._flush_digest(rule, now)
        return queued

    def _flush_digest(self, rule: WatchRule, now: int) -> int:
        assert rule.digest is not None
        period = self.tables.digest_period(rule.name)
        # Reposts are tracked by id, not time: two events in the same millisecond stay ordered.
        newest_repost = self.tables.newest_repost_id()
        if period is None:
            # The first period starts now; matches recorded before still go into it.
            self.tables.set_digest_period(rule.name, next_due_ms(rule.digest, now), newest_repost)
            return 0
        due, last_repost_id = period
        if now < due:
            return 0
        matches = self.tables.undigested_matches(rule.name)
        # Reposts by other outlets of stories this rule matched, seen since the last digest.
        reposts = self.tables.reposts_of_matches(rule.name, last_repost_id, newest_repost)
        self.tables.set_digest_period(rule.name, next_due_ms(rule.digest, now), newest_repost)
        if not matches and not reposts:
            return 0
        lines = [f"{len(matches)} new matching stories"]
        lines += [f"- {outlet}: {title}\n  {url}" for _, outlet, title, url, *_ in matches]
        if reposts:
            lines.append(f"{len(reposts)} reposts of earlier matches")
            lines += [f"- {title}: also on {outlet} {url}" for _, title, outlet, url in reposts]
        data = {
            "alert_id": alert_id_for("digest", rule.name, str(due)),
            "rule": rule.name,
            "period_due": due,
            "stories": [
                {
                    "story_id": sid,
                    "outlet": outlet,
                    "title": title,
                    "url": url,
                    "ts": ts,
                    "path": path,
                    "reasons": json.loads(reasons),
                }
                for sid, outlet, title, url, ts, path, reasons in matches
            ],
            "reposts": [
                {"story_id": sid, "title": title, "outlet": outlet, "url": url}
                for sid, title, outlet, url in reposts
            ],
        }
        title = f"[{rule.name}] digest: {len(matches)} stories, {len(reposts)} reposts"
        event_id = self._queue(
            f"digest:{rule.name}:{due}",
            "digest",
            rule.name,
            title,
            "\n".join(lines),
            data,
            rule.notify,
            now,
        )
        if event_id is None:
            return 0
        self.tables.set_match_events(event_id, rule.name, [match[0] for match in matches])
        return 1

    # -- delivery ---------------------------------------------------------------------------

    def _notifier(self, channel: str) -> Notifier | None:
        if channel not in self._notifiers:
            config = self.config.channels.get(channel)
            if config is None:
                return None
            self._notifiers[channel] = build_notifier(channel, config)
        return self._notifiers[channel]

    def _backoff_ms(self, attempts: int) -> int:
        delay = self.config.delivery.retry_base * 2 ** max(0, attempts - 1)
        return int(min(delay, self.config.delivery.retry_max) * 1000)

    def deliver_pending(self) -> DeliveryReport:
        """Flush due digests, then send every due alert once; failures back off and persist."""
        self.flush_digests()
        started = self.clock()
        now = self._now_ms()
        due = self.tables.due(now)
        sent = failed = 0
        broken: set[str] = set()  # channels that failed in this call: the rest waits
        for outbox_id, channel, attempts, event_id, key, kind, title, body, data in due:
            if channel in broken:
                continue
            if self.clock() - started > self.config.delivery.budget:
                logger.warning("alert delivery budget used up; the rest goes out next time")
                break
            if not self._claim(outbox_id, now):
                continue  # another process or thread is sending it
            notifier = self._notifier(channel)
            fields = json.loads(data)
            # Events queued before alert ids existed get one from their (unique) key.
            alert_id = str(fields.pop("alert_id", "") or alert_id_for(key))
            message = AlertMessage(kind, title, body, fields, alert_id)  # type: ignore[arg-type]
            try:
                if notifier is None:
                    raise DeliveryError(f"channel {channel!r} is no longer configured")
                notifier.send(message)
            except DeliveryError as exc:
                failed += 1
                broken.add(channel)
                self._failed(outbox_id, attempts + 1, str(exc))
                logger.warning("alert %s to %s failed: %s", event_id, channel, exc)
                continue
            except Exception as exc:  # a channel bug must not stop the crawl either
                failed += 1
                broken.add(channel)
                self._failed(outbox_id, attempts + 1, f"{type(exc).__name__}: {exc}")
                logger.exception("alert %s to %s crashed", event_id, channel)
                continue
            sent += 1
            with self.storage.transaction():
                self.tables.mark_sent(outbox_id, attempts + 1, self._now_ms())
        waiting = self.tables.pending_count()
        if sent or failed:
            logger.info("alerts: %d sent, %d failed, %d pending", sent, failed, waiting)
        return DeliveryReport(sent, failed, waiting)

    def _claim(self, outbox_id: int, now: int) -> bool:
        """Take a due alert for sending; False when another sender took it first.

        Claiming pushes its next attempt past the lease, so a crawl and the daemon flushing at
        the same moment never send it twice; a sender killed mid-send leaves it to be retried
        once the lease runs out.
        """
        with self.storage.transaction():
            return self.tables.claim(outbox_id, now, now + _CLAIM_LEASE_MS)

    def _failed(self, outbox_id: int, attempts: int, error: str) -> None:
        retry_at = self._now_ms() + self._backoff_ms(attempts)
        with self.storage.transaction():
            self.tables.mark_failed(outbox_id, attempts, retry_at, error)

    # -- health -----------------------------------------------------------------------------

    def check_health(self, outlet_stats: Iterable[OutletRun]) -> list[Finding]:
        """Fold finished runs into each outlet's health, judge quiet outlets, queue alerts."""
        if not self.config.health.enabled:
            return []
        health = self.config.health
        now = self._now_ms()
        findings: list[Finding] = []
        with self.storage.transaction():
            states = {
                outlet: OutletHealth.from_dict(json.loads(raw))
                for outlet, raw in self.tables.health_states().items()
            }
            for run in sorted(outlet_stats, key=lambda r: r.finished_ms):
                state = states.setdefault(run.outlet, OutletHealth())
                findings += record_run(state, run, health)
            for outlet, state in sorted(states.items()):
                findings += judge_quiet(state, outlet, now, health)
            for outlet, state in states.items():
                self.tables.put_health(outlet, json.dumps(state.to_dict()))
            for number, finding in enumerate(findings):
                self._queue_health(finding, now, number)
        return findings

    def _queue_health(self, finding: Finding, now: int, number: int) -> None:
        what = {
            "quiet": "went quiet",
            "failing": "keeps failing",
            "collapse": "extraction collapsed",
        }[finding.condition]
        status = f"recovered ({finding.condition})" if finding.recovered else what
        data = {
            "outlet": finding.outlet,
            "condition": finding.condition,
            "recovered": finding.recovered,
            "detail": finding.detail,
        }
        self._queue(
            f"health:{finding.outlet}:{finding.condition}:{finding.recovered}:{now}:{number}",
            "health",
            None,
            f"[health] {finding.outlet} {status}",
            finding.detail,
            data,
            self.config.health.notify,
            now,
        )
