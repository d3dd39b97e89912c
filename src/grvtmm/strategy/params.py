"""User-facing strategy configuration (validated) and the legacy goal configuration."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from grvtmm.core.types import InstrumentError, normalize_symbol

StrategyName = Literal["avellaneda", "fixed-spread"]

CAP_MARGIN = 0.9
"""The quoter's hard inventory cap sits 10% below the inventory breaker of the engine."""


class StrategyConfig(BaseModel):
    """Everything the operator can tune. Prices and spreads are in ticks, σ in ticks/√s."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: StrategyName = Field("avellaneda", description="quoting strategy")
    symbol: str = Field("BNB_USDT_Perp", description="GRVT perpetual, e.g. BNB_USDT_Perp")
    model: Literal["glft", "as"] = Field(
        "glft", description="glft: Guéant closed form (no horizon); as: constant-horizon AS"
    )
    gamma: float = Field(0.1, gt=0, le=100, description="risk aversion: larger = wider, more skew")
    sigma: float = Field(
        3.0, gt=0, le=1e6, description="volatility prior in ticks/√s until it is measured"
    )
    k: float = Field(
        0.5, gt=0, le=1e3, description="liquidity prior: fill-intensity decay per tick"
    )
    intensity_a: float = Field(
        1.0, gt=0, le=1e6, description="fill intensity at the mid (fills/s) prior"
    )
    horizon_s: float = Field(1.0, gt=0, le=86_400, description="AS holding horizon τ in seconds")
    skew_factor: float = Field(
        1.0, ge=0, le=10, description="multiplier on the inventory skew (0 = no skew)"
    )
    max_drawdown: float = Field(
        0.05,
        gt=0,
        le=1,
        description="halt when equity falls this fraction below the session peak (of the "
        "committed capital when capital_usdt is set)",
    )
    max_inventory_ratio: float = Field(
        0.8,
        gt=0,
        le=10,
        description="halt when |inventory notional| / (min(equity, capital) × leverage) "
        "exceeds this",
    )
    one_sided_enter: float = Field(
        0.5, gt=0, le=10, description="quote only the reducing side above this inventory ratio"
    )
    one_sided_exit: float = Field(
        0.3, ge=0, le=10, description="return to two-sided quoting below this inventory ratio"
    )
    effective_leverage: float = Field(20.0, gt=0, le=100, description="leverage used for sizing")
    capital_usdt: float | None = Field(
        None,
        gt=0,
        le=1e12,
        description="capital committed to this strategy (USDT); sizing and inventory limits use "
        "min(account equity, capital), free margin is capped at capital − used margin, and the "
        "drawdown breaker measures the loss from the session peak as a fraction of "
        "min(peak equity, capital); None = the whole account",
    )
    order_size_fraction: float = Field(
        0.05,
        gt=0,
        le=1,
        description="order notional as a fraction of min(equity, capital) × leverage",
    )
    min_half_spread_ticks: float = Field(
        0.5, ge=0, le=1e4, description="smallest half-spread around the reservation price"
    )
    fee_floor: bool = Field(True, description="keep the half-spread at or above the maker fee")
    depth_ticks: int = Field(5, ge=1, le=1000, description="book depth window for the k prior")
    vol_halflife_s: float = Field(30.0, gt=0, le=86_400, description="EWMA half-life of σ")
    min_order_age_s: float = Field(
        1.0, ge=0, le=3600, description="minimum age before moving an order toward the mid"
    )
    max_order_age_s: float = Field(
        60.0, ge=0, le=86_400, description="replace orders older than this (0 = never)"
    )
    price_tolerance_ticks: int = Field(
        1, ge=0, le=10_000, description="keep an order within this many ticks of its target"
    )
    size_tolerance: float = Field(
        0.2, ge=0, le=1, description="keep an order whose size is within this fraction of target"
    )
    half_spread_ticks: float = Field(2.0, ge=0, le=1e4, description="fixed-spread: half-spread")
    order_qty: float | None = Field(
        None, gt=0, description="fixed-spread: order size in base units (default: venue minimum)"
    )
    step_ms: int = Field(100, ge=1, le=3_600_000, description="fixed-spread: decision interval")
    target_hourly_volume: float | None = Field(
        None, ge=0, description="volume goal in quote currency per hour (shown, not enforced)"
    )

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        try:
            return normalize_symbol(value)
        except InstrumentError as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="after")
    def _thresholds(self) -> Self:
        if self.one_sided_exit >= self.one_sided_enter:
            raise ValueError("one_sided_exit must be below one_sided_enter (hysteresis)")
        if self.one_sided_enter > self.max_inventory_ratio:
            raise ValueError("one_sided_enter must not exceed max_inventory_ratio")
        return self


RiskProfile = Literal["conservative", "balanced", "aggressive"]

# profile → (gamma, max_drawdown, max_inventory_ratio, one_sided_enter, one_sided_exit)
_PROFILES: dict[str, tuple[float, float, float, float, float]] = {
    "conservative": (0.3, 0.03, 0.4, 0.25, 0.15),
    "balanced": (0.1, 0.05, 0.8, 0.5, 0.3),
    "aggressive": (0.05, 0.10, 1.5, 1.0, 0.6),
}

GOAL_LEVERAGE = 50.0
"""Goal mode sizes at a fixed 50x on the principal: the principal becomes the committed capital
(`StrategyConfig.capital_usdt`), so order notional and inventory limits are fractions of
min(equity, principal) × 50."""

GOAL_INVENTORY_PER_ORDER = 1.8
"""Goal mode keeps the inventory the quoter may carry at ≥ 1.8 × one order's notional."""


class GoalConfig(BaseModel):
    """Legacy goal-style configuration, kept for old scripts and mapped onto `StrategyConfig`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field("BNB_USDT_Perp", description="GRVT perpetual")
    principal_usdt: float = Field(100.0, gt=0, le=1e9, description="capital committed (USDT)")
    target_hourly_volume: float = Field(
        10_000.0, ge=0, le=1e12, description="volume goal per hour (USDT)"
    )
    risk_profile: RiskProfile = Field("balanced", description="conservative|balanced|aggressive")

    def to_strategy(self, base: StrategyConfig | None = None) -> StrategyConfig:
        """Map onto a strategy config: the principal is the committed capital at 50x; one
        order is at most 10% of principal × 50 and the quoter's inventory cap (90% of the
        inventory breaker) stays ≥ 1.8 × one order's notional."""
        gamma, max_dd, max_inv, enter, exit_ = _PROFILES[self.risk_profile]
        order_fraction = min(0.1, max_inv * CAP_MARGIN / GOAL_INVENTORY_PER_ORDER)
        fields = (base or StrategyConfig()).model_dump()
        fields.update(
            symbol=self.symbol,
            gamma=gamma,
            max_drawdown=max_dd,
            max_inventory_ratio=max_inv,
            one_sided_enter=enter,
            one_sided_exit=exit_,
            effective_leverage=GOAL_LEVERAGE,
            capital_usdt=self.principal_usdt,
            order_size_fraction=order_fraction,
            target_hourly_volume=self.target_hourly_volume,
        )
        return StrategyConfig(**fields)

    @classmethod
    def from_strategy(cls, config: StrategyConfig, principal_usdt: float) -> GoalConfig:
        """The goal view of `config`; the principal is its committed capital, or
        `principal_usdt` when the strategy uses the whole account."""
        if config.capital_usdt is not None:
            principal_usdt = config.capital_usdt
        profile: RiskProfile = "balanced"
        for name, values in _PROFILES.items():
            if abs(values[0] - config.gamma) < 1e-12 and name in ("conservative", "aggressive"):
                profile = name  # type: ignore[assignment]
        return cls(
            symbol=config.symbol,
            principal_usdt=principal_usdt,
            target_hourly_volume=config.target_hourly_volume or 0.0,
            risk_profile=profile,
        )
