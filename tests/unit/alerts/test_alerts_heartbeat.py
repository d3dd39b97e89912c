"""Heartbeat summary and the /status and /pnl answers from the monitor summary."""

from __future__ import annotations

from typing import Any

from grvtmm.alerts.heartbeat import Heartbeat, pnl_rows, status_rows
from grvtmm.alerts.notifier import AlertRules, AlertSettings, Level
from grvtmm.venues.sim.synthetic import default_instrument

NOW = 1_700_000_000_000_000_000


def summary(session_id: int, fills: int, **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "mode": "running",
        "session": {"id": session_id},
        "runtime_s": 3723.0,
        "equity": 1012.345,
        "position": -0.25,
        "inventory_notional": 150.0,
        "fills": fills,
        "session_volume": 25_000.0,
        "pnl_total": 12.345,
        "pnl_today": 2.5,
        "fees": -1.25,
        "rebates": 1.25,
        "wear_per_10k": -4.938,
    }
    body.update(more)
    return body


def test_heartbeat_rows_and_fills_in_the_period() -> None:
    beat = Heartbeat()
    first = dict(beat.rows(summary(1, 10)))
    assert first == {
        "runtime": "1h 02m 03s",
        "equity": "1,012.35",
        "position": "-0.25",
        "session_volume": "25,000.00",
        "pnl_total": "12.35",
        "wear": "-4.94",
        "fills_period": "10",
    }
    assert dict(beat.rows(summary(1, 17)))["fills_period"] == "7"
    assert dict(beat.rows(summary(2, 3)))["fills_period"] == "3"  # new session: counted afresh


def test_heartbeat_alert_follows_its_setting() -> None:
    inst = default_instrument()
    silent = Heartbeat().build(summary(1, 1), AlertRules(inst, AlertSettings()), NOW)
    assert silent is not None
    assert (silent.level, silent.title, silent.silent) == (Level.INFO, "heartbeat", True)
    loud = AlertRules(inst, AlertSettings(events={"heartbeat": "on"}))
    assert Heartbeat().build(summary(1, 1), loud, NOW).silent is False  # type: ignore[union-attr]
    off = AlertRules(inst, AlertSettings(events={"heartbeat": "off"}))
    assert Heartbeat().build(summary(1, 1), off, NOW) is None


def test_status_and_pnl_rows_show_unknowns_as_na() -> None:
    rows = dict(status_rows(summary(1, 4, equity=None, inventory_notional=None)))
    assert rows["equity"] == "n/a" and rows["inventory"] == "n/a"
    assert rows["fills"] == "4"
    pnl = dict(pnl_rows(summary(1, 4)))
    assert pnl == {
        "pnl_total": "12.35",
        "pnl_today": "2.50",
        "session_volume": "25,000.00",
        "fees": "-1.25",
        "rebates": "1.25",
        "wear": "-4.94",
        "fills": "4",
    }
    assert dict(status_rows({}))["runtime"] == "n/a"
