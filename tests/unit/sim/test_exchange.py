"""SimExchange: latency ordering on one timeline, response stamping, and account arithmetic."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_cases import SYMBOL, asks, bids, place, trade

from grvtmm.core.commands import CancelAll, CancelOrder, Command, Reconcile
from grvtmm.core.events import (
    AccountUpdate,
    BookSnapshot,
    CancelRejected,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    PositionUpdate,
    ReconcileSnapshot,
)
from grvtmm.core.types import FeeSchedule, Instrument, Side, TimeInForce
from grvtmm.venues.sim.exchange import SimExchange
from grvtmm.venues.sim.matching import (
    MatchingEngine,
    PowerProbQueue,
    QueueModel,
    RiskAverseQueue,
)

BTC = Instrument(SYMBOL, Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
FEES = FeeSchedule(maker_rate=Decimal("-0.0001"), taker_rate=Decimal("0.0004"))
UNIT = 0.1 * 0.001  # quote value of one tick × one lot


def exchange(entry_ns: int = 0, response_ns: int = 0, **kw: float) -> SimExchange:
    ex = SimExchange(
        BTC,
        FEES,
        queue=RiskAverseQueue(),
        entry_latency_ns=entry_ns,
        response_latency_ns=response_ns,
        **kw,  # type: ignore[arg-type]
    )
    ex.on_market(
        BookSnapshot(
            ts_ns=1,
            local_ns=1,
            symbol=SYMBOL,
            bids=((1000, 10), (999, 20)),
            asks=((1001, 10), (1002, 20)),
        )
    )
    return ex


def drain(ex: SimExchange) -> list[Event]:
    return ex.pop_responses(1 << 62)


# ---- latency ------------------------------------------------------------------------------------
def test_order_arrives_after_entry_latency_and_sees_the_book_then() -> None:
    ex = exchange(entry_ns=10, response_ns=7)
    ex.submit(place(1, Side.BUY, 1000), 100)
    assert ex.next_arrival_ns() == 110
    ex.on_market(bids(105, (1000, 3)))  # before arrival: the queue we join is 3, not 10
    ex.advance(110)
    assert ex.next_arrival_ns() is None
    assert ex.engine.queue_ahead_lots(1) == 3.0
    assert ex.next_response_ns() == 117
    assert ex.pop_responses(116) == []
    (ack,) = ex.pop_responses(117)
    assert isinstance(ack, OrderAccepted) and (ack.ts_ns, ack.local_ns) == (110, 117)


def test_advance_processes_arrivals_up_to_and_including_ts() -> None:
    ex = exchange(entry_ns=10)
    ex.submit(place(1, Side.BUY, 999), 0)
    ex.submit(place(2, Side.BUY, 998), 5)
    ex.advance(10)
    assert [o.client_order_id for o in ex.engine.open_orders()] == [1]
    ex.advance(15)
    assert [o.client_order_id for o in ex.engine.open_orders()] == [1, 2]


def test_fill_beats_an_in_flight_cancel() -> None:
    ex = exchange(entry_ns=10, response_ns=10)
    ex.submit(place(1, Side.BUY, 999), 0)
    ex.advance(10)
    ex.submit(CancelOrder(ts_ns=100, client_order_id=1, symbol=SYMBOL), 100)
    ex.on_market(trade(105, 998, 1, Side.SELL))  # prints through our bid before the cancel lands
    ex.on_market(trade(120, 1000, 1, Side.SELL))
    got = [(type(e).__name__, e.ts_ns, e.local_ns) for e in drain(ex)]
    assert got == [
        ("OrderAccepted", 10, 20),
        ("OrderFilled", 105, 115),
        ("PositionUpdate", 105, 115),
        ("AccountUpdate", 105, 115),
        ("CancelRejected", 110, 120),
    ]


def test_cancel_that_lands_first_prevents_the_fill() -> None:
    ex = exchange(entry_ns=10)
    ex.submit(place(1, Side.BUY, 999), 0)
    ex.submit(CancelOrder(ts_ns=50, client_order_id=1, symbol=SYMBOL), 50)
    ex.on_market(trade(105, 998, 1, Side.SELL))
    kinds = [type(e) for e in drain(ex)]
    assert kinds == [OrderAccepted, OrderCanceled]
    assert ex.position_lots == 0


def test_market_event_at_arrival_time_is_applied_first() -> None:
    ex = exchange(entry_ns=10)
    ex.submit(place(1, Side.BUY, 1000), 0)
    ex.on_market(asks(10, (1000, 5)))  # the ask reaches 1000 exactly when the order lands
    ex.advance(10)
    (rej,) = drain(ex)
    assert isinstance(rej, OrderRejected) and rej.reason == "post_only_would_cross"


def test_commands_stay_fifo_on_the_wire() -> None:
    ex = exchange(entry_ns=10)
    ex.submit(place(1, Side.BUY, 999), 0)
    ex.submit(CancelOrder(ts_ns=0, client_order_id=1, symbol=SYMBOL), 0)
    ex.advance(10)
    assert [type(e) for e in drain(ex)] == [OrderAccepted, OrderCanceled]


def test_a_request_sent_with_an_earlier_stamp_still_queues_behind() -> None:
    ex = exchange(entry_ns=10)
    ex.submit(place(1, Side.BUY, 999), 100)
    ex.submit(CancelOrder(ts_ns=50, client_order_id=1, symbol=SYMBOL), 50)
    assert ex.next_arrival_ns() == 110
    ex.advance(110)
    assert [type(e) for e in drain(ex)] == [OrderAccepted, OrderCanceled]


def test_late_arrival_is_processed_at_current_exchange_time() -> None:
    ex = exchange()
    ex.on_market(trade(500, 1000, 1, Side.SELL))
    ex.submit(place(1, Side.BUY, 999), 100)
    ex.advance(500)
    (ack,) = drain(ex)
    assert ack.ts_ns == 500


def test_cancel_all_and_reconcile() -> None:
    ex = exchange(response_ns=5)
    ex.submit(place(1, Side.BUY, 999), 10)
    ex.submit(place(2, Side.SELL, 1002), 10)
    ex.submit(Reconcile(ts_ns=11, symbol=SYMBOL), 11)
    ex.submit(CancelAll(ts_ns=12, symbol=SYMBOL), 12)
    ex.advance(12)
    events = drain(ex)
    snap = events[2]
    assert isinstance(snap, ReconcileSnapshot)
    assert [(o.client_order_id, o.side) for o in snap.open_orders] == [
        (1, Side.BUY),
        (2, Side.SELL),
    ]
    assert snap.position_lots == 0 and snap.equity == 1000.0 and snap.local_ns == 16
    assert [e.client_order_id for e in events[3:] if isinstance(e, OrderCanceled)] == [1, 2]


def test_unsupported_command_is_refused() -> None:
    ex = exchange()
    with pytest.raises(TypeError):
        ex.submit(Command(ts_ns=0), 0)


def test_negative_latency_is_refused() -> None:
    with pytest.raises(ValueError):
        SimExchange(BTC, FEES, queue=RiskAverseQueue(), entry_latency_ns=-1)


# ---- account ------------------------------------------------------------------------------------
def test_account_updates_follow_each_fill() -> None:
    ex = exchange(leverage=10.0)
    ex.submit(place(1, Side.BUY, 1002, 3, post_only=False, tif=TimeInForce.IOC), 5)
    ex.advance(5)
    events = drain(ex)
    kinds = [type(e) for e in events]
    assert kinds == [OrderAccepted, OrderFilled, PositionUpdate, AccountUpdate]
    pos = events[2]
    acct = events[3]
    assert isinstance(pos, PositionUpdate) and isinstance(acct, AccountUpdate)
    assert (pos.size_lots, pos.entry_price_ticks) == (3, 1001.0)
    fee = Decimal("0.0004") * Decimal("100.1") * Decimal("0.003")
    mid = 1000.5
    expected_equity = 1000.0 + 3 * (mid - 1001) * UNIT - float(fee)
    assert acct.source == "sim"
    assert acct.equity == pytest.approx(expected_equity, abs=1e-12)
    assert acct.used_margin == pytest.approx(3 * mid * UNIT / 10.0)
    assert acct.free_margin == pytest.approx(acct.equity - acct.used_margin)
    assert ex.fees_paid == fee


def test_realized_pnl_average_cost_and_flip() -> None:
    ex = exchange()
    buy = dict(post_only=False, tif=TimeInForce.IOC)
    ex.submit(place(1, Side.BUY, 1001, 4, **buy), 1)  # long 4 @ 1001
    ex.advance(1)
    ex.on_market(bids(2, (1010, 50)))  # the market moves up
    ex.submit(place(2, Side.SELL, 1010, 6, **buy), 3)  # sell 6 @ 1010: close 4, open short 2
    ex.advance(3)
    assert ex.position_lots == -2
    assert ex.entry_price_ticks == 1010.0
    assert ex.realized_pnl == pytest.approx(4 * 9 * UNIT)
    assert ex.fill_count == 2
    assert ex.volume_notional == Decimal("0.4004") + Decimal("0.606")


def test_equity_counts_rebates_as_income() -> None:
    ex = exchange()
    ex.submit(place(1, Side.BUY, 1000, 2), 1)
    ex.advance(1)
    ex.on_market(trade(2, 999, 1, Side.SELL))
    assert ex.fees_paid == Decimal("-0.00002")
    mid = ex.mark_ticks()
    assert ex.equity == pytest.approx(1000.0 + 2 * (mid - 1000) * UNIT + 0.00002, abs=1e-12)


def test_mark_keeps_last_mid_when_a_side_empties() -> None:
    ex = exchange()
    assert ex.mark_ticks() == 1000.5
    ex.on_market(asks(2, (1001, 0), (1002, 0)))
    assert ex.mark_ticks() == 1000.5


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from([Side.BUY, Side.SELL]), st.integers(995, 1006), st.integers(1, 9)
        ),
        max_size=30,
    )
)
def test_account_matches_fills(steps: list[tuple[Side, int, int]]) -> None:
    ex = exchange(entry_ns=3, response_ns=4)
    for i, (side, price, lots) in enumerate(steps):
        t = 10 * (i + 1)
        ex.submit(place(i + 1, side, price, lots, post_only=False, tif=TimeInForce.IOC), t)
        ex.on_market(trade(t + 5, price, 1, side.opposite))
    ex.advance(1 << 40)
    events = drain(ex)
    all_fills = [e for e in events if isinstance(e, OrderFilled)]
    assert ex.position_lots == sum(int(f.side) * f.size_lots for f in all_fills)
    assert ex.fees_paid == sum(
        (
            (FEES.maker_rate if f.is_maker else FEES.taker_rate)
            * BTC.tick_size
            * f.price_ticks
            * BTC.size_step
            * f.size_lots
            for f in all_fills
        ),
        Decimal(0),
    )
    cash = -sum(int(f.side) * f.price_ticks * f.size_lots for f in all_fills)
    mid = ex.mark_ticks()
    expected = 1000.0 + (cash + ex.position_lots * mid) * UNIT - float(ex.fees_paid)
    assert ex.equity == pytest.approx(expected, abs=1e-9)
    assert ex.realized_pnl + ex.unrealized_pnl == pytest.approx(
        (cash + ex.position_lots * mid) * UNIT, abs=1e-9
    )
    locals_ = [e.local_ns for e in events]
    assert locals_ == sorted(locals_)
    assert all(e.local_ns == e.ts_ns + 4 for e in events)
    assert not any(isinstance(e, CancelRejected) for e in events)


# ---- fill-by-fill agreement with the reference engine on real data ------------------------------
DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
NPZ = DATA / "binance_usdm_btcusdt_20240808.hbt.npz"
_EXCH, _LOCAL, _BUY = 1 << 31, 1 << 30, 1 << 29
_INF = 1 << 62


def _rows(data: Any, flag: int, ts_col: str) -> list[tuple[int, Event | tuple[bool, int]]]:
    rows = data[(data["ev"] & flag) != 0]
    ticks = np.rint(rows["px"] / 0.1).astype(np.int64).tolist()
    lots = np.rint(rows["qty"] / 0.001).astype(np.int64).tolist()
    out: list[tuple[int, Event | tuple[bool, int]]] = []
    for ev, ts, p, q in zip(rows["ev"].tolist(), rows[ts_col].tolist(), ticks, lots, strict=True):
        kind, buy = ev & 0xFF, bool(ev & _BUY)
        if kind in (1, 4):  # depth and snapshot rows both update one level
            out.append((ts, bids(ts, (p, q)) if buy else asks(ts, (p, q))))
        elif kind == 2:
            out.append((ts, trade(ts, p, q, Side.BUY if buy else Side.SELL)))
        elif kind == 3:
            out.append((ts, (buy, p)))
    return out


def _clear(book: Any, buy: bool, upto: int) -> None:
    """The reference's DEPTH_CLEAR: drop one side's levels from the best through `upto`."""
    levels = book.bids if buy else book.asks
    for t in [t for t in levels if (t >= upto if buy else t <= upto)]:
        del levels[t]
    if buy:
        book.best_bid = max((t for t in levels if t < upto - 1), default=0)
    else:
        book.best_ask = min((t for t in levels if t > upto + 1), default=0)


def _reference_strategy_fills(latency_ns: int, queue: QueueModel) -> tuple[int, list[list[int]]]:
    """Every 100 ms (after 1 s): cancel our acked orders, post GTX 2 lots at local best bid/ask."""
    data = np.load(NPZ)["data"]
    exch, local = _rows(data, _EXCH, "exch_ts"), _rows(data, _LOCAL, "local_ts")
    ex = SimExchange(BTC, FeeSchedule(), queue=queue, entry_latency_ns=latency_ns,
                     response_latency_ns=latency_ns)  # fmt: skip
    seen = MatchingEngine(BTC, FeeSchedule(), RiskAverseQueue())
    start = min(exch[0][0], local[0][0]) + 100_000_000
    decision, ie, il, next_id = start, 0, 0, 1
    acked: dict[int, bool] = {}
    got: list[list[int]] = []
    while ie < len(exch) or il < len(local):
        tr, ta = ex.next_response_ns(), ex.next_arrival_ns()
        # Equal timestamps: local data, responses, exchange data, arrivals, then the strategy.
        t, kind = min(
            (local[il][0] if il < len(local) else _INF, 0),
            (_INF if tr is None else tr, 1),
            (exch[ie][0] if ie < len(exch) else _INF, 2),
            (_INF if ta is None else ta, 3),
            (decision, 4),
        )
        if kind in (0, 2):
            item = local[il][1] if kind == 0 else exch[ie][1]
            il, ie = (il + 1, ie) if kind == 0 else (il, ie + 1)
            book_of = seen if kind == 0 else ex.engine
            if isinstance(item, tuple):
                _clear(book_of.book, *item)
            elif kind == 0:
                seen.on_market(item)
            else:
                ex.on_market(item)
        elif kind == 1:
            for r in ex.pop_responses(t):
                if isinstance(r, OrderAccepted):
                    acked[r.client_order_id] = True
                elif isinstance(r, OrderFilled):
                    got.append(
                        [r.client_order_id, int(r.side), r.price_ticks, r.size_lots, r.ts_ns]
                    )
                    acked.pop(r.client_order_id, None)
                elif isinstance(r, (OrderCanceled, OrderRejected)):
                    acked.pop(r.client_order_id, None)
                elif isinstance(r, CancelRejected):
                    acked[r.client_order_id] = True
        elif kind == 3:
            ex.advance(t)
        else:
            decision = t + 100_000_000
            if t - start < 1_000_000_000:
                continue
            for cid, cancellable in list(acked.items()):
                if cancellable:
                    acked[cid] = False
                    ex.submit(CancelOrder(ts_ns=t, client_order_id=cid, symbol=SYMBOL), t)
            for side, price in ((Side.BUY, seen.book.best_bid), (Side.SELL, seen.book.best_ask)):
                ex.submit(place(next_id, side, price, post_only=True), t)
                next_id += 1
    return next_id - 1, got


@pytest.mark.slow
@pytest.mark.parametrize(
    ("latency_ms", "prob", "fills", "digest"),
    [(10, False, 428, "dc7696efe71499d8"), (10, True, 429, "3c850701e28b562e")],
)
def test_fills_match_reference_engine_on_binance_data(
    latency_ms: int, prob: bool, fills: int, digest: str
) -> None:
    # Expected values are hftbacktest 2.4.4 (NoPartialFillExchange, RiskAdverse / PowerProb(3),
    # constant latency) running the same decisions on the same file: the sha256 prefix covers
    # every fill's (order id, side, price tick, lots, exchange time).
    if not NPZ.is_file():
        pytest.fail(f"shared data missing: {NPZ}")
    queue: QueueModel = PowerProbQueue(3) if prob else RiskAverseQueue()
    orders, got = _reference_strategy_fills(latency_ms * 1_000_000, queue)
    assert orders == 6876
    assert len(got) == fills
    assert hashlib.sha256(json.dumps(sorted(got)).encode()).hexdigest()[:16] == digest
