"""Order states and fills from GRVT (any order, repeated) → core events, each exactly once."""

from __future__ import annotations

from decimal import Decimal

from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    PositionUpdate,
)
from grvtmm.core.types import Side
from grvtmm.venues.grvt.parse import FillInfo, OrderState
from grvtmm.venues.grvt.tracker import OrderTracker
from grvtmm.venues.grvt.ws import SequenceTracker, Verdict

SYMBOL = "BNB_USDT_Perp"
CID = 2**63 + 11


def placed(tracker: OrderTracker, cid: int = CID, lots: int = 10) -> None:
    tracker.placed(
        PlaceOrder(
            ts_ns=0,
            client_order_id=cid,
            symbol=SYMBOL,
            side=Side.BUY,
            price_ticks=60000,
            size_lots=lots,
        ),
        1,
    )


def state(
    status: str, reason: str = "UNSPECIFIED", cid: int = CID, oid: str = "0x0a"
) -> OrderState:
    return OrderState(cid, oid, status, reason, 0, 0, 5)


def fill(trade: str, lots: int, ts: int, side: Side = Side.BUY, cid: int = CID) -> FillInfo:
    return FillInfo(SYMBOL, cid, "0x0a", trade, side, 60000, lots, Decimal("-0.01"), True, ts)


def test_pending_ack_is_silent_and_open_accepts_once() -> None:
    t = OrderTracker(SYMBOL)
    placed(t)
    assert t.on_state(state("PENDING", oid="0x00"), 9) == []
    first = t.on_state(state("OPEN"), 9)
    assert [type(e) for e in first] == [OrderAccepted]
    assert first[0].venue_order_id == "0x0a"  # type: ignore[attr-defined]
    assert t.on_state(state("OPEN"), 9) == []  # v1.order and v1.state both report it


def test_async_post_only_reject_and_reject_like_cancel() -> None:
    t = OrderTracker(SYMBOL)
    placed(t, CID)
    placed(t, CID + 1)
    rejected = t.on_state(state("REJECTED", "FAIL_POST_ONLY"), 9)
    assert isinstance(rejected[0], OrderRejected) and rejected[0].reason == "FAIL_POST_ONLY"
    cancelled = t.on_state(state("CANCELLED", "FAIL_POST_ONLY", cid=CID + 1), 9)
    assert isinstance(cancelled[0], OrderRejected)
    assert t.on_state(state("REJECTED", "FAIL_POST_ONLY"), 9) == []  # reported once


def test_cancel_of_an_open_order_is_a_cancel() -> None:
    t = OrderTracker(SYMBOL)
    placed(t)
    t.on_state(state("OPEN"), 9)
    out = t.on_state(state("CANCELLED", "CLIENT_CANCEL"), 9)
    assert isinstance(out[0], OrderCanceled) and out[0].reason == "client_cancel"


def test_fills_are_unique_and_count_down_the_order() -> None:
    t = OrderTracker(SYMBOL)
    placed(t, lots=10)
    first = t.on_fill(fill("1-1", 4, 100), 9)
    assert isinstance(first[0], OrderFilled) and first[0].leaves_lots == 6
    assert t.on_fill(fill("1-1", 4, 100), 9) == []  # the same fill again, via REST
    assert t.duplicate_fills == 1
    last = t.on_fill(fill("2-1", 6, 200), 9)
    assert last[0].leaves_lots == 0  # type: ignore[attr-defined]
    assert t.live() == []


def test_position_is_last_report_plus_later_fills() -> None:
    t = OrderTracker(SYMBOL)
    assert t.position_lots() is None
    t.on_position(5, 60000.0, report_ns=100, local_ns=1)
    out = t.on_fill(fill("3-1", 2, 150), 2)
    assert isinstance(out[1], PositionUpdate) and out[1].size_lots == 7
    # a REST read stamped before that fill reports 5 again: the fill still counts
    assert t.on_position(5, 60000.0, report_ns=120, local_ns=3)[0].size_lots == 7  # type: ignore[attr-defined]
    # a later report counts the fill itself
    assert t.on_position(7, 60000.0, report_ns=160, local_ns=4)[0].size_lots == 7  # type: ignore[attr-defined]
    # a fill that arrives after a report already counting it is not added twice
    late = t.on_fill(fill("4-1", 3, 155, Side.SELL), 5)
    assert late[1].size_lots == 7  # type: ignore[attr-defined]
    # an older report is ignored
    assert t.on_position(0, 0.0, report_ns=90, local_ns=6) == []


def test_fills_of_other_instruments_are_ignored() -> None:
    t = OrderTracker(SYMBOL)
    other = FillInfo("XRP_USDT_Perp", 1, "", "9-1", Side.BUY, 1, 1, Decimal(0), True, 1)
    assert t.on_fill(other, 1) == []


def test_vanished_order_is_rejected_if_never_open_else_cancelled() -> None:
    t = OrderTracker(SYMBOL)
    placed(t, CID)
    placed(t, CID + 1)
    t.on_state(state("OPEN", cid=CID + 1), 1)
    assert isinstance(t.vanished(CID, 2)[0], OrderRejected)
    assert isinstance(t.vanished(CID + 1, 2)[0], OrderCanceled)


def test_zero_snapshot_then_deltas_from_first_sequence_number() -> None:
    key = ("v1.book.d", SYMBOL)
    s = SequenceTracker()
    s.expect(key)
    s.acked(key, first_sequence=2813)
    assert s.check(key, 0, 0) is Verdict.FIRST
    assert s.check(key, 2812, 2811) is Verdict.STALE  # from before the snapshot
    assert s.check(key, 2813, 2812) is Verdict.NEXT
    assert s.check(key, 2814, 2813) is Verdict.NEXT
    s.expect(key)
    s.acked(key, first_sequence=50)
    s.check(key, 0, 0)
    assert s.check(key, 52, 51) is Verdict.GAP  # the first delta after the snapshot is missing
