"""L2 order book in integer ticks and lots: snapshot + deltas, best prices, depth, gap detection."""

from __future__ import annotations

import enum

from grvtmm.core.events import BookDelta, BookSnapshot, Level, Ticker

_SCAN_LIMIT = 64


class ApplyResult(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    GAP = "gap"
    NO_SNAPSHOT = "no_snapshot"


class OrderBook:
    """Price levels keyed by tick. `best_bid`/`best_ask` are 0 when that side is empty.

    A delta whose `prev_sequence` does not follow the last applied sequence, or whose
    sequence goes backwards, marks the book invalid (`valid` False, `gap` set) until the next
    snapshot; it is never applied silently.
    """

    __slots__ = ("asks", "best_ask", "best_bid", "bids", "gap", "sequence", "symbol", "valid")

    def __init__(self, symbol: str = "") -> None:
        self.symbol = symbol
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best_bid = 0
        self.best_ask = 0
        self.sequence = 0
        self.valid = False
        self.gap: tuple[int, int] | None = None

    # ---- updates --------------------------------------------------------------------------
    def apply_snapshot(self, snap: BookSnapshot) -> ApplyResult:
        self.bids = {p: q for p, q in snap.bids if q > 0}
        self.asks = {p: q for p, q in snap.asks if q > 0}
        self.best_bid = max(self.bids) if self.bids else 0
        self.best_ask = min(self.asks) if self.asks else 0
        self.sequence = snap.sequence
        self.valid = True
        self.gap = None
        return ApplyResult.APPLIED

    def apply_delta(self, delta: BookDelta) -> ApplyResult:
        if not self.valid:
            return ApplyResult.NO_SNAPSHOT
        seq = delta.sequence
        if delta.prev_sequence is not None:
            if seq and seq == self.sequence:
                return ApplyResult.DUPLICATE
            if delta.prev_sequence != self.sequence:
                return self._mark_gap(self.sequence, delta.prev_sequence)
        elif seq:
            if seq == self.sequence:
                return ApplyResult.DUPLICATE
            if seq < self.sequence:
                return self._mark_gap(self.sequence, seq)
        # set_bid / set_ask, inlined: this runs for every book event
        if delta.bids:
            levels = self.bids
            best = self.best_bid
            for price, lots in delta.bids:
                if lots > 0:
                    levels[price] = lots
                    if price > best:
                        best = price
                elif levels.pop(price, None) is not None and price == best:
                    best = _next_best(levels, price, -1)
            self.best_bid = best
        if delta.asks:
            levels = self.asks
            best = self.best_ask
            for price, lots in delta.asks:
                if lots > 0:
                    levels[price] = lots
                    if best == 0 or price < best:
                        best = price
                elif levels.pop(price, None) is not None and price == best:
                    best = _next_best(levels, price, +1)
            self.best_ask = best
        if seq:
            self.sequence = seq
        return ApplyResult.APPLIED

    def apply_ticker(self, ticker: Ticker) -> ApplyResult:
        """Replace the book with top-of-book only (ticker fallback mode)."""
        self.bids = {ticker.bid_ticks: ticker.bid_lots} if ticker.bid_lots > 0 else {}
        self.asks = {ticker.ask_ticks: ticker.ask_lots} if ticker.ask_lots > 0 else {}
        self.best_bid = ticker.bid_ticks if self.bids else 0
        self.best_ask = ticker.ask_ticks if self.asks else 0
        self.valid = True
        self.gap = None
        return ApplyResult.APPLIED

    def _mark_gap(self, expected: int, got: int) -> ApplyResult:
        self.valid = False
        self.gap = (expected, got)
        return ApplyResult.GAP

    def invalidate(self) -> None:
        """Mark the book unusable (e.g. the stream dropped) until the next snapshot."""
        self.valid = False

    def set_bid(self, price: int, lots: int) -> None:
        bids = self.bids
        if lots > 0:
            bids[price] = lots
            if price > self.best_bid:
                self.best_bid = price
        elif bids.pop(price, None) is not None and price == self.best_bid:
            self.best_bid = _next_best(bids, price, -1)

    def set_ask(self, price: int, lots: int) -> None:
        asks = self.asks
        if lots > 0:
            asks[price] = lots
            if self.best_ask == 0 or price < self.best_ask:
                self.best_ask = price
        elif asks.pop(price, None) is not None and price == self.best_ask:
            self.best_ask = _next_best(asks, price, +1)

    # ---- reads ------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Valid with both sides present and not crossed."""
        return self.valid and 0 < self.best_bid < self.best_ask

    def mid_ticks(self) -> float:
        """Mid price in (possibly half) ticks; requires `ready`."""
        return (self.best_bid + self.best_ask) * 0.5

    def spread_ticks(self) -> int:
        return self.best_ask - self.best_bid

    def bid_lots_at(self, price: int) -> int:
        return self.bids.get(price, 0)

    def ask_lots_at(self, price: int) -> int:
        return self.asks.get(price, 0)

    def depth_lots(self, n_ticks: int) -> tuple[int, int]:
        """Total (bid, ask) lots within `n_ticks` of each side's best price (inclusive)."""
        bid_total = 0
        ask_total = 0
        if self.best_bid:
            get = self.bids.get
            top = self.best_bid
            for p in range(top - n_ticks, top + 1):
                bid_total += get(p, 0)
        if self.best_ask:
            get = self.asks.get
            top = self.best_ask
            for p in range(top, top + n_ticks + 1):
                ask_total += get(p, 0)
        return bid_total, ask_total

    def top_levels(self, n: int) -> tuple[list[Level], list[Level]]:
        """Best `n` levels per side, best first (for display and recording)."""
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks


def _next_best(levels: dict[int, int], removed: int, direction: int) -> int:
    """Best remaining price after removing the best level, scanning nearby ticks first."""
    if not levels:
        return 0
    p = removed
    for _ in range(_SCAN_LIMIT):
        p += direction
        if p in levels:
            return p
    return max(levels) if direction < 0 else min(levels)
