from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grvtmm.core.book import OrderBook
from grvtmm.core.events import BookSnapshot, Trade
from grvtmm.core.types import FeeSchedule, Instrument, Side
from grvtmm.strategy.base import AccountView, QuoteTarget
from grvtmm.strategy.factory import build_strategy
from grvtmm.strategy.fixed_spread import FixedSpreadStrategy
from grvtmm.strategy.params import StrategyConfig
from grvtmm.strategy.quoter import CAP_MARGIN, AvellanedaStrategy, inventory_ratio

T0 = 1_700_000_000_000_000_000
BNB = Instrument("BNB_USDT_Perp", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"), Decimal("1"))
NO_FEES = FeeSchedule()


def make_book(best_bid: int, best_ask: int, lots: int = 50) -> OrderBook:
    book = OrderBook("BNB_USDT_Perp")
    book.apply_snapshot(
        BookSnapshot(
            ts_ns=0,
            local_ns=0,
            symbol="BNB_USDT_Perp",
            bids=tuple((best_bid - i, lots) for i in range(10)),
            asks=tuple((best_ask + i, lots) for i in range(10)),
        )
    )
    return book


def strategy(
    instrument: Instrument = BNB, fees: FeeSchedule = NO_FEES, **overrides: Any
) -> AvellanedaStrategy:
    s = build_strategy(StrategyConfig(**overrides), instrument, fees)
    assert isinstance(s, AvellanedaStrategy)
    return s


def account(
    pos: int = 0, equity: float = 100.0, free: float | None = None, **kw: Any
) -> AccountView:
    return AccountView(
        position_lots=pos, equity=equity, free_margin=equity if free is None else free, **kw
    )


def decide(s: AvellanedaStrategy, book: OrderBook, acct: AccountView) -> QuoteTarget:
    s.on_book(book, T0)
    return s.quote(book, acct, T0)


def cap_lots(cfg: StrategyConfig, inst: Instrument, equity: float, mid_ticks: float) -> float:
    lot_notional = mid_ticks * inst.tick_f * inst.step_f
    return cfg.max_inventory_ratio * CAP_MARGIN * equity * cfg.effective_leverage / lot_notional


# ---- basics ----------------------------------------------------------------------------------
def test_identity_and_requote_policy_come_from_config() -> None:
    s = strategy(price_tolerance_ticks=3, size_tolerance=0.1, min_order_age_s=0.5)
    assert s.name == "avellaneda"
    assert s.decision_interval_ns == 0
    assert s.requote.price_tolerance_ticks == 3
    assert s.requote.size_tolerance == 0.1
    assert s.requote.min_order_age_ns == 500_000_000
    assert s.requote.max_order_age_ns == 60_000_000_000
    assert s.requote.place_before_cancel


def test_factory_builds_the_configured_strategy() -> None:
    assert isinstance(build_strategy(StrategyConfig(), BNB, NO_FEES), AvellanedaStrategy)
    fixed = build_strategy(StrategyConfig(strategy="fixed-spread"), BNB, NO_FEES)
    assert isinstance(fixed, FixedSpreadStrategy)
    assert fixed.name == "fixed-spread"


def test_no_quotes_until_the_book_is_ready() -> None:
    s = strategy()
    target = s.quote(OrderBook("BNB_USDT_Perp"), account(), T0)
    assert target.bid is None and target.ask is None
    assert target.reason == "book_not_ready"


def test_no_quotes_without_equity() -> None:
    target = decide(strategy(), make_book(60_000, 60_001), account(equity=0.0))
    assert target.bid is None and target.ask is None
    assert target.reason == "no_equity"


def test_quotes_from_the_first_book_with_priors() -> None:
    target = decide(strategy(), make_book(60_000, 60_001), account())
    assert target.bid is not None and target.ask is not None
    d = target.diagnostics
    assert d is not None
    assert d.sigma == 3.0 and d.k == 0.5 and d.gamma == 0.1
    assert target.bid.price_ticks <= 60_000
    assert target.ask.price_ticks >= 60_001


def test_size_is_fraction_of_equity_times_leverage() -> None:
    # 5 % of 100 USDT × 20 = 100 USDT at 600 USDT → 0.1667 BNB → 17 lots of 0.01
    target = decide(strategy(), make_book(60_000, 60_000 + 2), account())
    assert target.bid is not None and target.ask is not None
    assert target.bid.size_lots == 17 and target.ask.size_lots == 17


def test_tiny_sizes_are_lifted_to_the_venue_minimum() -> None:
    inst = Instrument("X_USDT_Perp", Decimal("0.01"), Decimal("0.1"), Decimal("0.5"), Decimal("10"))
    target = decide(strategy(inst, order_size_fraction=1e-6), make_book(1_000, 1_001), account())
    assert target.bid is not None and target.ask is not None
    for q in (target.bid, target.ask):
        assert q.size_lots == inst.min_lots_at(q.price_ticks)
        assert inst.notional(q.price_ticks, q.size_lots) >= 10 - 1e-9


# ---- model behaviour -------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["glft", "as"])
def test_symmetric_around_mid_when_flat(model: str) -> None:
    s = strategy(model=model, min_half_spread_ticks=4.3)
    target = decide(s, make_book(60_000, 60_002), account())
    assert target.bid is not None and target.ask is not None
    assert target.diagnostics is not None
    assert target.diagnostics.reservation_ticks == 60_001.0
    assert 60_001 - target.bid.price_ticks == target.ask.price_ticks - 60_001


@pytest.mark.parametrize("model", ["glft", "as"])
def test_reservation_falls_as_position_rises(model: str) -> None:
    book = make_book(60_000, 60_001)
    last = math.inf
    for pos in range(-60, 61, 10):
        d = decide(strategy(model=model, sigma=20.0), book, account(pos)).diagnostics
        assert d is not None
        assert d.reservation_ticks < last
        last = d.reservation_ticks


def test_fee_floor_keeps_half_spread_at_maker_fee() -> None:
    fees = FeeSchedule(maker_rate=Decimal("0.0002"), taker_rate=Decimal("0.0005"))
    book = make_book(60_000, 60_002)  # mid 60 001 ticks → 2 bp = 12.0002 ticks
    d = decide(strategy(fees=fees, min_half_spread_ticks=0.5), book, account()).diagnostics
    assert d is not None and d.half_spread_ticks == pytest.approx(0.0002 * 60_001)
    d = decide(strategy(fees=fees, fee_floor=False), book, account()).diagnostics
    assert d is not None and d.half_spread_ticks < 12.0
    rebate = FeeSchedule(maker_rate=Decimal("-0.0001"))
    d = decide(strategy(fees=rebate, min_half_spread_ticks=0.5), book, account()).diagnostics
    assert d is not None and d.half_spread_ticks < 12.0


def test_min_half_spread_floor() -> None:
    d = decide(strategy(min_half_spread_ticks=50.0), make_book(60_000, 60_001), account())
    assert d.diagnostics is not None and d.diagnostics.half_spread_ticks == 50.0


def test_model_prices_a_hair_off_a_tick_round_to_it_as_the_instrument_does() -> None:
    # A negligible model half-spread floored at 0.5 + 1e-10 ticks around a mid of 60000.5 puts
    # the model bid 1e-10 ticks below 60000 and the ask 1e-10 above 60001: float noise, which the
    # instrument's rounding tolerance absorbs (never a tick further out).
    s = strategy(gamma=1e-3, k=1e3, sigma=1e-3, min_half_spread_ticks=0.5 + 1e-10, fee_floor=False)
    book = make_book(60_000, 60_001)
    target = decide(s, book, account())
    d = target.diagnostics
    assert d is not None and target.bid is not None and target.ask is not None
    assert d.reservation_ticks - d.half_spread_ticks < 60_000
    assert d.reservation_ticks + d.half_spread_ticks > 60_001
    assert (target.bid.price_ticks, target.ask.price_ticks) == (60_000, 60_001)
    tick = BNB.tick_f
    assert (
        BNB.price_to_ticks((d.reservation_ticks - d.half_spread_ticks) * tick, Side.BUY) == 60_000
    )
    assert (
        BNB.price_to_ticks((d.reservation_ticks + d.half_spread_ticks) * tick, Side.SELL) == 60_001
    )


def test_skew_factor_zero_removes_inventory_shift() -> None:
    d = decide(strategy(skew_factor=0.0), make_book(60_000, 60_002), account(40)).diagnostics
    assert d is not None and d.reservation_ticks == 60_001.0 and d.skew_ticks == 0.0


def test_estimators_are_fed_through_the_strategy() -> None:
    s = strategy(sigma=1.0, vol_halflife_s=1.0)
    for i in range(100):
        mid = 60_000 + (20 if i % 2 else 0)
        s.on_book(make_book(mid, mid + 1), T0 + i * 100_000_000)
        s.on_trade(
            Trade(
                ts_ns=T0,
                local_ns=T0 + i * 100_000_000 + 1,
                symbol="BNB_USDT_Perp",
                price_ticks=mid + 5,
                size_lots=1,
                aggressor=Side.BUY,
            )
        )
    target = s.quote(make_book(60_000, 60_001), account(), T0 + 10**10)
    assert target.diagnostics is not None
    assert target.diagnostics.sigma > 10.0
    assert target.diagnostics.gamma == pytest.approx(0.3)


def test_same_inputs_reuse_the_answer_and_new_inputs_do_not() -> None:
    s = strategy()
    book = make_book(60_000, 60_001)
    first = decide(s, book, account(5))
    assert s.quote(book, account(5), T0) is first
    moved = s.quote(book, account(-30), T0)
    assert moved is not first
    assert moved.diagnostics is not None and first.diagnostics is not None
    assert moved.diagnostics.reservation_ticks > first.diagnostics.reservation_ticks


# ---- inventory control -----------------------------------------------------------------------
def test_inventory_ratio_falls_back_to_equity_minus_used() -> None:
    assert inventory_ratio(100.0, account(equity=10.0, free=5.0), 20.0) == 1.0
    assert inventory_ratio(100.0, account(equity=10.0, free=0.0, used_margin=5.0), 20.0) == 1.0
    assert inventory_ratio(100.0, account(equity=10.0, free=-1.0, used_margin=10.0), 20.0) == (
        math.inf
    )
    assert inventory_ratio(0.0, account(equity=10.0, free=-1.0, used_margin=10.0), 20.0) == 0.0


def free_for_ratio(pos: int, ratio: float, mid_ticks: float, lev: float = 20.0) -> float:
    return abs(pos) * mid_ticks * BNB.tick_f * BNB.step_f / (ratio * lev)


def test_one_sided_hysteresis_enters_and_leaves_at_the_thresholds() -> None:
    s = strategy(one_sided_enter=0.5, one_sided_exit=0.3)
    book = make_book(60_000, 60_002)
    eps = 1e-9  # the ratio is computed in floats; stay just on the intended side
    path = [(0.2, ""), (0.5 - eps, ""), (0.5 + eps, "ask_only"), (0.4, "ask_only")]
    path += [(0.3 + eps, "ask_only"), (0.3 - eps, ""), (0.45, ""), (0.9, "ask_only")]
    for ratio, expected in path:
        target = decide(s, book, account(10, free=free_for_ratio(10, ratio, 60_001)))
        assert target.diagnostics is not None
        assert target.diagnostics.one_sided == expected, ratio
        assert (target.bid is None) == (expected == "ask_only")
        assert target.ask is not None


def test_one_sided_quotes_only_the_reducing_side_when_short() -> None:
    s = strategy()
    target = decide(s, make_book(60_000, 60_002), account(-10, free=free_for_ratio(-10, 2, 60_001)))
    assert target.ask is None and target.bid is not None
    assert "one_sided_bid_only" in target.reason


def test_no_margin_left_means_one_sided() -> None:
    target = decide(strategy(), make_book(60_000, 60_002), account(3, free=0.0, used_margin=200.0))
    assert target.diagnostics is not None and target.diagnostics.inventory_ratio == math.inf
    assert target.bid is None and target.ask is not None


def test_hard_cap_drops_the_increasing_side_with_reason() -> None:
    s = strategy(one_sided_enter=10.0, one_sided_exit=9.0, max_inventory_ratio=10.0)
    cap = cap_lots(s.config, BNB, 100.0, 60_001)  # 10 × 0.9 × 2000 USDT / 6.0001 USDT a lot
    pos = math.floor(cap) - 20  # room for one 17-lot order, not for two
    book = make_book(60_000, 60_002)
    ok = decide(s, book, account(pos))
    assert ok.bid is not None
    # a resting bid of the same size is replaced, not added to: the side stays quoted
    assert s.quote(book, account(pos, open_bid_lots=17), T0).bid is not None
    blocked = s.quote(book, account(pos, open_bid_lots=30), T0)
    assert blocked.bid is None and "bid_inventory_cap" in blocked.reason
    assert blocked.ask is not None


accounts = st.builds(
    AccountView,
    st.integers(-5_000, 5_000),
    st.floats(1.0, 10_000.0),
    st.floats(-100.0, 10_000.0),
    st.floats(0.0, 1_000.0),
    st.integers(0, 500),
    st.integers(0, 500),
)
configs = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["glft", "as"]),
        "gamma": st.floats(1e-3, 100.0),
        "sigma": st.floats(1e-3, 1e4),
        "k": st.floats(1e-3, 1e3),
        "skew_factor": st.floats(0.0, 10.0),
        "order_size_fraction": st.floats(1e-4, 0.5),
        "effective_leverage": st.floats(1.0, 100.0),
        "capital_usdt": st.none() | st.floats(1.0, 10_000.0),
    }
)
instruments = st.builds(
    lambda tick, step, mult, notional: Instrument(
        "X_USDT_Perp", Decimal(tick), Decimal(step), Decimal(step) * mult, Decimal(notional)
    ),
    st.sampled_from(["0.01", "0.1", "0.0001", "1"]),
    st.sampled_from(["0.001", "0.01", "1"]),
    st.integers(1, 10),
    st.sampled_from(["0", "1", "5"]),
)


@settings(max_examples=300)
@given(configs, instruments, accounts, st.integers(10, 10**7), st.integers(1, 20))
def test_quote_invariants(
    cfg_kw: dict[str, Any], inst: Instrument, acct: AccountView, best_bid: int, spread: int
) -> None:
    s = strategy(inst, **cfg_kw)
    book = make_book(best_bid, best_bid + spread)
    target = decide(s, book, acct)
    d = target.diagnostics
    assert d is not None
    for x in (d.fair_ticks, d.reservation_ticks, d.half_spread_ticks, d.skew_ticks, d.q):
        assert math.isfinite(x)
    bid, ask = target.bid, target.ask
    # prices are the model's, rounded by the instrument (bids down, asks up), then clamped
    tick = inst.tick_f
    if bid is not None:
        model_bid = inst.price_to_ticks(
            (d.reservation_ticks - d.half_spread_ticks) * tick, Side.BUY
        )
        assert bid.price_ticks == min(model_bid, book.best_bid)
    if ask is not None:
        model_ask = inst.price_to_ticks(
            (d.reservation_ticks + d.half_spread_ticks) * tick, Side.SELL
        )
        assert ask.price_ticks == max(model_ask, book.best_ask)
    lot_notional = book.mid_ticks() * tick * inst.step_f
    leverage = s.config.effective_leverage
    capital = s.config.capital_usdt
    position_notional = acct.position_lots * lot_notional
    assert d.inventory_ratio == inventory_ratio(position_notional, acct, leverage, capital)
    if bid is not None:
        assert 0 < bid.price_ticks <= book.best_bid  # post-only: never crosses
    if ask is not None:
        assert ask.price_ticks >= book.best_ask
    if bid is not None and ask is not None:
        assert bid.price_ticks < ask.price_ticks
    basis = acct.equity if capital is None else min(acct.equity, capital)
    cap = cap_lots(s.config, inst, basis, book.mid_ticks())
    for quote, side, resting in ((bid, 1, acct.open_bid_lots), (ask, -1, acct.open_ask_lots)):
        if quote is None:
            continue
        assert quote.size_lots >= inst.min_lots_at(quote.price_ticks)  # venue minimums
        worst = abs(acct.position_lots + side * max(resting, quote.size_lots))  # replaces resting
        assert worst <= cap + 1e-6 or worst <= abs(acct.position_lots)  # the hard cap holds
    if d.one_sided:
        assert (bid is None) if acct.position_lots > 0 else (ask is None)


@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=30))
def test_hysteresis_follows_the_state_machine(ratios: list[float]) -> None:
    s = strategy(one_sided_enter=0.5, one_sided_exit=0.3)
    book = make_book(60_000, 60_002)
    state = False
    for r in ratios:
        free = free_for_ratio(10, r, 60_001) if r > 0 else 1e12
        d = decide(s, book, account(10, free=free)).diagnostics
        assert d is not None
        ratio = d.inventory_ratio
        state = ratio >= 0.5 or (state and ratio > 0.3)
        assert (d.one_sided == "ask_only") == state


# ---- committed capital -----------------------------------------------------------------------
def same_quotes(a: QuoteTarget, b: QuoteTarget) -> bool:
    return (a.bid, a.ask, a.reason, a.diagnostics) == (b.bid, b.ask, b.reason, b.diagnostics)


@pytest.mark.parametrize("pos", [0, 40, -40, 150])
def test_capital_below_equity_quotes_as_an_account_holding_only_the_capital(pos: int) -> None:
    """100 USDT committed on a 5,000 USDT account: sizes, q, the margin ratio and the hard cap
    are those of a 100 USDT account (no margin in use)."""
    book = make_book(60_000, 60_002)
    committed = decide(strategy(capital_usdt=100.0), book, account(pos, equity=5_000.0))
    alone = decide(strategy(), book, account(pos, equity=100.0))
    assert same_quotes(committed, alone)
    whole = decide(strategy(), book, account(pos, equity=5_000.0))
    assert not same_quotes(committed, whole)


def test_capital_sizes_orders_from_min_of_equity_and_capital() -> None:
    # 5 % of 100 USDT × 20 = 100 USDT at 600 USDT → 17 lots; the whole 5,000 USDT → 833 lots
    book = make_book(60_000, 60_002)
    target = decide(strategy(capital_usdt=100.0), book, account(equity=5_000.0))
    assert target.bid is not None and target.ask is not None
    assert target.bid.size_lots == 17 and target.ask.size_lots == 17
    whole = decide(strategy(), book, account(equity=5_000.0))
    assert whole.bid is not None and whole.bid.size_lots == 833
    # equity below the capital: the equity is what the account has
    poorer = decide(strategy(capital_usdt=100.0), book, account(equity=50.0))
    assert poorer.bid is not None and poorer.bid.size_lots == 8


@pytest.mark.parametrize("pos", [0, 30, -30])
def test_capital_above_equity_changes_nothing(pos: int) -> None:
    book = make_book(60_000, 60_002)
    acct = account(pos, equity=100.0, free=60.0, used_margin=40.0)
    assert same_quotes(
        decide(strategy(capital_usdt=1e6), book, acct), decide(strategy(), book, acct)
    )


def test_capital_hard_cap_blocks_the_increasing_side() -> None:
    s = strategy(
        capital_usdt=100.0, one_sided_enter=10.0, one_sided_exit=9.0, max_inventory_ratio=10.0
    )
    cap = cap_lots(s.config, BNB, 100.0, 60_001)  # on the capital, not the 5,000 USDT equity
    book = make_book(60_000, 60_002)
    blocked = decide(s, book, account(math.floor(cap) - 5, equity=5_000.0))
    assert blocked.bid is None and "bid_inventory_cap" in blocked.reason
    assert blocked.ask is not None


def test_capital_caps_free_margin_of_the_one_sided_ratio() -> None:
    """Free margin is at most capital − used margin, so a position that is small for the
    account but large for the commitment turns quoting one-sided."""
    book = make_book(60_000, 60_002)
    acct = account(200, equity=5_000.0, free=4_990.0, used_margin=10.0)  # ≈ 1,200 USDT long
    d = decide(strategy(capital_usdt=100.0), book, acct).diagnostics
    assert d is not None
    assert d.inventory_ratio == pytest.approx(200 * 6.0001 / (90.0 * 20.0))
    assert d.one_sided == "ask_only"
    whole = decide(strategy(), book, acct).diagnostics
    assert whole is not None and whole.one_sided == "" and whole.inventory_ratio < 0.02
    assert inventory_ratio(600.0, acct, 20.0) == pytest.approx(600.0 / (4_990.0 * 20.0))
    assert inventory_ratio(600.0, acct, 20.0, capital=100.0) == pytest.approx(600.0 / 1_800.0)
    assert inventory_ratio(600.0, acct, 20.0, capital=10.0) == math.inf
    assert inventory_ratio(600.0, acct, 20.0, capital=1e9) == inventory_ratio(600.0, acct, 20.0)
