"""Source health: decide from crawl-run outcomes when an outlet is quiet, failing or collapsing.

Pure functions over a small per-outlet state (persisted as JSON by alerts/service.py), so each
rule is testable with made-up runs and a made-up clock. An alert fires once per episode; the
outlet's recovery is reported too, so a muted alarm is never mistaken for a healthy source.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from conf.alerts import HealthConfig

Condition = Literal["quiet", "failing", "collapse"]
MAX_GAPS = 30  # recent gaps between runs that brought new items
MAX_BODIES = 200  # recent body lengths, the baseline for extraction collapse


@dataclass(frozen=True)
class OutletRun:
    """What the crawl runner reports after one run of one outlet (see docs/ALERTS.md)."""

    outlet: str
    ok: bool  # False: the run failed (every feed errored, or the crawl crashed)
    finished_ms: int
    new_items: int = 0  # stories new to feedwatch in this run
    body_lengths: Sequence[int] = ()  # text length (body_text_length) of each item extracted
    error: str = ""  # one line: why the run failed


@dataclass
class OutletHealth:
    """The remembered history of one outlet."""

    failures_in_row: int = 0
    last_error: str = ""
    last_new_ms: int | None = None
    gaps_ms: list[int] = field(default_factory=list)
    body_lengths: list[int] = field(default_factory=list)
    active: list[str] = field(default_factory=list)  # conditions already alerted

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> OutletHealth:
        """Rebuild from to_dict() output; unknown keys (older versions) are ignored."""
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        return cls(**known)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Finding:
    """A health change to report: a condition starting, or ending (`recovered`)."""

    outlet: str
    condition: Condition
    recovered: bool
    detail: str


def _raise(state: OutletHealth, outlet: str, condition: Condition, detail: str) -> list[Finding]:
    if condition in state.active:
        return []
    state.active.append(condition)
    return [Finding(outlet, condition, False, detail)]


def _clear(state: OutletHealth, outlet: str, condition: Condition, detail: str) -> list[Finding]:
    if condition not in state.active:
        return []
    state.active.remove(condition)
    return [Finding(outlet, condition, True, detail)]


def record_run(state: OutletHealth, run: OutletRun, config: HealthConfig) -> list[Finding]:
    """Fold one run into the outlet's state; returns failing/collapse findings it causes."""
    if not run.ok:
        state.failures_in_row += 1
        state.last_error = run.error
        if state.failures_in_row >= config.failing_runs:
            detail = f"{state.failures_in_row} failed runs in a row; last error: {run.error or '?'}"
            return _raise(state, run.outlet, "failing", detail)
        return []
    findings = _clear(state, run.outlet, "failing", "a run succeeded again")
    state.failures_in_row = 0
    state.last_error = ""
    if run.new_items > 0:
        if state.last_new_ms is not None and run.finished_ms > state.last_new_ms:
            state.gaps_ms = (state.gaps_ms + [run.finished_ms - state.last_new_ms])[-MAX_GAPS:]
        state.last_new_ms = max(run.finished_ms, state.last_new_ms or 0)
        findings += _clear(state, run.outlet, "quiet", f"{run.new_items} new item(s) again")
    findings += _judge_bodies(state, run, config)
    return findings


def _judge_bodies(state: OutletHealth, run: OutletRun, config: HealthConfig) -> list[Finding]:
    lengths = [max(0, int(length)) for length in run.body_lengths]
    if len(lengths) < config.collapse_min_items or len(state.body_lengths) < config.min_history:
        state.body_lengths = (state.body_lengths + lengths)[-MAX_BODIES:]
        return []
    baseline = statistics.median(state.body_lengths)
    current = statistics.median(lengths)
    if baseline > 0 and current < config.collapse_ratio * baseline:
        # Collapsed runs stay out of the baseline, or a lasting breakage would become "normal".
        detail = (
            f"median body length {current:.0f} chars in this run vs {baseline:.0f} usually "
            f"(below {config.collapse_ratio:.0%}): extraction may be broken"
        )
        return _raise(state, run.outlet, "collapse", detail)
    state.body_lengths = (state.body_lengths + lengths)[-MAX_BODIES:]
    return _clear(state, run.outlet, "collapse", f"median body length back to {current:.0f} chars")


def judge_quiet(
    state: OutletHealth, outlet: str, now_ms: int, config: HealthConfig
) -> list[Finding]:
    """A quiet finding when the outlet has been silent much longer than its usual gap."""
    if state.last_new_ms is None or len(state.gaps_ms) < config.min_history:
        return []
    if "failing" in state.active:
        return []  # the failing alert already explains the silence
    usual_ms = statistics.median(state.gaps_ms)
    threshold_ms = max(config.quiet_gap_factor * usual_ms, config.quiet_min * 1000)
    silent_ms = now_ms - state.last_new_ms
    if silent_ms <= threshold_ms:
        return []
    detail = (
        f"no new item for {silent_ms / 3_600_000:.1f} h; usually one every "
        f"{usual_ms / 3_600_000:.1f} h (alert after {threshold_ms / 3_600_000:.1f} h)"
    )
    return _raise(state, outlet, "quiet", detail)


def body_text_length(body_html: str) -> int:
    """The length in characters of a body's visible text: what OutletRun.body_lengths holds."""
    from store.document import Body  # imported here: the rest of this module is pure

    return Body(body_html).text_length
