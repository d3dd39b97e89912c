"""What a strategy sees and returns; the protocol the engine drives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from grvtmm.core.book import OrderBook
from grvtmm.core.events import Trade


@dataclass(slots=True)
class Quote:
    """A desired resting order. Treated as immutable; not frozen only for construction speed
    on the hot path (as are QuoteDiagnostics and QuoteTarget)."""

    price_ticks: int
    size_lots: int


@dataclass(slots=True)
class AccountView:
    """Our position and account, as the engine knows them at decision time (quote currency).

    Treated as immutable; not frozen only for construction speed (one is built per decision).
    """

    position_lots: int
    equity: float
    free_margin: float
    used_margin: float = 0.0
    open_bid_lots: int = 0
    open_ask_lots: int = 0


@dataclass(slots=True)
class QuoteDiagnostics:
    """Why the quotes are where they are (shown in the API and recorded)."""

    fair_ticks: float
    reservation_ticks: float
    half_spread_ticks: float
    skew_ticks: float
    sigma: float
    k: float
    gamma: float
    q: float
    inventory_ratio: float
    one_sided: str = ""


@dataclass(slots=True)
class QuoteTarget:
    """Desired resting order per side (None: no order on that side) and the reason."""

    bid: Quote | None
    ask: Quote | None
    reason: str = ""
    diagnostics: QuoteDiagnostics | None = None


@dataclass(frozen=True, slots=True)
class RequoteParams:
    """How eagerly resting orders are replaced (see engine/requote.py)."""

    price_tolerance_ticks: int = 0
    size_tolerance: float = 0.0
    min_order_age_ns: int = 1_000_000_000
    max_order_age_ns: int = 0
    place_before_cancel: bool = True


class Strategy(Protocol):
    """A quoting strategy. `decision_interval_ns == 0` decides on every book update; otherwise
    the engine decides on a fixed grid of that interval (driven by timers)."""

    name: str
    decision_interval_ns: int
    requote: RequoteParams

    def on_book(self, book: OrderBook, now_ns: int) -> None: ...

    def on_trade(self, trade: Trade) -> None: ...

    def quote(self, book: OrderBook, account: AccountView, now_ns: int) -> QuoteTarget: ...
