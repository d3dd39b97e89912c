"""Alert rules: levels per event, operator settings, critical-always, disconnect timing, repeats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from grvtmm.alerts.notifier import EVENT_DEFAULTS, Alert, AlertRules, AlertSettings, Level
from grvtmm.core import events as ev
from grvtmm.core.clock import NS_PER_S
from grvtmm.core.commands import CancelAll
from grvtmm.core.events import EngineMode
from grvtmm.core.types import Side
from grvtmm.venues.sim.synthetic import default_instrument

T0 = 1_700_000_000 * NS_PER_S
M = EngineMode


def rules(**settings: object) -> AlertRules:
    return AlertRules(default_instrument(), AlertSettings(**settings))  # type: ignore[arg-type]


def mode(old: EngineMode, new: EngineMode, t: int = T0, reason: str = "operator") -> ev.ModeChanged:
    return ev.ModeChanged(ts_ns=t, local_ns=t, old=old, new=new, reason=reason)


def fill(price_ticks: int, size_lots: int, t: int = T0) -> ev.OrderFilled:
    return ev.OrderFilled(
        ts_ns=t,
        local_ns=t,
        client_order_id=1,
        trade_id="t1",
        symbol="BNB_USDT_Perp",
        side=Side.BUY,
        price_ticks=price_ticks,
        size_lots=size_lots,
        fee=Decimal("-0.01"),
        is_maker=True,
    )


def status(connected: bool, t: int, book_ok: bool = True) -> ev.VenueStatus:
    return ev.VenueStatus(
        ts_ns=t, local_ns=t, connected=connected, detail="market ws", book_ok=book_ok
    )


def timer(t: int) -> ev.Timer:
    return ev.Timer(ts_ns=t, local_ns=t)


def only(alert: Alert | None) -> Alert:
    assert alert is not None
    return alert


def test_engine_start_is_info_with_the_start_reason_and_the_new_mode() -> None:
    r = rules()
    assert r.classify(mode(M.IDLE, M.RECONCILING, reason="dashboard")) is None
    alert = only(r.classify(mode(M.RECONCILING, M.RUNNING, reason="reconciled")))
    assert (alert.level, alert.event, alert.title) == (Level.INFO, "startup", "engine_started")
    assert alert.details == (("reason", "dashboard"),)
    assert alert.mode == "running"
    assert alert.symbol == "BNB_USDT_Perp"


def test_stop_pause_and_halt_levels() -> None:
    r = rules()
    assert only(r.classify(mode(M.RUNNING, M.PAUSED))).title == "mode_changed"
    assert only(r.classify(mode(M.STOPPING, M.STOPPED))).level is Level.INFO
    halting = only(r.classify(mode(M.RUNNING, M.HALTING, reason="breaker drawdown")))
    assert (halting.level, halting.event, halting.title) == (Level.CRITICAL, "halt", "halting")
    assert only(r.classify(mode(M.HALTING, M.HALTED))).title == "halted"
    assert r.classify(mode(M.STOPPING, M.FLATTENING)) is None


def test_critical_alerts_are_sent_even_when_their_type_is_off() -> None:
    r = rules(events={key: "off" for key in EVENT_DEFAULTS})
    breaker = ev.BreakerTripped(
        ts_ns=T0, local_ns=T0, breaker="drawdown", detail="d", value=0.2, limit=0.1
    )
    alert = only(r.classify(breaker))
    assert alert.level is Level.CRITICAL and not alert.silent
    assert only(r.classify(mode(M.RUNNING, M.HALTING))).level is Level.CRITICAL
    done = ev.FlattenDone(ts_ns=T0, local_ns=T0, dust=True, position_lots=3, attempts=2)
    assert ("dust", "true") in only(r.classify(done)).details
    assert only(r.store_failure("disk full", T0)).title == "store_failed"
    assert r.classify(mode(M.RECONCILING, M.RUNNING)) is None  # info: off means off


def test_silent_setting_marks_info_alerts_silent_but_never_critical_ones() -> None:
    r = rules(events={"mode": "silent", "halt": "silent"})
    assert only(r.classify(mode(M.RUNNING, M.PAUSED))).silent
    assert not only(r.classify(mode(M.PAUSED, M.HALTING))).silent


def test_flatten_done_says_whether_it_ended_on_dust() -> None:
    r = rules()
    flat = only(
        r.classify(ev.FlattenDone(ts_ns=T0, local_ns=T0, dust=False, position_lots=0, attempts=1))
    )
    dust = only(
        r.classify(ev.FlattenDone(ts_ns=T0, local_ns=T0, dust=True, position_lots=1, attempts=3))
    )
    assert dict(flat.details) == {"dust": "false", "position": "0", "attempts": "1"}
    assert dict(dust.details) == {"dust": "true", "position": "0.01", "attempts": "3"}
    assert flat.level is dust.level is Level.CRITICAL


def test_flatten_only_alerts_when_it_retries() -> None:
    r = rules()

    def progress(phase: str, attempt: int) -> ev.FlattenProgress:
        return ev.FlattenProgress(
            ts_ns=T0, local_ns=T0, phase=phase, attempt=attempt, position_lots=5
        )

    assert r.classify(progress("cancelling", 0)) is None
    assert r.classify(progress("closing", 1)) is None
    retry = only(r.classify(progress("closing", 2)))
    assert (retry.level, retry.title) == (Level.CRITICAL, "flatten_retrying")
    assert only(r.classify(progress("cancelling", 2))).title == "flatten_retrying"  # 2nd round
    r.classify(ev.FlattenDone(ts_ns=T0, local_ns=T0, dust=False, position_lots=0, attempts=2))
    assert r.classify(progress("cancelling", 0)) is None  # the next flatten starts afresh


def test_large_fill_threshold_in_quote_notional() -> None:
    r = rules(large_fill_notional=1000.0)
    assert r.classify(fill(60_000, 166)) is None  # 600.00 × 1.66 = 996
    alert = only(r.classify(fill(60_000, 167)))  # 1002
    assert dict(alert.details)["notional"] == "1,002.00"
    assert dict(alert.details)["side"] == "buy"
    assert rules(large_fill_notional=0).classify(fill(60_000, 10_000)) is None  # 0 = off


def test_venue_disconnect_alerts_once_after_the_threshold_and_recovery_is_info() -> None:
    r = rules(disconnect_alert_s=30)
    assert r.classify(status(False, T0)) is None
    assert r.classify(timer(T0 + 29 * NS_PER_S)) is None
    down = only(r.classify(timer(T0 + 30 * NS_PER_S)))
    assert (down.level, down.title) == (Level.CRITICAL, "venue_disconnected")
    assert dict(down.details)["down_s"] == "30"
    assert r.classify(timer(T0 + 31 * NS_PER_S)) is None  # once per outage
    back = only(r.classify(status(True, T0 + 45 * NS_PER_S)))
    assert (back.level, back.title) == (Level.INFO, "venue_reconnected")
    assert dict(back.details)["down_s"] == "45"


def test_short_disconnects_are_not_reported() -> None:
    r = rules(disconnect_alert_s=30)
    r.classify(status(False, T0))
    assert r.classify(status(True, T0 + 5 * NS_PER_S)) is None
    assert r.classify(timer(T0 + 60 * NS_PER_S)) is None


def test_book_stream_loss_is_a_warning_and_its_return_info() -> None:
    r = rules()
    assert only(r.classify(status(True, T0, book_ok=False))).level is Level.WARN
    assert only(r.classify(status(True, T0, book_ok=True))).title == "book_restored"
    assert r.classify(status(True, T0, book_ok=True)) is None


def test_auth_failures_are_critical_and_repeats_are_folded() -> None:
    r = rules(repeat_s=300)

    def auth(t: int) -> ev.VenueError:
        return ev.VenueError(
            ts_ns=t, local_ns=t, kind=ev.VenueErrorKind.AUTH, detail="session expired", code=1000
        )

    first = only(r.classify(auth(T0)))
    assert (first.level, first.title) == (Level.CRITICAL, "auth_failed")
    assert dict(first.details) == {"detail": "session expired", "code": "1000"}
    for i in range(1, 4):
        assert r.classify(auth(T0 + i * NS_PER_S)) is None
    later = only(r.classify(auth(T0 + 301 * NS_PER_S)))
    assert dict(later.details)["repeated"] == "3"
    assert r.suppressed == 3
    rate = ev.VenueError(ts_ns=T0, local_ns=T0, kind=ev.VenueErrorKind.RATE_LIMITED, detail="x")
    assert r.classify(rate) is None


def test_warnings_use_their_setting_and_unrelated_items_give_nothing() -> None:
    r = rules()
    warning = only(
        r.classify(ev.EngineWarning(ts_ns=T0, local_ns=T0, code="book_gap", detail="seq"))
    )
    assert (warning.level, warning.silent) == (Level.WARN, True)  # default: silent
    assert r.classify(CancelAll(ts_ns=T0, symbol="BNB_USDT_Perp")) is None
    assert r.classify(timer(T0)) is None


def test_settings_from_the_stored_config() -> None:
    settings = AlertSettings.from_config(
        {
            "chat_id": None,
            "heartbeat_minutes": 15,
            "language": "zh",
            "large_fill_notional": 250.0,
            "events": {"fill": "off", "mode": "bogus"},
            "disconnect_alert_s": 45,
        },
        chat_id="12345",
    )
    assert settings.chat_id == "12345"
    assert settings.heartbeat_s == 900.0
    assert settings.language == "zh"
    assert settings.delivery("fill") == "off"
    assert settings.delivery("mode") == "on"  # an unknown value falls back to the default
    assert settings.disconnect_alert_s == 45.0
    assert AlertSettings.from_config({"chat_id": "-100"}, chat_id="1").chat_id == "-100"
    with pytest.raises(ValueError, match="language"):
        AlertSettings(language="fr")
