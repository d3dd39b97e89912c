"""The reference "fixed-spread" strategy used for backtest parity with hftbacktest.

Every `step_ms` of local time: mid = (best bid + best ask)/2 in ticks; skew = position /
order size in ticks; bid = min(floor(mid − half_spread − skew), best bid); ask =
max(ceil(mid + half_spread − skew), best ask); orders of a fixed size. Resting orders are kept
only at exactly the target tick; anything else is cancelled before the new order is placed.

It deliberately has no inventory cap and no one-sided mode, because the parity protocol
has none; the skew is its only inventory control. Run it with the engine's breakers (or in a
backtest), not as a production quoter.
"""

from __future__ import annotations

import math
from decimal import Decimal

from grvtmm.core.book import OrderBook
from grvtmm.core.clock import NS_PER_MS
from grvtmm.core.events import Trade
from grvtmm.core.types import Instrument
from grvtmm.strategy.base import AccountView, Quote, QuoteDiagnostics, QuoteTarget, RequoteParams
from grvtmm.strategy.params import StrategyConfig


def fixed_order_lots(instrument: Instrument, order_qty: float | None) -> int:
    """Order size in lots: `order_qty` (base units, rounded to the nearest step) or the venue's
    minimum size; never below the minimum size (the minimum notional is not applied: the parity
    rule uses one constant size)."""
    if order_qty is None:
        return instrument.min_lots
    lots = int((Decimal(repr(order_qty)) / instrument.size_step).to_integral_value())
    return max(lots, instrument.min_lots)


def fixed_spread_ticks(
    best_bid: int, best_ask: int, position_lots: int, order_lots: int, half_spread_ticks: float
) -> tuple[int, int]:
    """The parity rule: (bid tick, ask tick) clamped to the book, skewed by position/order."""
    mid = (best_bid + best_ask) / 2
    skew = position_lots / order_lots
    bid = min(math.floor(mid - half_spread_ticks - skew), best_bid)
    ask = max(math.ceil(mid + half_spread_ticks - skew), best_ask)
    return bid, ask


class FixedSpreadStrategy:
    """Fixed half-spread around the mid with a linear position skew (`fixed-spread`)."""

    name = "fixed-spread"

    def __init__(self, config: StrategyConfig, instrument: Instrument) -> None:
        self.config = config
        self.instrument = instrument
        self.decision_interval_ns = config.step_ms * NS_PER_MS
        self.requote = RequoteParams(
            price_tolerance_ticks=0,
            size_tolerance=0.0,
            min_order_age_ns=0,
            max_order_age_ns=0,
            place_before_cancel=False,
        )
        self.order_lots = fixed_order_lots(instrument, config.order_qty)
        self.half_spread_ticks = config.half_spread_ticks

    def on_book(self, book: OrderBook, now_ns: int) -> None:
        """Nothing to estimate: the rule reads the book at decision time."""

    def on_trade(self, trade: Trade) -> None:
        """Trades do not move the fixed-spread rule."""

    def quote(self, book: OrderBook, account: AccountView, now_ns: int) -> QuoteTarget:
        """Target quotes by the parity rule; no quotes while the book is not ready."""
        if not book.ready:
            return QuoteTarget(None, None, "book_not_ready")
        lots = self.order_lots
        pos = account.position_lots
        bid, ask = fixed_spread_ticks(
            book.best_bid, book.best_ask, pos, lots, self.half_spread_ticks
        )
        mid = book.mid_ticks()
        skew = pos / lots
        diag = QuoteDiagnostics(
            fair_ticks=mid,
            reservation_ticks=mid - skew,
            half_spread_ticks=self.half_spread_ticks,
            skew_ticks=skew,
            sigma=0.0,
            k=0.0,
            gamma=0.0,
            q=skew,
            inventory_ratio=0.0,
        )
        bid_quote = Quote(bid, lots) if bid > 0 else None
        reason = "" if bid_quote is not None else "bid_price_not_positive"
        return QuoteTarget(bid_quote, Quote(ask, lots), reason, diag)
