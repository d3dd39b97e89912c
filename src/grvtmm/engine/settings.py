"""Engine settings (breakers, flatten, start-up) and the read-only snapshot it exposes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grvtmm.core.clock import NS_PER_S
from grvtmm.core.events import EngineMode
from grvtmm.core.orders import Order
from grvtmm.engine import flatten as fl
from grvtmm.engine.risk import RiskLimits
from grvtmm.strategy.base import QuoteTarget, Strategy
from grvtmm.strategy.params import StrategyConfig


def is_post_only_reject(reason: str) -> bool:
    """Venue reasons for a post-only order that would have crossed (e.g. FAIL_POST_ONLY)."""
    text = reason.lower().replace("-", "_")
    return "post_only" in text


StrategyFactory = Callable[[StrategyConfig], Strategy]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Engine behaviour that is not part of the strategy: breakers, flatten, start-up."""

    stale_data_ns: int = 10 * NS_PER_S
    reject_storm_count: int = 20
    reject_storm_window_ns: int = 60 * NS_PER_S
    post_only_storm_count: int = 100
    post_only_storm_ratio: float = 0.9
    error_storm_count: int = 10
    error_storm_window_ns: int = 60 * NS_PER_S
    flatten: fl.FlattenParams = field(default_factory=fl.FlattenParams)
    reconcile_timeout_ns: int = 5 * NS_PER_S
    reject_cooldown_ns: int = 250_000_000
    """After a reject, event-driven strategies wait this long before placing on that side again
    (otherwise a post-only bounce is retried at once, every round trip, until the book moves)."""
    flatten_on_start: bool = False
    """A position found on the venue at start is adopted (False) or flattened first (True)."""

    def limits(self, config: StrategyConfig) -> RiskLimits:
        return RiskLimits(
            max_drawdown=config.max_drawdown,
            max_inventory_ratio=config.max_inventory_ratio,
            capital=config.capital_usdt,
            stale_data_ns=self.stale_data_ns,
            reject_storm_count=self.reject_storm_count,
            reject_storm_window_ns=self.reject_storm_window_ns,
            post_only_storm_count=self.post_only_storm_count,
            post_only_storm_ratio=self.post_only_storm_ratio,
            error_storm_count=self.error_storm_count,
            error_storm_window_ns=self.error_storm_window_ns,
        )


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """A read-only picture of the engine for the API and the monitor."""

    mode: EngineMode
    symbol: str
    position_lots: int
    mid_ticks: float
    equity: float
    free_margin: float
    session_pnl: float
    inventory_notional: float
    open_orders: tuple[Order, ...]
    target: QuoteTarget | None
    breakers: list[Any]
    flatten_phase: str
    flatten_attempts: int
    last_market_ns: int
    connected: bool
    book_ok: bool
