"""Columnar market replay for the simulated exchange: a dense array book and a compiled scan.

A long backtest spends most of its time applying market rows that cannot touch our orders. Here
the rows of a chunk are arrays (`MarketRows`) and `scan` (compiled with numba) applies them to an
`ArrayBook` with exactly the matching engine's book rules (`matching.MatchingEngine._bid_levels`
and `_ask_levels`: best prices, the reference's crossed-book rule). It stops, handing the row
back to the matching engine's Python code, only where the rules for our orders apply:

* `STOP_CROSS`: a new best price reaches one of our resting orders on the other side;
* `STOP_TRADE`: a trade prints at or through one of our resting prices;
* `STOP_SNAPSHOT`: the first row of a snapshot group (the matching engine applies the snapshot);
* `STOP_FULL`: the buffer of depth changes at our resting prices is full.

Depth changes at prices where we rest (queue position updates) are collected in a buffer, in row
order, rather than stopping; the matching engine applies them before anything else happens to
our orders. Fill rules and queue models therefore exist once, in Python.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field

import numba
import numpy as np
import numpy.typing as npt

from grvtmm.core.events import BookSnapshot, Event

KIND_BID = 0
"""A bid level: price and size (size 0 removes it)."""
KIND_ASK = 1
KIND_TRADE_BUY = 2
"""A trade whose aggressor bought (it lifts asks: our sells)."""
KIND_TRADE_SELL = 3
KIND_SNAPSHOT = 4
"""The first row of a snapshot group; its event is in `MarketRows.events`."""
KIND_SKIP = 5
"""A row the scan passes over (the rest of a snapshot group, or a row with nothing to apply)."""

STOP_CROSS = 1
STOP_TRADE = 2
STOP_SNAPSHOT = 4
STOP_FULL = 8

# Slots of the state array shared by the scan and ArrayBook.
S_BEST_BID = 0
S_BEST_ASK = 1
S_MIN_SELL = 2
"""Lowest price of our resting sells (`HIGH` if none)."""
S_MAX_BUY = 3
"""Highest price of our resting buys (`LOW` if none)."""
S_BASE = 4
"""The tick of array index 0."""
S_STOP = 5
S_PREV = 6
"""Size of the stopping row's level before the row (depth rows)."""
S_WATCHED = 7
"""Entries used in the watch buffer."""
STATE_SLOTS = 8

HIGH = 1 << 62
LOW = -(1 << 62)
WATCH_BUFFER = 4096
MAX_SPAN_TICKS = 1 << 23
"""Widest price range (in ticks) the array book covers: 64 MiB per side."""
_MARGIN_TICKS = 1 << 12

IntArray = npt.NDArray[np.int64]
KindArray = npt.NDArray[np.int8]


@dataclass(slots=True)
class MarketRows:
    """One chunk of market rows in exchange order (`ts_ns` non-decreasing)."""

    ts_ns: IntArray
    kind: KindArray
    ticks: IntArray
    lots: IntArray
    tick_low: int
    """Lowest and highest price of the chunk's depth rows (low > high: none)."""
    tick_high: int
    groups: int
    """Market events the rows make up (e.g. one depth message), for the loop's statistics."""
    events: dict[int, Event] = field(default_factory=dict)
    """Row index → event, for the rows the matching engine applies itself (snapshots)."""
    group_end: dict[int, int] = field(default_factory=dict)
    """Row index of a snapshot → index just past its group."""

    def __len__(self) -> int:
        return len(self.ts_ns)


class SpanError(ValueError):
    """The market's prices span more ticks than the array book covers."""


@numba.njit(cache=True, nogil=True)
def _below(side: IntArray, base: int, start: int) -> int:  # pragma: no cover - compiled
    j = min(start - base, len(side)) - 1
    while j >= 0:
        if side[j] > 0:
            return j + base
        j -= 1
    return 0


@numba.njit(cache=True, nogil=True)
def _above(side: IntArray, base: int, start: int) -> int:  # pragma: no cover - compiled
    j = max(start - base + 1, 0)
    n = len(side)
    while j < n:
        if side[j] > 0:
            return j + base
        j += 1
    return 0


@numba.njit(cache=True, nogil=True)
def _scan(  # pragma: no cover - compiled
    ts: IntArray,
    kind: KindArray,
    ticks: IntArray,
    lots: IntArray,
    i: int,
    end: int,
    until: int,
    bid: IntArray,
    ask: IntArray,
    st: IntArray,
    watch_bid: IntArray,
    watch_ask: IntArray,
    out_row: IntArray,
    out_prev: IntArray,
) -> int:
    base = st[S_BASE]
    best_bid = st[S_BEST_BID]
    best_ask = st[S_BEST_ASK]
    min_sell = st[S_MIN_SELL]
    max_buy = st[S_MAX_BUY]
    watched = st[S_WATCHED]
    cap = len(out_row)
    stop = 0
    prev = 0
    while i < end:
        if ts[i] > until:
            break
        k = kind[i]
        p = ticks[i]
        q = lots[i]
        if k == KIND_BID:
            j = p - base
            prev = bid[j]
            if q > 0:
                bid[j] = q
                if p > best_bid:
                    best_bid = p
                    if 0 < best_ask <= p:
                        best_ask = _above(ask, base, p)
                    if p >= min_sell:
                        stop = STOP_CROSS
            else:
                bid[j] = 0
                if p == best_bid:
                    best_bid = _below(bid, base, p)
            for w in watch_bid:
                if w == p:
                    out_row[watched] = i
                    out_prev[watched] = prev
                    watched += 1
                    if watched == cap and stop == 0:
                        stop = STOP_FULL
                    break
        elif k == KIND_ASK:
            j = p - base
            prev = ask[j]
            if q > 0:
                ask[j] = q
                if best_ask == 0 or p < best_ask:
                    best_ask = p
                    if best_bid >= p:
                        best_bid = _below(bid, base, p)
                    if p <= max_buy:
                        stop = STOP_CROSS
            else:
                ask[j] = 0
                if p == best_ask:
                    best_ask = _above(ask, base, p)
            for w in watch_ask:
                if w == p:
                    out_row[watched] = i
                    out_prev[watched] = prev
                    watched += 1
                    if watched == cap and stop == 0:
                        stop = STOP_FULL
                    break
        elif k == KIND_TRADE_BUY:
            if p >= min_sell:
                stop = STOP_TRADE
        elif k == KIND_TRADE_SELL:
            if p <= max_buy:
                stop = STOP_TRADE
        elif k == KIND_SNAPSHOT:
            stop = STOP_SNAPSHOT
            break
        i += 1
        if stop != 0:
            break
    st[S_BEST_BID] = best_bid
    st[S_BEST_ASK] = best_ask
    st[S_STOP] = stop
    st[S_PREV] = prev
    st[S_WATCHED] = watched
    return i


def scan(
    rows: MarketRows,
    start: int,
    until: int,
    book: ArrayBook,
    watch_bid: IntArray,
    watch_ask: IntArray,
) -> int:
    """Apply rows from `start` while their time is at most `until`; returns the index of the
    next row to apply. On a stop (`book.state[S_STOP]`), the stopping row is the one before the
    returned index, except for `STOP_SNAPSHOT`, where it is the returned index itself."""
    out: int = _scan(
        rows.ts_ns,
        rows.kind,
        rows.ticks,
        rows.lots,
        start,
        len(rows.ts_ns),
        until,
        book.bid,
        book.ask,
        book.state,
        watch_bid,
        watch_ask,
        book.watch_rows,
        book.watch_prev,
    )
    return out


class _Side(MutableMapping[int, int]):
    """One side of an ArrayBook seen as a price → size mapping (sizes > 0 only)."""

    __slots__ = ("_bid", "_book")

    def __init__(self, book: ArrayBook, bid: bool) -> None:
        self._book = book
        self._bid = bid

    def _levels(self) -> IntArray:
        return self._book.bid if self._bid else self._book.ask

    def __getitem__(self, price: int) -> int:
        j = price - self._book.base
        levels = self._levels()
        if 0 <= j < len(levels) and levels[j] > 0:
            return int(levels[j])
        raise KeyError(price)

    def get(self, price: int, default: int | None = None) -> int | None:  # type: ignore[override]
        j = price - self._book.base
        levels = self._levels()
        if 0 <= j < len(levels) and levels[j] > 0:
            return int(levels[j])
        return default

    def __contains__(self, price: object) -> bool:
        if not isinstance(price, int):
            return False
        j = price - self._book.base
        levels = self._levels()
        return 0 <= j < len(levels) and bool(levels[j] > 0)

    def __setitem__(self, price: int, lots: int) -> None:
        self._book.ensure(price, price)
        self._levels()[price - self._book.base] = max(lots, 0)

    def __delitem__(self, price: int) -> None:
        if price not in self:
            raise KeyError(price)
        self._levels()[price - self._book.base] = 0

    def __iter__(self) -> Iterator[int]:
        base = self._book.base
        return iter((np.flatnonzero(self._levels() > 0) + base).tolist())

    def __len__(self) -> int:
        return int(np.count_nonzero(self._levels() > 0))


class ArrayBook:
    """The replayed market book over dense arrays (index = price in ticks - `base`).

    Holds what the matching engine's dict book holds, including the best prices the crossed-book
    rule leaves behind (which need not be the highest bid / lowest ask level); `bids` and `asks`
    read it as mappings for the matching engine's Python paths.
    """

    __slots__ = ("ask", "asks", "bid", "bids", "state", "watch_prev", "watch_rows")

    def __init__(self) -> None:
        self.bid: IntArray = np.zeros(0, dtype=np.int64)
        self.ask: IntArray = np.zeros(0, dtype=np.int64)
        self.state: IntArray = np.zeros(STATE_SLOTS, dtype=np.int64)
        self.state[S_MIN_SELL] = HIGH
        self.state[S_MAX_BUY] = LOW
        self.watch_rows: IntArray = np.zeros(WATCH_BUFFER, dtype=np.int64)
        self.watch_prev: IntArray = np.zeros(WATCH_BUFFER, dtype=np.int64)
        self.bids = _Side(self, True)
        self.asks = _Side(self, False)

    @property
    def base(self) -> int:
        return int(self.state[S_BASE])

    @property
    def best_bid(self) -> int:
        return int(self.state[S_BEST_BID])

    @best_bid.setter
    def best_bid(self, price: int) -> None:
        self.state[S_BEST_BID] = price

    @property
    def best_ask(self) -> int:
        return int(self.state[S_BEST_ASK])

    @best_ask.setter
    def best_ask(self, price: int) -> None:
        self.state[S_BEST_ASK] = price

    def ensure(self, low: int, high: int) -> None:
        """Cover prices `low`..`high` (ticks), keeping the levels held so far."""
        base, n = self.base, len(self.bid)
        if n and base <= low and high < base + n:
            return
        if n:
            used = np.flatnonzero((self.bid > 0) | (self.ask > 0))
            if used.size:
                low = min(low, int(used[0]) + base)
                high = max(high, int(used[-1]) + base)
        new_base = max(low - _MARGIN_TICKS, 1)
        size = high - new_base + 1 + _MARGIN_TICKS
        if size > MAX_SPAN_TICKS:
            raise SpanError(
                f"market prices span {high - low + 1:,} ticks, more than the array book's "
                f"{MAX_SPAN_TICKS:,}"
            )
        bid = np.zeros(size, dtype=np.int64)
        ask = np.zeros(size, dtype=np.int64)
        if n:
            lo = max(base, new_base)
            hi = min(base + n, new_base + size)
            if hi > lo:
                bid[lo - new_base : hi - new_base] = self.bid[lo - base : hi - base]
                ask[lo - new_base : hi - new_base] = self.ask[lo - base : hi - base]
        self.bid, self.ask = bid, ask
        self.state[S_BASE] = new_base

    def apply_snapshot(self, snap: BookSnapshot) -> None:
        """Replace the book with the snapshot's levels (best = highest bid, lowest ask)."""
        prices = [p for p, _ in snap.bids] + [p for p, _ in snap.asks]
        if prices:
            self.ensure(min(prices), max(prices))
        self.bid[:] = 0
        self.ask[:] = 0
        base = self.base
        best_bid = best_ask = 0
        for p, q in snap.bids:
            if q > 0:
                self.bid[p - base] = q
                best_bid = max(best_bid, p)
        for p, q in snap.asks:
            if q > 0:
                self.ask[p - base] = q
                best_ask = p if not best_ask else min(best_ask, p)
        self.best_bid = best_bid
        self.best_ask = best_ask
