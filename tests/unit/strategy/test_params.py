"""The legacy goal configuration mapped onto the strategy configuration."""

from __future__ import annotations

from decimal import Decimal

import pytest

from grvtmm.core.book import OrderBook
from grvtmm.core.events import BookSnapshot
from grvtmm.core.types import FeeSchedule, Instrument
from grvtmm.strategy.base import AccountView
from grvtmm.strategy.factory import build_strategy
from grvtmm.strategy.params import (
    CAP_MARGIN,
    GOAL_INVENTORY_PER_ORDER,
    GOAL_LEVERAGE,
    GoalConfig,
    RiskProfile,
    StrategyConfig,
)

BNB = Instrument("BNB_USDT_Perp", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"), Decimal("1"))
PROFILES: list[RiskProfile] = ["conservative", "balanced", "aggressive"]


@pytest.mark.parametrize("profile", PROFILES)
def test_goal_principal_is_the_committed_capital_at_fixed_leverage(profile: RiskProfile) -> None:
    """Principal 100 USDT at 50x: one order is 10 % of 5,000 = 500 USDT, and the inventory the
    quoter may carry (90 % of the breaker) is at least 1.8 × that."""
    config = GoalConfig(principal_usdt=100.0, risk_profile=profile).to_strategy()
    assert config.capital_usdt == 100.0
    assert config.effective_leverage == GOAL_LEVERAGE == 50.0
    capacity = 100.0 * GOAL_LEVERAGE
    max_order = config.order_size_fraction * capacity
    assert max_order == pytest.approx(500.0)
    quoter_inventory = config.max_inventory_ratio * CAP_MARGIN * capacity
    assert quoter_inventory >= GOAL_INVENTORY_PER_ORDER * max_order
    assert config.max_inventory_ratio * capacity >= GOAL_INVENTORY_PER_ORDER * max_order


def test_goal_keeps_the_other_parameters_of_the_base() -> None:
    base = StrategyConfig(sigma=7.0, min_order_age_s=2.0)
    config = GoalConfig(principal_usdt=250.0, target_hourly_volume=1_000.0).to_strategy(base)
    assert (config.sigma, config.min_order_age_s) == (7.0, 2.0)
    assert config.capital_usdt == 250.0 and config.target_hourly_volume == 1_000.0


@pytest.mark.parametrize("profile", PROFILES)
def test_goal_round_trips_through_the_strategy(profile: RiskProfile) -> None:
    goal = GoalConfig(principal_usdt=321.0, target_hourly_volume=5_000.0, risk_profile=profile)
    # the principal comes back from the committed capital, not from the fallback
    assert GoalConfig.from_strategy(goal.to_strategy(), principal_usdt=999.0) == goal
    # a strategy on the whole account shows the stored principal
    assert GoalConfig.from_strategy(StrategyConfig(), 999.0).principal_usdt == 999.0


def test_goal_orders_on_a_large_account_are_sized_on_the_principal() -> None:
    """A 5,000 USDT account with a 100 USDT principal quotes ≈ 500 USDT orders, not 25,000."""
    config = GoalConfig(principal_usdt=100.0).to_strategy()
    quoter = build_strategy(config, BNB, FeeSchedule())
    book = OrderBook(BNB.symbol)
    book.apply_snapshot(
        BookSnapshot(
            ts_ns=0,
            local_ns=0,
            symbol=BNB.symbol,
            bids=tuple((60_000 - i, 50) for i in range(10)),
            asks=tuple((60_002 + i, 50) for i in range(10)),
        )
    )
    quoter.on_book(book, 0)
    target = quoter.quote(book, AccountView(0, 5_000.0, 5_000.0), 0)
    assert target.bid is not None and target.ask is not None
    for q in (target.bid, target.ask):
        notional = float(BNB.notional(q.price_ticks, q.size_lots))
        assert 500.0 - 6.01 <= notional <= 500.0 + 6.01  # within one lot of 500 USDT


def test_capital_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capital_usdt"):
        StrategyConfig(capital_usdt=0.0)
