"""Prometheus exposition: names, help, values, a registry per monitor."""

from __future__ import annotations

import math
from decimal import Decimal

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from grvtmm.core.clock import NS_PER_S, SimClock
from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    BookSnapshot,
    BreakerTripped,
    EngineMode,
    EngineWarning,
    Event,
    ModeChanged,
    OrderFilled,
    OrderRejected,
    ReconcileSnapshot,
)
from grvtmm.core.types import Instrument, Side
from grvtmm.monitor.metrics import Monitor
from grvtmm.monitor.prometheus import CONTENT_TYPE, build_registry, render

INST = Instrument("BNB_USDT_Perp", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"))
T0 = 1_767_225_600 * NS_PER_S
M = EngineMode


def _fill(t: int, side: Side, price: int, lots: int, fee: str) -> OrderFilled:
    return OrderFilled(ts_ns=t, local_ns=t, client_order_id=1, trade_id=str(t), symbol=INST.symbol,
                       side=side, price_ticks=price, size_lots=lots, fee=Decimal(fee),
                       is_maker=True)  # fmt: skip


def _place(t: int, reason: str) -> PlaceOrder:
    return PlaceOrder(ts_ns=t, client_order_id=t, symbol=INST.symbol, side=Side.BUY,
                      price_ticks=9_999, size_lots=1, reason=reason)  # fmt: skip


def _scripted_monitor() -> tuple[Monitor, SimClock]:
    clock = SimClock(T0)
    monitor = Monitor(INST, clock)
    t = T0
    items: list[Event | PlaceOrder] = [
        BookSnapshot(ts_ns=t, local_ns=t, symbol=INST.symbol, bids=((10_000, 5),), asks=((10_002, 5),)),
        _fill(t, Side.BUY, 10_000, 2, "-0.001"),  # before the session: lifetime counters only
        ModeChanged(ts_ns=t, local_ns=t, old=M.IDLE, new=M.RECONCILING, reason="start"),
        ReconcileSnapshot(ts_ns=t, local_ns=t, symbol=INST.symbol, open_orders=(),
                          position_lots=2, equity=1000.0, free_margin=900.0),
        ModeChanged(ts_ns=t, local_ns=t, old=M.RECONCILING, new=M.RUNNING, reason="reconciled"),
        _place(t + 1, "missing"),
        _place(t + 2, "away"),
        _place(t + 3, "away"),
        _fill(t + 4, Side.SELL, 10_010, 1, "-0.0005"),
        _fill(t + 5, Side.SELL, 10_010, 1, "0.002"),
        OrderRejected(ts_ns=t, local_ns=t, client_order_id=9, reason="FAIL_POST_ONLY"),
        EngineWarning(ts_ns=t, local_ns=t, code="book_gap", detail=""),
        BreakerTripped(ts_ns=t, local_ns=t, breaker="stale_data", detail="", value=12, limit=10),
    ]  # fmt: skip
    for item in items:
        monitor.publish(item)
    clock.set(T0 + 30 * NS_PER_S)
    return monitor, clock


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_text_carries_the_monitor_figures() -> None:
    monitor, _ = _scripted_monitor()
    text = render(build_registry(monitor, lambda: {"store": 3, "alerts": 0})).decode()
    v = _samples(text)
    summary = monitor.summary()
    assert v[("grvtmm_fills_total", ())] == 3
    assert v[("grvtmm_session_fills", ())] == 2
    assert v[("grvtmm_volume_notional_total", ())] == monitor.totals.volume_notional
    assert v[("grvtmm_session_volume_notional", ())] == summary["session_volume"]
    assert v[("grvtmm_rebates_total", ())] == 0.0015
    assert v[("grvtmm_fee_costs_total", ())] == 0.002
    assert v[("grvtmm_session_rebates", ())] == 0.0005
    assert v[("grvtmm_session_fee_costs", ())] == 0.002
    assert v[("grvtmm_pnl_total", ())] == summary["pnl_total"]
    assert v[("grvtmm_wear_per_10k", ())] == summary["wear_per_10k"]
    assert v[("grvtmm_position", ())] == 0.0
    assert v[("grvtmm_equity", ())] == summary["equity"]
    assert v[("grvtmm_free_margin", ())] == 900.0
    assert v[("grvtmm_session_runtime_seconds", ())] == 30.0
    assert v[("grvtmm_session_id", ())] == 1
    assert v[("grvtmm_rejects_total", (("reason", "FAIL_POST_ONLY"),))] == 1
    assert v[("grvtmm_requotes_total", (("reason", "away"),))] == 2
    assert ("grvtmm_requotes_total", (("reason", "missing"),)) not in v
    assert v[("grvtmm_orders_placed_total", (("reason", "missing"),))] == 1
    assert v[("grvtmm_warnings_total", (("code", "book_gap"),))] == 1
    assert v[("grvtmm_breaker_tripped", (("breaker", "stale_data"),))] == 1
    assert v[("grvtmm_breaker_tripped", (("breaker", "drawdown"),))] == 0
    assert v[("grvtmm_breaker_value", (("breaker", "stale_data"),))] == 12
    assert v[("grvtmm_breaker_trips_total", (("breaker", "stale_data"),))] == 1
    assert v[("grvtmm_sink_dropped_total", (("sink", "store"),))] == 3
    assert v[("grvtmm_sink_dropped_total", (("sink", "alerts"),))] == 0
    assert v[("grvtmm_engine_mode", (("mode", "running"),))] == 1
    assert v[("grvtmm_engine_mode", (("mode", "idle"),))] == 0
    assert v[("grvtmm_monitor_errors_total", ())] == 0


def test_every_metric_has_the_prefix_and_a_help_text() -> None:
    monitor, _ = _scripted_monitor()
    families = list(text_string_to_metric_families(render(build_registry(monitor)).decode()))
    assert len(families) > 30
    for family in families:
        assert family.name.startswith("grvtmm_")
        assert family.documentation


def test_unknown_values_are_nan_not_missing() -> None:
    monitor = Monitor(INST, SimClock(T0))
    v = _samples(render(build_registry(monitor)).decode())
    assert math.isnan(v[("grvtmm_equity", ())])
    assert math.isnan(v[("grvtmm_resting_seconds", (("quantile", "0.5"),))])
    assert math.isnan(v[("grvtmm_quote_distance_ticks", (("side", "bid"),))])


def test_each_monitor_has_its_own_registry() -> None:
    a, _ = _scripted_monitor()
    b = Monitor(INST, SimClock(T0))
    text_a = render(build_registry(a)).decode()
    text_b = render(build_registry(b)).decode()
    assert _samples(text_a)[("grvtmm_fills_total", ())] == 3
    assert _samples(text_b)[("grvtmm_fills_total", ())] == 0
    assert "grvtmm_" not in render(REGISTRY).decode()
    assert CONTENT_TYPE.startswith("text/plain")
