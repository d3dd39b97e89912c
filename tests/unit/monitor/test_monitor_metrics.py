"""Monitor figures from scripted event/command sequences (timestamps in the events, no sleeps)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from grvtmm.core.clock import NS_PER_MS, NS_PER_S, SimClock
from grvtmm.core.commands import CancelOrder, PlaceOrder
from grvtmm.core.events import (
    AccountUpdate,
    BookDelta,
    BookSnapshot,
    BreakerTripped,
    EngineMode,
    EngineWarning,
    FlattenDone,
    FlattenProgress,
    ModeChanged,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    PositionUpdate,
    QuoteUpdated,
    ReconcileSnapshot,
)
from grvtmm.core.types import Instrument, Side
from grvtmm.monitor.metrics import MAX_LABELS, Monitor
from grvtmm.monitor.summary import SessionStats

INST = Instrument("BNB_USDT_Perp", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"))
MIDNIGHT = 1_767_225_600 * NS_PER_S  # 2026-01-01T00:00:00Z
M = EngineMode

SUMMARY_KEYS = {
    "mode", "session", "runtime_s", "equity", "venue_equity", "free_margin", "funds_source",
    "mid", "position", "position_lots", "inventory_notional", "fills", "maker_fills",
    "taker_fills", "session_volume", "pnl_total", "pnl_today", "fees", "rebates", "fee_costs",
    "wear_per_10k", "fills_last_min", "cancels_last_min", "resting_ms", "requote_reasons",
    "place_reasons", "quote_distance_ticks", "rejects", "reject_reasons", "warnings",
    "breakers", "flatten", "effective_liquidity_k", "monitor_errors",
}  # fmt: skip


class Script:
    """Publishes events stamped with a simulated clock to one monitor."""

    def __init__(self, t0_ns: int = MIDNIGHT + 3600 * NS_PER_S, provider: Any = None) -> None:
        self.clock = SimClock(t0_ns)
        self.monitor = Monitor(INST, self.clock, snapshot_provider=provider)
        self._cid = 0
        self._trade = 0

    @property
    def now(self) -> int:
        return self.clock.now_ns()

    def wait(self, ns: int) -> None:
        self.clock.advance(ns)

    def stamp(self) -> dict[str, int]:
        return {"ts_ns": self.now, "local_ns": self.now}

    def book(self, bid: int, ask: int) -> None:
        self.monitor.publish(
            BookSnapshot(**self.stamp(), symbol=INST.symbol, bids=((bid, 10),), asks=((ask, 10),))
        )

    def mode(self, old: EngineMode, new: EngineMode, reason: str = "") -> None:
        self.monitor.publish(ModeChanged(**self.stamp(), old=old, new=new, reason=reason))

    def start(
        self, equity: float = 1000.0, position_lots: int = 0, frm: EngineMode = M.IDLE
    ) -> None:
        self.mode(frm, M.RECONCILING, "operator start")
        self.monitor.publish(
            ReconcileSnapshot(
                **self.stamp(),
                symbol=INST.symbol,
                open_orders=(),
                position_lots=position_lots,
                equity=equity,
                free_margin=equity,
            )
        )
        self.mode(M.RECONCILING, M.RUNNING, "reconciled")

    def stop(self) -> None:
        self.mode(M.RUNNING, M.STOPPING, "operator stop")
        self.mode(M.STOPPING, M.STOPPED, "flat")

    def place(self, side: Side, price: int, lots: int, reason: str = "missing") -> int:
        self._cid += 1
        self.monitor.publish(
            PlaceOrder(
                ts_ns=self.now,
                client_order_id=self._cid,
                symbol=INST.symbol,
                side=side,
                price_ticks=price,
                size_lots=lots,
                reason=reason,
            )
        )
        self.monitor.publish(OrderAccepted(**self.stamp(), client_order_id=self._cid))
        return self._cid

    def fill(
        self,
        side: Side,
        price: int,
        lots: int,
        fee: str = "0",
        cid: int = 0,
        leaves: int = 0,
        maker: bool = True,
    ) -> None:
        self._trade += 1
        self.monitor.publish(
            OrderFilled(
                **self.stamp(),
                client_order_id=cid,
                trade_id=f"t{self._trade}",
                symbol=INST.symbol,
                side=side,
                price_ticks=price,
                size_lots=lots,
                fee=Decimal(fee),
                is_maker=maker,
                leaves_lots=leaves,
            )
        )

    def canceled(self, cid: int) -> None:
        self.monitor.publish(OrderCanceled(**self.stamp(), client_order_id=cid))

    def quote(
        self, bid: int, ask: int, bid_lots: int = 1, ask_lots: int = 1, k: float = 0.0
    ) -> None:
        self.monitor.publish(
            QuoteUpdated(
                **self.stamp(),
                bid_ticks=bid,
                bid_lots=bid_lots,
                ask_ticks=ask,
                ask_lots=ask_lots,
                mid_ticks=(bid + ask) / 2,
                k=k,
            )
        )

    def summary(self) -> dict[str, Any]:
        s = self.monitor.summary()
        assert s["monitor_errors"] == 0, self.monitor.last_error
        return s


def test_summary_has_the_documented_keys_and_is_strict_json() -> None:
    sc = Script()
    empty = sc.summary()
    assert set(empty) == SUMMARY_KEYS
    json.dumps(empty, allow_nan=False)
    sc.book(10_000, 10_002)
    sc.start()
    sc.fill(Side.BUY, 10_000, 3, "-0.0003")
    full = sc.summary()
    assert set(full) == SUMMARY_KEYS
    assert set(full["session"]) == {"id", "start_ns", "end_ns", "start_reason"}
    assert set(full["resting_ms"]) == {"p50", "p90", "p99", "count"}
    assert set(full["quote_distance_ticks"]) == {"bid", "ask", "bid_mean", "ask_mean"}
    json.dumps(full, allow_nan=False)


def test_extra_entries_are_merged_into_the_summary() -> None:
    sc = Script()
    s = sc.monitor.summary({"trading_mode": "demo", "symbol": INST.symbol})
    assert s["trading_mode"] == "demo"
    assert s["symbol"] == INST.symbol


def test_fills_before_the_session_start_are_not_session_volume() -> None:
    sc = Script()
    sc.book(10_000, 10_002)
    sc.fill(Side.BUY, 10_000, 1)  # e.g. a fill of an order left from before the start
    before = sc.summary()
    assert before["session"]["id"] == 0 and before["session"]["start_ns"] is None
    sc.start(position_lots=1)
    started = sc.summary()
    assert started["session"]["id"] == 1
    assert started["session"]["start_ns"] == sc.now
    assert started["session"]["start_reason"] == "operator start"
    assert started["fills"] == 0
    assert started["session_volume"] == 0.0
    assert started["position_lots"] == 1
    sc.fill(Side.SELL, 10_010, 1)
    after = sc.summary()
    assert after["fills"] == 1
    assert after["session_volume"] == pytest.approx(100.10 * 0.01)
    # the held lot is valued from the mid at the start (10 001), not from its old entry
    assert after["pnl_total"] == pytest.approx(9 * 0.01 * 0.01)
    assert after["position_lots"] == 0


def test_a_new_start_begins_a_new_session() -> None:
    sc = Script()
    sc.book(10_000, 10_002)
    sc.start()
    sc.fill(Side.BUY, 10_000, 2, "0.01", maker=False)
    sc.place(Side.BUY, 9_999, 1, "away")
    sc.monitor.publish(BreakerTripped(**sc.stamp(), breaker="drawdown", detail="x"))
    sc.stop()
    sc.start(position_lots=2, frm=M.STOPPED)
    s = sc.summary()
    assert s["session"]["id"] == 2
    assert s["fills"] == 0 and s["session_volume"] == 0.0 and s["fees"] == 0.0
    assert s["requote_reasons"] == {} and s["place_reasons"] == {}
    assert s["breakers"]["drawdown"] == {"tripped": False, "value": None, "limit": None, "trips": 0}
    assert s["position_lots"] == 2  # the position carries over; its PnL starts at 0
    assert s["pnl_total"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("sell_ticks", "expected_pnl"),
    [(9_990, -0.01 - 0.02), (10_020, 0.02 - 0.02)],
)
def test_wear_is_minus_pnl_per_volume_in_basis_points(sell_ticks: int, expected_pnl: float) -> None:
    sc = Script()
    sc.book(10_000, 10_002)
    sc.start()
    sc.fill(Side.BUY, 10_000, 10, "0.01")
    sc.fill(Side.SELL, sell_ticks, 10, "0.01")
    s = sc.summary()
    volume = 100.00 * 0.1 + sell_ticks * 0.01 * 0.1
    assert s["session_volume"] == pytest.approx(volume)
    assert s["pnl_total"] == pytest.approx(expected_pnl)
    assert s["wear_per_10k"] == pytest.approx(-expected_pnl / volume * 10_000)


def test_wear_is_positive_for_a_loss_and_negative_for_a_gain() -> None:
    loss, gain = Script(), Script()
    for sc, exit_ticks in ((loss, 9_995), (gain, 10_050)):
        sc.book(10_000, 10_002)
        sc.start()
        sc.fill(Side.BUY, 10_000, 10)
        sc.fill(Side.SELL, exit_ticks, 10)
    assert loss.summary()["wear_per_10k"] > 0
    assert gain.summary()["wear_per_10k"] < 0


def test_wear_is_zero_without_volume() -> None:
    sc = Script()
    sc.start()
    assert sc.summary()["wear_per_10k"] == 0.0


def test_fees_split_into_rebates_and_costs() -> None:
    sc = Script()
    sc.book(10_000, 10_002)
    sc.start()
    sc.fill(Side.BUY, 10_000, 1, "-0.002")
    sc.fill(Side.BUY, 10_000, 1, "-0.001")
    sc.fill(Side.SELL, 10_002, 2, "0.0045", maker=False)
    s = sc.summary()
    assert s["rebates"] == pytest.approx(0.003)
    assert s["fee_costs"] == pytest.approx(0.0045)
    assert s["fees"] == pytest.approx(0.0015)
    assert (s["maker_fills"], s["taker_fills"]) == (2, 1)
    assert sc.monitor.totals.rebates == Decimal("0.003")
    assert sc.monitor.totals.fee_costs == Decimal("0.0045")


def test_last_minute_windows_slide() -> None:
    sc = Script()
    sc.book(10_000, 10_002)
    sc.start()
    t0 = sc.now
    for offset_s in (0, 30, 59):
        sc.clock.set(t0 + offset_s * NS_PER_S)
        sc.fill(Side.BUY, 10_000, 1)
        sc.canceled(999)
    sc.clock.set(t0 + 59 * NS_PER_S + 500 * NS_PER_MS)
    assert sc.summary()["fills_last_min"] == 3
    assert sc.summary()["cancels_last_min"] == 3
    sc.clock.set(t0 + 60 * NS_PER_S)
    assert sc.summary()["fills_last_min"] == 2
    sc.clock.set(t0 + 90 * NS_PER_S)
    assert sc.summary()["fills_last_min"] == 1
    sc.clock.set(t0 + 119 * NS_PER_S)
    s = sc.summary()
    assert (s["fills_last_min"], s["cancels_last_min"]) == (0, 0)
    assert s["fills"] == 3  # the session count does not slide


def test_resting_percentiles_from_acceptance_to_fill_or_cancel() -> None:
    sc = Script()
    sc.book(10_000, 10_002)
    sc.start()
    for i in range(1, 11):
        cid = sc.place(Side.BUY, 9_999, 2)
        sc.wait(i * 100 * NS_PER_MS)
        if i % 2:
            sc.fill(Side.BUY, 9_999, 1, cid=cid, leaves=1)  # partial: still resting
            sc.fill(Side.BUY, 9_999, 1, cid=cid, leaves=0)
        else:
            sc.canceled(cid)
    rejected = sc.place(Side.SELL, 10_003, 1)
    sc.monitor.publish(OrderRejected(**sc.stamp(), client_order_id=rejected, reason="x"))
    sc.wait(NS_PER_S)
    sc.canceled(rejected)  # no longer tracked: does not count
    resting = sc.summary()["resting_ms"]
    assert resting == {"p50": 500.0, "p90": 900.0, "p99": 1000.0, "count": 10}


def test_resting_times_are_empty_before_any_order_finishes() -> None:
    sc = Script()
    sc.place(Side.BUY, 9_999, 1)
    assert sc.summary()["resting_ms"] == {"p50": None, "p90": None, "p99": None, "count": 0}


def test_requote_and_place_reasons_count_placements() -> None:
    sc = Script()
    sc.start()
    for reason in ("missing", "away", "away", "toward", "max_age", "flatten"):
        sc.place(Side.BUY, 9_999, 1, reason)
    sc.monitor.publish(CancelOrder(ts_ns=sc.now, client_order_id=1, symbol=INST.symbol))
    s = sc.summary()
    assert s["requote_reasons"] == {"away": 2, "max_age": 1, "toward": 1}
    assert s["place_reasons"] == {"away": 2, "flatten": 1, "max_age": 1, "missing": 1, "toward": 1}
    assert sc.monitor.totals.placements["away"] == 2


def test_quote_distance_from_the_current_book() -> None:
    sc = Script()
    sc.book(10_000, 10_010)
    sc.start()
    sc.quote(9_998, 10_011, k=0.7)
    s = sc.summary()
    assert s["quote_distance_ticks"] == {"bid": 2.0, "ask": 1.0, "bid_mean": 2.0, "ask_mean": 1.0}
    assert s["effective_liquidity_k"] == 0.7
    sc.monitor.publish(
        BookDelta(**sc.stamp(), symbol=INST.symbol, bids=((9_999, 4), (10_000, 0)), asks=())
    )
    moved = sc.summary()["quote_distance_ticks"]
    assert (moved["bid"], moved["bid_mean"]) == (1.0, 2.0)
    sc.quote(10_001, 10_011, ask_lots=0)  # bid inside the spread, ask side off
    inside = sc.summary()["quote_distance_ticks"]
    assert inside["bid"] == -2.0 and inside["ask"] is None
    assert inside["bid_mean"] == pytest.approx(0.0)
    sc.mode(M.RUNNING, M.PAUSED, "operator")
    paused = sc.summary()["quote_distance_ticks"]
    assert paused["bid"] is None and paused["ask"] is None


def test_rejects_and_warnings_by_reason() -> None:
    sc = Script()
    sc.start()
    for reason in ("FAIL_POST_ONLY", "FAIL_POST_ONLY", "margin"):
        cid = sc.place(Side.BUY, 9_999, 1)
        sc.monitor.publish(OrderRejected(**sc.stamp(), client_order_id=cid, reason=reason))
    for code in ("book_gap", "book_gap", "unknown_order"):
        sc.monitor.publish(EngineWarning(**sc.stamp(), code=code, detail=""))
    s = sc.summary()
    assert s["rejects"] == 3
    assert s["reject_reasons"] == {"FAIL_POST_ONLY": 2, "margin": 1}
    assert s["warnings"] == {"book_gap": 2, "unknown_order": 1}


def test_lifetime_counters_keep_a_bounded_set_of_labels() -> None:
    sc = Script()
    for i in range(100):
        sc.monitor.publish(OrderRejected(**sc.stamp(), client_order_id=i, reason=f"order {i} bad"))
    rejects = sc.monitor.totals.rejects
    assert len(rejects) == MAX_LABELS + 1
    assert rejects["other"] == 100 - MAX_LABELS
    assert sum(rejects.values()) == 100
    assert sc.summary()["rejects"] == 100


def test_breaker_trips_from_events() -> None:
    sc = Script()
    sc.start()
    sc.monitor.publish(
        BreakerTripped(**sc.stamp(), breaker="drawdown", detail="d", value=0.07, limit=0.05)
    )
    breakers = sc.summary()["breakers"]
    assert breakers["drawdown"] == {"tripped": True, "value": 0.07, "limit": 0.05, "trips": 1}
    assert breakers["inventory"]["tripped"] is False
    assert sc.monitor.totals.breaker_trips == {"drawdown": 1}


def test_engine_view_overrides_mode_equity_margin_and_breakers() -> None:
    view: Mapping[str, Any] = {
        "mode": "paused",
        "equity": 1234.5,
        "free_margin": 1000.0,
        "breakers": [{"breaker": "inventory", "value": 0.4, "limit": 0.8, "tripped": False}],
    }
    sc = Script(provider=lambda: view)
    sc.start(equity=900.0)
    sc.monitor.publish(
        BreakerTripped(**sc.stamp(), breaker="inventory", detail="", value=0.9, limit=0.8)
    )
    s = sc.summary()
    assert (s["mode"], s["equity"], s["free_margin"]) == ("paused", 1234.5, 1000.0)
    assert s["venue_equity"] == 900.0
    assert s["breakers"] == {
        "inventory": {"tripped": False, "value": 0.4, "limit": 0.8, "trips": 1}
    }


def test_without_a_provider_the_events_give_mode_equity_and_margin() -> None:
    sc = Script()
    assert sc.summary()["mode"] == "idle"
    assert sc.summary()["equity"] is None
    sc.monitor.publish(
        AccountUpdate(**sc.stamp(), equity=500.0, free_margin=450.0, source="account_summary")
    )
    s = sc.summary()
    assert (s["equity"], s["free_margin"], s["funds_source"]) == (500.0, 450.0, "account_summary")
    sc.book(10_000, 10_002)
    sc.start(equity=500.0)
    sc.fill(Side.BUY, 10_000, 100)
    sc.book(10_100, 10_102)
    s = sc.summary()
    assert s["mode"] == "running"
    assert s["pnl_total"] == pytest.approx(101 * 0.01 * 1.0)
    assert s["equity"] == pytest.approx(500.0 + s["pnl_total"])
    assert s["inventory_notional"] == pytest.approx(101.01)


def test_flatten_progress_and_dust() -> None:
    sc = Script()
    sc.start(position_lots=3)
    sc.mode(M.RUNNING, M.STOPPING, "operator")
    pub = sc.monitor.publish
    pub(FlattenProgress(**sc.stamp(), phase="cancelling", attempt=0, position_lots=3))
    pub(FlattenProgress(**sc.stamp(), phase="closing", attempt=2, position_lots=3, detail="x"))
    f = sc.summary()["flatten"]
    assert f["active"] is True
    assert (f["phase"], f["attempt"], f["position_lots"], f["detail"]) == ("closing", 2, 3, "x")
    assert f["last_done"] is None
    pub(FlattenDone(**sc.stamp(), dust=True, position_lots=1, attempts=2))
    f = sc.summary()["flatten"]
    assert f["active"] is False
    assert f["last_done"] == {"dust": True, "position_lots": 1, "attempts": 2, "ts_ns": sc.now}


def test_runtime_runs_during_the_session_and_freezes_at_stop() -> None:
    sc = Script()
    assert sc.summary()["runtime_s"] == 0.0
    sc.start()
    sc.wait(90 * NS_PER_S)
    assert sc.summary()["runtime_s"] == 90.0
    sc.wait(10 * NS_PER_S)
    sc.stop()
    sc.wait(200 * NS_PER_S)
    s = sc.summary()
    assert s["runtime_s"] == 100.0
    assert s["session"]["end_ns"] == s["session"]["start_ns"] + 100 * NS_PER_S


def test_pnl_today_counts_from_utc_midnight() -> None:
    sc = Script(t0_ns=MIDNIGHT - 2 * 3600 * NS_PER_S)  # 22:00 the day before
    sc.book(10_000, 10_002)
    sc.start()
    sc.fill(Side.BUY, 10_000, 100)
    sc.book(10_010, 10_012)  # mid 10 011: +11 ticks on 1 BNB before midnight
    assert sc.summary()["pnl_today"] == pytest.approx(0.11)
    sc.clock.set(MIDNIGHT + 60 * NS_PER_S)
    sc.book(10_030, 10_032)  # +20 ticks after midnight
    s = sc.summary()
    assert s["pnl_total"] == pytest.approx(0.31)
    assert s["pnl_today"] == pytest.approx(0.20)


def test_pnl_today_resets_when_the_clock_passes_midnight_without_events() -> None:
    sc = Script(t0_ns=MIDNIGHT - 60 * NS_PER_S)
    sc.book(10_000, 10_002)
    sc.start()
    sc.fill(Side.SELL, 10_000, 100, "0.05")
    assert sc.summary()["pnl_today"] == pytest.approx(sc.summary()["pnl_total"])
    sc.clock.set(MIDNIGHT + NS_PER_S)
    s = sc.summary()
    assert s["pnl_today"] == 0.0
    assert s["pnl_total"] != 0.0


def test_a_venue_position_correction_takes_the_venue_entry_like_the_engine() -> None:
    sc = Script()
    sc.book(10_000, 10_002)
    sc.start()
    sc.monitor.publish(
        PositionUpdate(**sc.stamp(), symbol=INST.symbol, size_lots=4, entry_price_ticks=9_991.0)
    )
    assert sc.summary()["position_lots"] == 4
    assert sc.summary()["pnl_total"] == pytest.approx(10 * 0.01 * 0.04)
    sc.book(10_010, 10_012)
    assert sc.summary()["pnl_total"] == pytest.approx(20 * 0.01 * 0.04)


def test_a_reconcile_correction_mid_session_is_valued_at_the_mid_like_the_engine() -> None:
    sc = Script()
    sc.book(10_000, 10_002)
    sc.start()
    sc.monitor.publish(
        ReconcileSnapshot(**sc.stamp(), symbol=INST.symbol, open_orders=(), position_lots=-3,
                          equity=1000.0, free_margin=1000.0)
    )  # fmt: skip
    assert sc.summary()["position_lots"] == -3
    assert sc.summary()["pnl_total"] == pytest.approx(0.0)
    sc.book(9_990, 9_992)
    assert sc.summary()["pnl_total"] == pytest.approx(10 * 0.01 * 0.03)


def test_a_position_held_at_a_start_without_a_book_is_valued_from_the_first_mid() -> None:
    sc = Script()
    sc.start(position_lots=-2)
    assert sc.summary()["pnl_total"] == 0.0
    sc.book(10_000, 10_002)
    assert sc.summary()["pnl_total"] == pytest.approx(0.0)
    sc.book(9_990, 9_992)
    assert sc.summary()["pnl_total"] == pytest.approx(10 * 0.01 * 0.02)


def test_session_pnl_matches_session_stats_on_the_same_fills() -> None:
    sc = Script()
    sc.book(10_000, 10_002)
    sc.start()
    stats = SessionStats(INST)
    fills = [(Side.BUY, 10_000, 5, "-0.0005"), (Side.SELL, 10_004, 3, "-0.0003"),
             (Side.SELL, 10_006, 4, "0.002"), (Side.BUY, 9_998, 2, "-0.0002")]  # fmt: skip
    for side, price, lots, fee in fills:
        sc.fill(side, price, lots, fee)
        stats._fill(
            OrderFilled(ts_ns=0, local_ns=0, client_order_id=0, trade_id="", symbol="", side=side,
                        price_ticks=price, size_lots=lots, fee=Decimal(fee), is_maker=True)
        )  # fmt: skip
    s = sc.summary()
    ref = stats.summary(10_001)
    assert s["pnl_total"] == pytest.approx(ref["pnl_net"])
    assert s["session_volume"] == pytest.approx(ref["volume_notional"])
    assert s["wear_per_10k"] == pytest.approx(ref["wear_bps"])


def test_the_series_samples_once_per_second_of_event_time() -> None:
    sc = Script()
    sc.book(10_000, 10_002)
    sc.start()
    for _ in range(50):  # 5 s of events every 100 ms
        sc.wait(100 * NS_PER_MS)
        sc.fill(Side.BUY, 10_000, 1)
    series = sc.monitor.series.query()
    assert len(series["ts_ns"]) in (5, 6)
    assert all(t % NS_PER_S == 0 for t in series["ts_ns"])
    assert series["volume"] == sorted(series["volume"])
    assert series["volume"][-1] > 0
    assert series["mid"][-1] == pytest.approx(100.01)
    assert series["position"][-1] > 0


def test_publish_counts_an_unexpected_error_instead_of_raising() -> None:
    sc = Script()
    sc.book(10_000, 10_002)
    broken: Any = OrderFilled(
        ts_ns=sc.now, local_ns=sc.now, client_order_id=1, trade_id="t", symbol="", side=Side.BUY,
        price_ticks=10_000, size_lots=1, fee=None, is_maker=True,  # type: ignore[arg-type]
    )  # fmt: skip
    sc.monitor.publish(broken)
    assert sc.monitor.errors == 1
    assert "OrderFilled" in sc.monitor.last_error
    assert sc.monitor.dropped == 0
