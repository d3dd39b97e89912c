"""Circuit breakers. Each check returns a verdict; any breach halts (stop quoting, cancel all,
flatten). When a figure needed for a check cannot be computed, the verdict is a halt too
(fail closed)."""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass

from grvtmm.core.clock import NS_PER_S


class Breaker(enum.Enum):
    DRAWDOWN = "drawdown"
    INVENTORY = "inventory"
    STALE_DATA = "stale_data"
    REJECT_STORM = "reject_storm"
    ERROR_STORM = "error_storm"
    RISK_UNKNOWN = "risk_unknown"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Breaker thresholds. Drawdown is a fraction of the session's peak equity, or of the
    committed capital when that is smaller; the inventory ratio is |inventory notional| over
    min(equity, capital) × leverage."""

    max_drawdown: float = 0.05
    max_inventory_ratio: float = 0.8
    capital: float | None = None
    """Capital committed to the strategy (quote currency); None = the whole account."""
    stale_data_ns: int = 10 * NS_PER_S
    reject_storm_count: int = 20
    reject_storm_window_ns: int = 60 * NS_PER_S
    post_only_storm_count: int = 100
    post_only_storm_ratio: float = 0.9
    error_storm_count: int = 10
    error_storm_window_ns: int = 60 * NS_PER_S


@dataclass(frozen=True, slots=True)
class Verdict:
    breaker: Breaker
    detail: str
    value: float = 0.0
    limit: float = 0.0


@dataclass(frozen=True, slots=True)
class BreakerState:
    breaker: Breaker
    value: float
    limit: float
    tripped: bool


class _WindowCounter:
    __slots__ = ("_times", "_window_ns")

    def __init__(self, window_ns: int) -> None:
        self._times: deque[int] = deque()
        self._window_ns = window_ns

    def add(self, now_ns: int) -> None:
        self._times.append(now_ns)

    def count(self, now_ns: int) -> int:
        cutoff = now_ns - self._window_ns
        times = self._times
        while times and times[0] <= cutoff:
            times.popleft()
        return len(times)


class RiskMonitor:
    """Tracks the session's peak equity, reject and error rates; evaluates the breakers."""

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits
        self.peak_equity = math.nan
        self.tripped: Verdict | None = None
        self._rejects = _WindowCounter(limits.reject_storm_window_ns)
        self._post_only = _WindowCounter(limits.reject_storm_window_ns)
        self._placements = _WindowCounter(limits.reject_storm_window_ns)
        self._errors = _WindowCounter(limits.error_storm_window_ns)
        # Last evaluated value per breaker, kept in plain attributes: the account check runs on
        # every decision and an enum-keyed dict costs a Python-level hash per store.
        self._drawdown = 0.0
        self._inventory = 0.0
        self._stale_s = 0.0
        self._rejects_n = 0.0
        self._errors_n = 0.0

    def reset_session(self, equity: float) -> None:
        self.peak_equity = equity
        self.tripped = None

    def record_reject(self, now_ns: int, *, post_only: bool = False) -> None:
        """Count a reject. Post-only rejects (the book moved onto our price while the order was
        in flight) are normal in fast markets and only count toward their own, ratio-based
        storm: nearly every order bouncing means we cannot get onto the book at all."""
        (self._post_only if post_only else self._rejects).add(now_ns)

    def record_placement(self, now_ns: int) -> None:
        self._placements.add(now_ns)

    def record_error(self, now_ns: int) -> None:
        self._errors.add(now_ns)

    def check_account(
        self, equity: float, inventory_notional: float, leverage: float
    ) -> Verdict | None:
        """Drawdown from the session peak and inventory ratio; NaN/∞ anywhere halts.

        With committed capital, the drawdown is the loss from the peak over min(peak, capital)
        (losing 5% of a 100 USDT commitment halts, not 5% of a larger account) and the
        inventory capacity is min(equity, capital) × leverage.
        """
        if not (math.isfinite(equity) and math.isfinite(inventory_notional)):
            return Verdict(Breaker.RISK_UNKNOWN, "equity or inventory cannot be computed")
        peak = self.peak_equity
        if equity > peak or not math.isfinite(peak):
            self.peak_equity = peak = equity
        limits = self.limits
        capital = limits.capital
        base = peak if capital is None or peak < capital else capital
        drawdown = (peak - equity) / base if base > 0 else 1.0
        self._drawdown = drawdown
        if drawdown > limits.max_drawdown:
            of = "" if base == peak else f" of capital {base:.4f}"
            return Verdict(
                Breaker.DRAWDOWN,
                f"equity {equity:.4f} is {drawdown:.2%}{of} below peak {self.peak_equity:.4f}",
                drawdown,
                limits.max_drawdown,
            )
        basis = equity if capital is None or equity < capital else capital
        capacity = basis * leverage
        ratio = inventory_notional / capacity if capacity > 0 else math.inf
        self._inventory = ratio
        if ratio > limits.max_inventory_ratio:
            what = "equity" if basis == equity else "capital"
            return Verdict(
                Breaker.INVENTORY,
                f"inventory {inventory_notional:.4f} is {ratio:.3f}× of {what} × leverage",
                ratio,
                limits.max_inventory_ratio,
            )
        return None

    def check_activity(self, now_ns: int, last_market_ns: int, connected: bool) -> Verdict | None:
        """Stale market data (or a disconnected venue) and reject/error storms."""
        limits = self.limits
        age_ns = now_ns - last_market_ns
        self._stale_s = age_ns / NS_PER_S
        if age_ns > limits.stale_data_ns:
            what = "venue disconnected" if not connected else "no market data"
            return Verdict(
                Breaker.STALE_DATA,
                f"{what} for {age_ns / NS_PER_S:.1f} s",
                age_ns / NS_PER_S,
                limits.stale_data_ns / NS_PER_S,
            )
        rejects = self._rejects.count(now_ns)
        self._rejects_n = rejects
        if rejects >= limits.reject_storm_count:
            return Verdict(
                Breaker.REJECT_STORM,
                f"{rejects} rejects within {limits.reject_storm_window_ns / NS_PER_S:.0f} s",
                rejects,
                limits.reject_storm_count,
            )
        post_only = self._post_only.count(now_ns)
        placed = self._placements.count(now_ns)
        ratio = post_only / placed if placed else 0.0
        if post_only >= limits.post_only_storm_count and ratio >= limits.post_only_storm_ratio:
            return Verdict(
                Breaker.REJECT_STORM,
                f"{post_only} post-only rejects, {ratio:.0%} of orders, within "
                f"{limits.reject_storm_window_ns / NS_PER_S:.0f} s",
                post_only,
                limits.post_only_storm_count,
            )
        errors = self._errors.count(now_ns)
        self._errors_n = errors
        if errors >= limits.error_storm_count:
            return Verdict(
                Breaker.ERROR_STORM,
                f"{errors} venue errors within {limits.error_storm_window_ns / NS_PER_S:.0f} s",
                errors,
                limits.error_storm_count,
            )
        return None

    def states(self) -> list[BreakerState]:
        """Current value and limit of every breaker (for status and metrics)."""
        limits = self.limits
        limit_of = {
            Breaker.DRAWDOWN: limits.max_drawdown,
            Breaker.INVENTORY: limits.max_inventory_ratio,
            Breaker.STALE_DATA: limits.stale_data_ns / NS_PER_S,
            Breaker.REJECT_STORM: float(limits.reject_storm_count),
            Breaker.ERROR_STORM: float(limits.error_storm_count),
            Breaker.RISK_UNKNOWN: 0.0,
        }
        last = {
            Breaker.DRAWDOWN: self._drawdown,
            Breaker.INVENTORY: self._inventory,
            Breaker.STALE_DATA: self._stale_s,
            Breaker.REJECT_STORM: self._rejects_n,
            Breaker.ERROR_STORM: self._errors_n,
            Breaker.RISK_UNKNOWN: 0.0,
        }
        tripped = self.tripped.breaker if self.tripped else None
        return [BreakerState(b, last[b], limit_of[b], b is tripped) for b in Breaker]
