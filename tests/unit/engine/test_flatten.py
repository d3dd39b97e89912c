from __future__ import annotations

from decimal import Decimal

from grvtmm.core.types import Instrument, Side
from grvtmm.engine.flatten import Close, Done, Flattener, FlattenParams, ResendCancel, Wait

INST = Instrument("BNB_USDT_Perp", Decimal("0.01"), Decimal("0.01"), Decimal("0.05"))
MS = 1_000_000
PARAMS = FlattenParams(
    slippage_bps=10, base_backoff_ns=100 * MS, max_backoff_ns=400 * MS, cancel_timeout_ns=1000 * MS
)


def test_waits_for_cancels_then_closes_through_the_book() -> None:
    f = Flattener(INST, PARAMS, 0)
    assert isinstance(f.advance(0, 2, 30, 60_000, 60_001), Wait)
    assert isinstance(f.advance(1000 * MS, 2, 30, 60_000, 60_001), ResendCancel)
    action = f.advance(1001 * MS, 0, 30, 60_000, 60_001)
    assert isinstance(action, Close)
    assert action.side is Side.SELL and action.size_lots == 30
    assert action.price_ticks == 60_000 - 60  # 10 bp through the best bid


def test_backoff_grows_exponentially_and_is_capped() -> None:
    f = Flattener(INST, PARAMS, 0)
    f.confirm_no_open_orders()
    now = 0
    action = f.advance(now, 0, -30, 60_000, 60_001)
    delays = []
    for _ in range(5):
        assert isinstance(action, Close) and action.side is Side.BUY
        f.close_finished(now, None)
        start = now
        action = f.advance(now, 0, -30, 60_000, 60_001)
        while isinstance(action, Wait):
            now += MS
            action = f.advance(now, 0, -30, 60_000, 60_001)
        delays.append(now - start)
    assert delays == [100 * MS, 200 * MS, 400 * MS, 400 * MS, 400 * MS]
    assert f.attempts == 6


def test_flat_ends_clean_and_remainder_below_min_is_dust() -> None:
    f = Flattener(INST, PARAMS, 0)
    done = f.advance(0, 0, 0, 60_000, 60_001)
    assert done == Done(False, 0, 0)
    f = Flattener(INST, PARAMS, 0)
    done = f.advance(0, 0, 3, 60_000, 60_001)
    assert isinstance(done, Done) and done.dust and done.position_lots == 3


def test_min_size_reject_ends_as_dust() -> None:
    f = Flattener(INST, PARAMS, 0)
    action = f.advance(0, 0, 7, 60_000, 60_001)
    assert isinstance(action, Close)
    f.close_finished(1, 2062)
    done = f.advance(2, 0, 7, 60_000, 60_001)
    assert isinstance(done, Done) and done.dust
