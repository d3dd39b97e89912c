from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grvtmm.core.book import OrderBook
from grvtmm.core.events import BookSnapshot
from grvtmm.core.types import FeeSchedule, Instrument
from grvtmm.strategy.base import AccountView
from grvtmm.strategy.factory import build_strategy
from grvtmm.strategy.fixed_spread import (
    FixedSpreadStrategy,
    fixed_order_lots,
    fixed_spread_ticks,
)
from grvtmm.strategy.params import StrategyConfig

BTC = Instrument("BTC_USDT_Perp", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("0"))


def make_book(best_bid: int, best_ask: int) -> OrderBook:
    book = OrderBook("BTC_USDT_Perp")
    book.apply_snapshot(
        BookSnapshot(
            ts_ns=0,
            local_ns=0,
            symbol="BTC_USDT_Perp",
            bids=((best_bid, 5), (best_bid - 1, 5)),
            asks=((best_ask, 5), (best_ask + 1, 5)),
        )
    )
    return book


def parity(**kw: object) -> FixedSpreadStrategy:
    cfg = StrategyConfig(strategy="fixed-spread", half_spread_ticks=2.0, order_qty=0.002, **kw)
    s = build_strategy(cfg, BTC, FeeSchedule())
    assert isinstance(s, FixedSpreadStrategy)
    return s


def acct(pos: int) -> AccountView:
    return AccountView(position_lots=pos, equity=1000.0, free_margin=1000.0)


def test_parity_settings() -> None:
    s = parity()
    assert s.name == "fixed-spread"
    assert s.decision_interval_ns == 100_000_000
    assert s.order_lots == 2  # 0.002 BTC at a 0.001 lot
    r = s.requote
    assert (r.price_tolerance_ticks, r.size_tolerance) == (0, 0.0)
    assert (r.min_order_age_ns, r.max_order_age_ns) == (0, 0)
    assert not r.place_before_cancel
    assert parity(step_ms=250).decision_interval_ns == 250_000_000


@pytest.mark.parametrize(
    ("best_bid", "best_ask", "pos", "expected"),
    [
        (1000, 1001, 0, (998, 1003)),  # mid 1000.5: floor(998.5), ceil(1002.5)
        (1000, 1001, 2, (997, 1002)),  # skew 1 tick: floor(997.5), ceil(1001.5)
        (1000, 1001, -10, (1000, 1008)),  # skew −5: floor(1003.5) clamped to best bid
        (1000, 1001, 12, (992, 1001)),  # skew 6: ceil(996.5) clamped to best ask
        (1000, 1004, 1, (999, 1004)),  # mid 1002, skew 0.5: floor(999.5), ceil(1003.5)
    ],
)
def test_parity_rule_examples(
    best_bid: int, best_ask: int, pos: int, expected: tuple[int, int]
) -> None:
    target = parity().quote(make_book(best_bid, best_ask), acct(pos), 0)
    assert target.bid is not None and target.ask is not None
    assert (target.bid.price_ticks, target.ask.price_ticks) == expected
    assert target.bid.size_lots == 2 and target.ask.size_lots == 2


@given(
    st.integers(1, 10**7),
    st.integers(1, 50),
    st.integers(-10_000, 10_000),
    st.integers(1, 20),
    st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5]),
)
def test_parity_rule_properties(
    best_bid: int, spread: int, pos: int, lots: int, half: float
) -> None:
    best_ask = best_bid + spread
    bid, ask = fixed_spread_ticks(best_bid, best_ask, pos, lots, half)
    assert bid <= best_bid < best_ask <= ask
    mid = (best_bid + best_ask) / 2
    skew = pos / lots
    # each side is the clamp of the rounded-away skewed price (never tighter than the rule)
    assert bid == best_bid or bid <= mid - half - skew < bid + 1
    assert ask == best_ask or ask - 1 < mid + half - skew <= ask
    # flat: symmetric around the mid when the book does not bind
    if pos == 0 and spread <= 2 * half:
        assert mid - bid == ask - mid


def test_order_size_defaults_to_venue_minimum() -> None:
    inst = Instrument("X_USDT_Perp", Decimal("0.01"), Decimal("0.1"), Decimal("0.3"))
    assert fixed_order_lots(inst, None) == 3
    assert fixed_order_lots(inst, 0.05) == 3  # below the minimum size → lifted
    assert fixed_order_lots(inst, 1.2) == 12
    assert fixed_order_lots(BTC, 0.002) == 2


def test_no_quotes_until_book_ready() -> None:
    target = parity().quote(OrderBook("BTC_USDT_Perp"), acct(0), 0)
    assert target.bid is None and target.ask is None
    assert target.reason == "book_not_ready"


def test_large_short_position_never_quotes_a_non_positive_bid() -> None:
    # the parity rule has no inventory cap; a huge skew can push the bid below tick 1
    target = parity().quote(make_book(3, 4), acct(-4), 0)
    assert target.bid is not None and target.bid.price_ticks == 3
    target = parity().quote(make_book(3, 4), acct(20), 0)
    assert target.bid is None and target.reason == "bid_price_not_positive"
    assert target.ask is not None and target.ask.price_ticks == 4


def test_feeds_do_not_change_the_rule() -> None:
    s = parity()
    book = make_book(1000, 1001)
    before = s.quote(book, acct(0), 0)
    s.on_book(make_book(500, 501), 10**9)
    assert s.quote(book, acct(0), 0) == before
