"""MatchingEngine scenarios: no-partial-fill maker rules, taker paths, rejects, fees."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_cases import SYMBOL, asks, bids, trade
from sim_cases import place as order

from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    BookSnapshot,
    CancelRejected,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
)
from grvtmm.core.types import FeeSchedule, Instrument, Side, TimeInForce
from grvtmm.venues.sim.matching import MatchingEngine, PowerProbQueue, RiskAverseQueue

BTC = Instrument(SYMBOL, Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
FEES = FeeSchedule(maker_rate=Decimal("-0.0001"), taker_rate=Decimal("0.0004"))


def engine(venue: Instrument | None = None, *, prob: bool = False) -> MatchingEngine:
    queue = PowerProbQueue(3) if prob else RiskAverseQueue()
    eng = MatchingEngine(BTC, FEES, queue, venue)
    eng.on_market(
        BookSnapshot(
            ts_ns=1,
            local_ns=1,
            symbol=SYMBOL,
            bids=((1000, 10), (999, 20), (998, 30)),
            asks=((1001, 2), (1002, 3), (1003, 5)),
        )
    )
    return eng


def fills(events: tuple[Event, ...] | list[Event]) -> list[OrderFilled]:
    return [e for e in events if isinstance(e, OrderFilled)]


def only(events: tuple[Event, ...] | list[Event], kind: type[Event]) -> Event:
    assert len(events) == 1, events
    assert isinstance(events[0], kind)
    return events[0]


# ---- resting orders and the queue -------------------------------------------------------------
def test_post_only_order_rests_behind_the_level() -> None:
    eng = engine()
    accepted = only(eng.submit(order(1, Side.BUY, 1000), 5), OrderAccepted)
    assert accepted.ts_ns == 5
    assert isinstance(accepted, OrderAccepted)
    assert eng.open_orders()[0].venue_order_id == accepted.venue_order_id != ""
    assert eng.queue_ahead_lots(1) == 10.0
    assert [(o.client_order_id, o.price_ticks, o.leaves_lots) for o in eng.open_orders()] == [
        (1, 1000, 2)
    ]


def test_trades_at_price_fill_only_after_queue_is_cleared() -> None:
    eng = engine()
    eng.submit(order(1, Side.BUY, 1000, 3), 5)
    assert eng.on_market(trade(6, 1000, 10, Side.SELL)) == ()  # exactly clears the queue
    assert eng.queue_ahead_lots(1) == 0.0
    (fill,) = fills(eng.on_market(trade(7, 1000, 1, Side.SELL)))
    assert (fill.client_order_id, fill.side, fill.price_ticks, fill.size_lots) == (
        1,
        Side.BUY,
        1000,
        3,
    )
    assert fill.is_maker and fill.leaves_lots == 0 and fill.ts_ns == 7
    assert eng.open_orders() == ()
    assert eng.position_lots == 3


def test_same_side_aggressor_trades_do_not_move_our_queue() -> None:
    eng = engine()
    eng.submit(order(1, Side.BUY, 1000), 5)
    assert eng.on_market(trade(6, 1000, 50, Side.BUY)) == ()
    assert eng.queue_ahead_lots(1) == 10.0


def test_risk_averse_depth_decrease_caps_queue_in_engine() -> None:
    eng = engine()
    eng.submit(order(1, Side.SELL, 1002), 5)
    assert eng.queue_ahead_lots(1) == 3.0
    eng.on_market(asks(6, (1002, 1)))
    assert eng.queue_ahead_lots(1) == 1.0
    eng.on_market(asks(7, (1002, 40)))
    assert eng.queue_ahead_lots(1) == 1.0
    (fill,) = fills(eng.on_market(trade(8, 1002, 2, Side.BUY)))
    assert fill.price_ticks == 1002 and fill.side is Side.SELL


def test_power_prob_depth_decrease_moves_queue_in_engine() -> None:
    eng = engine(prob=True)
    eng.submit(order(1, Side.BUY, 999), 5)
    eng.on_market(bids(6, (999, 12)))  # 8 lots gone; 20 ahead, 0 behind → all from the front
    assert eng.queue_ahead_lots(1) == pytest.approx(12.0)
    eng.on_market(bids(7, (999, 30)))  # 18 join behind us
    eng.on_market(bids(8, (999, 20)))
    p_behind = 18**3 / (18**3 + 12**3)
    assert eng.queue_ahead_lots(1) == pytest.approx(12 - (1 - p_behind) * 10)


def test_book_crossing_our_price_fills_at_our_price() -> None:
    eng = engine()
    eng.submit(order(1, Side.BUY, 999), 5)
    eng.submit(order(2, Side.BUY, 998), 5)
    out = eng.on_market(asks(6, (997, 4)))  # best ask falls through both bids
    got = [(f.client_order_id, f.price_ticks, f.is_maker) for f in fills(out)]
    assert got == [(1, 999, True), (2, 998, True)]
    assert eng.position_lots == 4


def test_bid_rising_to_our_ask_fills_it() -> None:
    eng = engine()
    eng.submit(order(1, Side.SELL, 1002), 5)
    (fill,) = fills(eng.on_market(bids(6, (1002, 1))))
    assert (fill.side, fill.price_ticks, fill.size_lots) == (Side.SELL, 1002, 2)


def test_trade_through_our_price_fills_regardless_of_queue() -> None:
    eng = engine()
    eng.submit(order(1, Side.BUY, 999), 5)
    (fill,) = fills(eng.on_market(trade(6, 998, 1, Side.SELL)))
    assert fill.price_ticks == 999 and fill.size_lots == 2


def test_trade_above_our_bid_does_nothing() -> None:
    eng = engine()
    eng.submit(order(1, Side.BUY, 999), 5)
    assert eng.on_market(trade(6, 1000, 100, Side.SELL)) == ()
    assert eng.queue_ahead_lots(1) == 20.0


def test_level_deletion_and_one_trade_fills_the_order() -> None:
    eng = engine()
    eng.submit(order(1, Side.BUY, 998), 5)
    eng.on_market(bids(6, (998, 0)))
    assert eng.queue_ahead_lots(1) == 0.0
    assert len(fills(eng.on_market(trade(7, 998, 1, Side.SELL)))) == 1


def test_crossed_insert_moves_the_other_best_past_it() -> None:
    eng = engine()
    eng.on_market(bids(6, (1001, 4)))  # bid at the best ask: asks' best moves up, 1001 stays stale
    assert (eng.book.best_bid, eng.book.best_ask) == (1001, 1002)
    assert eng.book.asks[1001] == 2
    only(eng.submit(order(1, Side.SELL, 1002), 7), OrderAccepted)
    eng.on_market(bids(8, (1001, 0)))
    assert eng.book.best_bid == 1000
    eng.on_market(asks(9, (1001, 0)))
    assert eng.book.best_ask == 1002


def test_snapshot_fills_crossed_orders_and_caps_queue() -> None:
    eng = engine()
    eng.submit(order(1, Side.SELL, 1003), 5)
    eng.submit(order(2, Side.BUY, 999), 5)
    out = eng.on_market(
        BookSnapshot(
            ts_ns=9, local_ns=9, symbol=SYMBOL, bids=((1003, 1), (999, 4)), asks=((1004, 1),)
        )
    )
    assert [f.client_order_id for f in fills(out)] == [1]
    assert eng.queue_ahead_lots(2) == 4.0


# ---- arrival rules ----------------------------------------------------------------------------
def test_post_only_that_would_cross_is_rejected() -> None:
    eng = engine()
    rej = only(eng.submit(order(1, Side.BUY, 1001), 5), OrderRejected)
    assert rej.reason == "post_only_would_cross"
    rej = only(eng.submit(order(2, Side.SELL, 1000), 5), OrderRejected)
    assert rej.reason == "post_only_would_cross"
    assert eng.open_orders() == ()


def test_crossing_gtt_limit_takes_whole_size_at_best() -> None:
    eng = engine()
    out = eng.submit(order(1, Side.BUY, 1003, 9, post_only=False), 5)
    assert isinstance(out[0], OrderAccepted)
    (fill,) = fills(out)
    assert (fill.price_ticks, fill.size_lots, fill.is_maker) == (1001, 9, False)
    assert fill.fee == Decimal("0.0004") * Decimal("100.1") * Decimal("0.009")


def test_ioc_walks_the_book_and_cancels_the_rest_without_market_impact() -> None:
    eng = engine()
    before = dict(eng.book.asks)
    out = eng.submit(order(1, Side.BUY, 1002, 8, post_only=False, tif=TimeInForce.IOC), 5)
    got = [(f.price_ticks, f.size_lots, f.leaves_lots, f.is_maker) for f in fills(out)]
    assert got == [(1001, 2, 6, False), (1002, 3, 3, False)]
    cancel = out[-1]
    assert isinstance(cancel, OrderCanceled) and cancel.reason == "ioc_expired"
    assert eng.book.asks == before and eng.book.best_ask == 1001
    assert eng.position_lots == 5 and eng.open_orders() == ()


def test_sell_ioc_walks_bids_best_first() -> None:
    eng = engine()
    out = eng.submit(order(1, Side.SELL, 990, 15, post_only=False, tif=TimeInForce.IOC), 5)
    assert [(f.price_ticks, f.size_lots) for f in fills(out)] == [(1000, 10), (999, 5)]
    assert not isinstance(out[-1], OrderCanceled)


def test_ioc_that_does_not_cross_expires() -> None:
    eng = engine()
    out = eng.submit(order(1, Side.BUY, 1000, post_only=False, tif=TimeInForce.IOC), 5)
    assert isinstance(out[0], OrderAccepted)
    assert isinstance(out[1], OrderCanceled) and out[1].reason == "ioc_expired"
    assert len(out) == 2


def test_fok_fills_all_or_nothing() -> None:
    eng = engine()
    out = eng.submit(order(1, Side.BUY, 1002, 6, post_only=False, tif=TimeInForce.FOK), 5)
    assert fills(out) == [] and out[-1].reason == "fok_expired"  # type: ignore[attr-defined]
    out = eng.submit(order(2, Side.BUY, 1002, 5, post_only=False, tif=TimeInForce.FOK), 6)
    assert sum(f.size_lots for f in fills(out)) == 5


def test_post_only_ioc_is_refused() -> None:
    eng = engine()
    rej = only(eng.submit(order(1, Side.BUY, 1001, tif=TimeInForce.IOC), 5), OrderRejected)
    assert rej.code == 2032


def test_duplicate_active_client_order_id_is_refused() -> None:
    eng = engine()
    eng.submit(order(1, Side.BUY, 999), 5)
    assert only(eng.submit(order(1, Side.BUY, 998), 6), OrderRejected).code == 2012


# ---- reduce only ----------------------------------------------------------------------------
def go_long(eng: MatchingEngine, lots: int) -> None:
    out = eng.submit(order(900, Side.BUY, 1001, lots, post_only=False), 2)
    assert sum(f.size_lots for f in fills(out)) == lots


def test_reduce_only_without_position_is_refused() -> None:
    eng = engine()
    rej = only(eng.submit(order(1, Side.SELL, 1005, reduce_only=True), 5), OrderRejected)
    assert (rej.reason, rej.code) == ("reduce_only_no_position", 2400)


def test_reduce_only_that_would_increase_is_refused() -> None:
    eng = engine()
    go_long(eng, 3)
    rej = only(eng.submit(order(1, Side.BUY, 990, reduce_only=True), 5), OrderRejected)
    assert (rej.reason, rej.code) == ("reduce_only_would_increase", 2401)


def test_reduce_only_size_is_capped_to_the_position() -> None:
    eng = engine()
    go_long(eng, 3)
    cmd = order(1, Side.SELL, 990, 10, post_only=False, reduce_only=True, tif=TimeInForce.IOC)
    out = eng.submit(cmd, 5)
    assert [(f.size_lots, f.leaves_lots) for f in fills(out)] == [(3, 0)]
    assert isinstance(out[-1], OrderCanceled) and out[-1].reason == "reduce_only_limit"
    assert eng.position_lots == 0


def test_resting_reduce_only_is_recapped_when_position_shrank() -> None:
    eng = engine()
    go_long(eng, 3)
    eng.submit(order(1, Side.SELL, 1005, 3, reduce_only=True), 5)
    eng.submit(order(2, Side.SELL, 990, 2, post_only=False, tif=TimeInForce.IOC), 6)
    assert eng.position_lots == 1
    out = eng.on_market(bids(7, (1005, 1)))
    assert [(f.size_lots, f.price_ticks) for f in fills(out)] == [(1, 1005)]
    assert isinstance(out[-1], OrderCanceled) and out[-1].reason == "reduce_only_limit"
    assert eng.position_lots == 0


# ---- venue constraints ---------------------------------------------------------------------
def venue(**kw: str) -> Instrument:
    base = {"tick_size": "0.1", "size_step": "0.001", "min_size": "0.001", "min_notional": "0"}
    base.update(kw)
    return Instrument(
        SYMBOL,
        Decimal(base["tick_size"]),
        Decimal(base["size_step"]),
        Decimal(base["min_size"]),
        Decimal(base["min_notional"]),
    )


@pytest.mark.parametrize(
    ("constraints", "price", "lots", "reduce_only", "code"),
    [
        ({"tick_size": "0.5"}, 999, 2, False, 2064),
        ({"tick_size": "0.5"}, 995, 2, False, None),
        ({"min_size": "0.01"}, 999, 5, False, 2062),
        ({"size_step": "0.002", "min_size": "0.002"}, 999, 3, False, 2065),
        ({"size_step": "0.002", "min_size": "0.002"}, 999, 4, False, None),
        ({"min_notional": "100"}, 999, 2, False, 2066),
        ({"min_notional": "0.1998"}, 999, 2, False, None),
        ({"min_notional": "100"}, 999, 0, False, 2062),
    ],
)
def test_venue_constraint_rejects(
    constraints: dict[str, str], price: int, lots: int, reduce_only: bool, code: int | None
) -> None:
    eng = engine(venue(**constraints))
    out = eng.submit(order(1, Side.BUY, price, lots, reduce_only=reduce_only), 5)
    if code is None:
        only(out, OrderAccepted)
    else:
        assert only(out, OrderRejected).code == code


def test_reduce_only_is_exempt_from_min_notional() -> None:
    eng = engine(venue(min_notional="100"))
    go_long(eng, 1000)  # 1 BTC at 100.1 meets the 100 USDT minimum
    assert only(eng.submit(order(1, Side.SELL, 1005, 2), 5), OrderRejected).code == 2066
    only(eng.submit(order(2, Side.SELL, 1005, 2, reduce_only=True), 5), OrderAccepted)


# ---- cancels, ids, fees ---------------------------------------------------------------------
def test_cancel_unknown_or_filled_order_is_rejected() -> None:
    eng = engine()
    assert only(eng.cancel(42, 5), CancelRejected).reason == "unknown_order"
    eng.submit(order(1, Side.BUY, 999), 5)
    eng.on_market(trade(6, 998, 1, Side.SELL))
    assert only(eng.cancel(1, 7), CancelRejected).reason == "unknown_order"


def test_cancel_and_cancel_all_remove_resting_orders() -> None:
    eng = engine()
    for cid, price in ((1, 999), (2, 998), (3, 1005)):
        eng.submit(order(cid, Side.BUY if price < 1001 else Side.SELL, price), 5)
    assert only(eng.cancel(2, 6), OrderCanceled).client_order_id == 2
    out = eng.cancel_all(7)
    assert [e.client_order_id for e in out if isinstance(e, OrderCanceled)] == [1, 3]
    assert eng.open_orders() == ()
    assert eng.on_market(trade(8, 990, 5, Side.SELL)) == ()


def test_trade_ids_are_unique_and_sequential() -> None:
    eng = engine()
    out = eng.submit(order(1, Side.BUY, 1003, 9, post_only=False, tif=TimeInForce.IOC), 5)
    assert [f.trade_id for f in fills(out)] == ["sim-1", "sim-2", "sim-3"]


def test_maker_fee_is_an_exact_rebate() -> None:
    eng = engine()
    eng.submit(order(1, Side.SELL, 1003, 2), 5)
    (fill,) = fills(eng.on_market(trade(6, 1004, 1, Side.BUY)))
    assert fill.fee == Decimal("-0.00002006")  # -0.0001 × 100.3 × 0.002
    assert fill.fee < 0


def test_taker_fee_is_a_cost() -> None:
    eng = engine()
    (fill,) = fills(eng.submit(order(1, Side.SELL, 1000, 1, post_only=False), 5))
    assert fill.fee == Decimal("0.00004")  # 0.0004 × 100.0 × 0.001


# ---- properties ----------------------------------------------------------------------------
market_event = st.one_of(
    st.builds(
        lambda side, price, lots: ("depth", side, price, lots),
        st.booleans(),
        st.integers(990, 1010),
        st.integers(0, 8),
    ),
    st.builds(
        lambda side, price, lots: ("trade", side, price, lots),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(990, 1010),
        st.integers(1, 8),
    ),
    st.builds(
        lambda side, price, lots, kind: ("order", side, price, lots, kind),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(990, 1010),
        st.integers(1, 6),
        st.sampled_from(["gtx", "gtt", "ioc", "ro"]),
    ),
    st.builds(lambda cid: ("cancel", cid), st.integers(1, 40)),
)


def run_script(
    script: list[tuple[object, ...]], prob: bool
) -> tuple[MatchingEngine, list[Event], dict[int, PlaceOrder]]:
    eng = engine(prob=prob)
    events: list[Event] = []
    placed: dict[int, PlaceOrder] = {}
    for ts, step in enumerate(script, start=10):
        kind = step[0]
        if kind == "depth":
            _, is_bid, price, lots = step
            make = bids if is_bid else asks
            events += eng.on_market(make(ts, (price, lots)))  # type: ignore[arg-type]
        elif kind == "trade":
            _, side, price, lots = step
            events += eng.on_market(trade(ts, price, lots, side))  # type: ignore[arg-type]
        elif kind == "order":
            _, side, price, lots, how = step
            cid = len(placed) + 1
            cmd = order(
                cid,
                side,  # type: ignore[arg-type]
                price,  # type: ignore[arg-type]
                lots,  # type: ignore[arg-type]
                post_only=how == "gtx",
                reduce_only=how == "ro",
                tif=TimeInForce.IOC if how in ("ioc", "ro") else TimeInForce.GTT,
            )
            placed[cid] = cmd
            events += eng.submit(cmd, ts)
        else:
            events += eng.cancel(step[1], ts)  # type: ignore[arg-type]
    return eng, events, placed


@settings(max_examples=150, deadline=None)
@given(script=st.lists(market_event, max_size=60), prob=st.booleans())
def test_fill_invariants(script: list[tuple[object, ...]], prob: bool) -> None:
    eng, events, placed = run_script(script, prob)
    all_fills = fills(events)
    assert eng.position_lots == sum(int(f.side) * f.size_lots for f in all_fills)
    for f in all_fills:
        cmd = placed[f.client_order_id]
        # never worse than the limit; a maker fill is exactly at the order's own price
        assert (
            f.price_ticks <= cmd.price_ticks
            if f.side is Side.BUY
            else f.price_ticks >= cmd.price_ticks
        )
        if f.is_maker:
            assert f.price_ticks == cmd.price_ticks and f.leaves_lots == 0
        rate = FEES.maker_rate if f.is_maker else FEES.taker_rate
        assert f.fee == rate * (BTC.tick_size * f.price_ticks) * (BTC.size_step * f.size_lots)
    filled: dict[int, int] = {}
    for f in all_fills:
        filled[f.client_order_id] = filled.get(f.client_order_id, 0) + f.size_lots
    for cid, lots in filled.items():
        assert lots <= placed[cid].size_lots
    assert len({f.trade_id for f in all_fills}) == len(all_fills)
    book = eng.book
    assert not (book.best_bid and book.best_ask) or book.best_bid < book.best_ask
    for o in eng.open_orders():
        if o.side is Side.BUY and book.best_ask:
            assert o.price_ticks < book.best_ask
        if o.side is Side.SELL and book.best_bid:
            assert o.price_ticks > book.best_bid
