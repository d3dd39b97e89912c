from __future__ import annotations

from grvtmm.core.orders import Order, OrderStatus
from grvtmm.core.types import Side
from grvtmm.engine.requote import MAX_LIVE_PER_SIDE, plan_side
from grvtmm.strategy.base import Quote, RequoteParams

S = 1_000_000_000
DEBOUNCE = RequoteParams(
    price_tolerance_ticks=1, size_tolerance=0.2, min_order_age_ns=S, max_order_age_ns=60 * S
)
EAGER = RequoteParams(min_order_age_ns=0, place_before_cancel=False)


def order(
    cid: int, side: Side, price: int, lots: int = 10, created: int = 0, acked: bool = True
) -> Order:
    o = Order(cid, side, price, lots, created)
    if acked:
        o.status = OrderStatus.OPEN
        o.accepted_ns = created
    return o


def test_missing_side_is_placed() -> None:
    plan = plan_side(Side.BUY, Quote(100, 10), [], DEBOUNCE, 0)
    assert [(p.price_ticks, p.size_lots, p.reason) for p in plan.places] == [(100, 10, "missing")]
    assert not plan.cancels


def test_order_within_tolerance_is_kept() -> None:
    plan = plan_side(Side.BUY, Quote(101, 11), [order(1, Side.BUY, 100)], DEBOUNCE, 5 * S)
    assert not plan.places and not plan.cancels


def test_moving_away_from_mid_replaces_at_once_new_before_old() -> None:
    young = order(1, Side.BUY, 100, created=0)
    plan = plan_side(Side.BUY, Quote(95, 10), [young], DEBOUNCE, S // 10)
    assert [p.reason for p in plan.places] == ["away"]
    assert [c.client_order_id for c in plan.cancels] == [1]
    ask = order(2, Side.SELL, 100)
    plan = plan_side(Side.SELL, Quote(105, 10), [ask], DEBOUNCE, S // 10)
    assert [p.reason for p in plan.places] == ["away"]


def test_moving_toward_mid_waits_for_min_order_age() -> None:
    o = order(1, Side.BUY, 100, created=0)
    assert plan_side(Side.BUY, Quote(105, 10), [o], DEBOUNCE, S // 2).places == ()
    plan = plan_side(Side.BUY, Quote(105, 10), [o], DEBOUNCE, S)
    assert [p.reason for p in plan.places] == ["toward"]
    assert [c.reason for c in plan.cancels] == ["toward"]


def test_size_change_requotes_after_debounce() -> None:
    o = order(1, Side.SELL, 100, lots=10)
    assert plan_side(Side.SELL, Quote(100, 20), [o], DEBOUNCE, S // 2).places == ()
    plan = plan_side(Side.SELL, Quote(100, 20), [o], DEBOUNCE, 2 * S)
    assert [p.reason for p in plan.places] == ["size"]


def test_old_orders_are_refreshed() -> None:
    o = order(1, Side.BUY, 100, created=0)
    plan = plan_side(Side.BUY, Quote(100, 10), [o], DEBOUNCE, 61 * S)
    assert [p.reason for p in plan.places] == ["max_age"]


def test_side_off_cancels_working_orders_only() -> None:
    acked = order(1, Side.BUY, 100)
    pending = order(2, Side.BUY, 99, acked=False)
    plan = plan_side(Side.BUY, None, [acked, pending], DEBOUNCE, S)
    assert [c.client_order_id for c in plan.cancels] == [1]


def test_pending_order_is_not_cancelled_but_replacement_goes_alongside() -> None:
    pending = order(1, Side.BUY, 100, acked=False)
    plan = plan_side(Side.BUY, Quote(98, 10), [pending], EAGER, 0)
    assert [p.price_ticks for p in plan.places] == [98]
    assert not plan.cancels
    keeper = order(2, Side.BUY, 98)
    pending.status = OrderStatus.OPEN
    plan = plan_side(Side.BUY, Quote(98, 10), [pending, keeper], EAGER, 1)
    assert not plan.places and [c.client_order_id for c in plan.cancels] == [1]


def test_orders_being_cancelled_are_ignored_and_stacking_is_bounded() -> None:
    cancelling = [order(i, Side.BUY, 90 + i) for i in range(MAX_LIVE_PER_SIDE)]
    for o in cancelling:
        o.cancel_requested_ns = 1
    plan = plan_side(Side.BUY, Quote(100, 10), cancelling, EAGER, 2)
    assert not plan.places and not plan.cancels
