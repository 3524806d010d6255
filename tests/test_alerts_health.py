"""Source health alerts from controlled run outcomes and a controlled clock."""

from __future__ import annotations

import json
from pathlib import Path

from alerts_helpers import DW_UKRAINE, Clock, make_config, memory_db

from alerts.health import OutletRun, body_text_length
from alerts.service import AlertService

HOUR = 3600


def _service(tmp_path: Path, clock: Clock, **health: object) -> AlertService:
    config = make_config(
        {
            "channels": {"ops": {"kind": "jsonl", "path": str(tmp_path / "health.jsonl")}},
            "health": {"notify": ["ops"], **health},
        }
    )
    return AlertService(memory_db(), config, clock=clock)


def _sent(tmp_path: Path) -> list[dict]:
    path = tmp_path / "health.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _run(clock: Clock, outlet: str = "dw", **fields: object) -> OutletRun:
    return OutletRun(outlet=outlet, finished_ms=int(clock() * 1000), **{"ok": True, **fields})


def test_failing_runs_alert_once_then_recover(tmp_path: Path) -> None:
    clock = Clock()
    service = _service(tmp_path, clock, failing_runs=3)
    for number in range(5):
        clock.advance(1800)
        found = service.check_health([_run(clock, ok=False, error=f"HTTP 503 (run {number})")])
        assert [f.condition for f in found] == (["failing"] if number == 2 else [])
    clock.advance(1800)
    [recovered] = service.check_health([_run(clock, new_items=2)])
    assert recovered.recovered and recovered.condition == "failing"
    service.deliver_pending()
    sent = _sent(tmp_path)
    assert [(m["condition"], m["recovered"]) for m in sent] == [
        ("failing", False),
        ("failing", True),
    ]
    assert "3 failed runs in a row" in sent[0]["detail"] and "HTTP 503 (run 2)" in sent[0]["detail"]
    assert sent[0]["title"] == "[health] dw keeps failing"


def test_quiet_outlet_after_much_longer_than_its_usual_gap(tmp_path: Path) -> None:
    clock = Clock()
    service = _service(tmp_path, clock, quiet_gap_factor=4, quiet_min="1h", min_history=5)
    for _ in range(7):  # new items every hour: usual gap 1 h
        clock.advance(HOUR)
        assert service.check_health([_run(clock, new_items=3)]) == []
    for _ in range(3):  # runs go on, nothing new, 3 h of silence: still normal
        clock.advance(HOUR)
        assert service.check_health([_run(clock, new_items=0)]) == []
    clock.advance(HOUR + 1)  # just over 4 x the usual gap
    [quiet] = service.check_health([_run(clock, new_items=0)])
    assert quiet.condition == "quiet" and not quiet.recovered
    assert "usually one every 1.0 h" in quiet.detail
    clock.advance(HOUR)
    assert service.check_health([]) == []  # alerted once per episode, even with no runs
    clock.advance(HOUR)
    [back] = service.check_health([_run(clock, new_items=1)])
    assert back.condition == "quiet" and back.recovered


def test_no_quiet_verdict_without_enough_history(tmp_path: Path) -> None:
    clock = Clock()
    service = _service(tmp_path, clock, min_history=5)
    for _ in range(3):
        clock.advance(HOUR)
        service.check_health([_run(clock, new_items=1)])
    clock.advance(30 * 24 * HOUR)
    assert service.check_health([]) == []


def test_extraction_collapse_and_recovery(tmp_path: Path) -> None:
    clock = Clock()
    service = _service(tmp_path, clock, collapse_ratio=0.3, collapse_min_items=3, min_history=5)
    normal = [1800, 2400, 2100, 1950, 2600]
    clock.advance(HOUR)
    assert service.check_health([_run(clock, new_items=5, body_lengths=normal)]) == []
    clock.advance(HOUR)
    # Slightly shorter bodies are normal variation.
    assert service.check_health([_run(clock, new_items=3, body_lengths=[1500, 1200, 1400])]) == []
    clock.advance(HOUR)
    [collapse] = service.check_health([_run(clock, new_items=4, body_lengths=[0, 0, 35, 0])])
    assert collapse.condition == "collapse"
    assert "median body length 0 chars" in collapse.detail
    clock.advance(HOUR)
    # Still broken: no second alert, and the broken run does not lower the baseline.
    assert service.check_health([_run(clock, new_items=3, body_lengths=[40, 0, 0])]) == []
    clock.advance(HOUR)
    # Too few bodies to judge either way.
    assert service.check_health([_run(clock, new_items=1, body_lengths=[2000])]) == []
    clock.advance(HOUR)
    [fixed] = service.check_health([_run(clock, new_items=3, body_lengths=[1900, 2200, 2050])])
    assert fixed.condition == "collapse" and fixed.recovered


def test_health_state_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    config = make_config({"health": {"failing_runs": 2}})
    conn = memory_db()
    AlertService(conn, config, clock=clock).check_health([_run(clock, ok=False, error="boom")])
    found = AlertService(conn, config, clock=clock).check_health(
        [_run(clock, ok=False, error="boom")]
    )
    assert [f.condition for f in found] == ["failing"]
    # With no health channel the alert is recorded (shown by `alerts list`), not sent.
    assert conn.execute("SELECT kind, title FROM alerts_events").fetchall() == [
        ("health", "[health] dw keeps failing")
    ]
    assert conn.execute("SELECT COUNT(*) FROM alerts_outbox").fetchone()[0] == 0


def test_outlets_are_judged_separately(tmp_path: Path) -> None:
    clock = Clock()
    service = _service(tmp_path, clock, failing_runs=2)
    for _ in range(2):
        clock.advance(HOUR)
        found = service.check_health(
            [_run(clock, "voa", ok=False, error="timeout"), _run(clock, "rfi", new_items=1)]
        )
    assert [(f.outlet, f.condition) for f in found] == [("voa", "failing")]


def test_health_can_be_disabled(tmp_path: Path) -> None:
    clock = Clock()
    service = _service(tmp_path, clock, enabled=False, failing_runs=1)
    assert service.check_health([_run(clock, ok=False)]) == []


def test_body_text_length_counts_visible_text_only() -> None:
    from store.imports import read_item_file

    body = read_item_file(DW_UKRAINE).body
    assert body_text_length('<div><img src="https://images.weserv.nl/a.jpg"></div>') == 0
    assert 1000 < body_text_length(body) < len(body)
