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

from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from numba import types
from numba.typed import Dict

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
S_WATCH_BIDS = 8
"""How many of the watched prices are bids (they come first)."""
STATE_SLOTS = 9

HIGH = 1 << 62
LOW = -(1 << 62)
WATCH_BUFFER = 4096
WINDOW_TICKS = 1 << 18
"""Prices (in ticks) held in the arrays, around the market; levels further out are kept in
dictionaries (`far_bid`, `far_ask`)."""
_RECENTER_TICKS = WINDOW_TICKS // 8

IntArray = npt.NDArray[np.int64]
KindArray = npt.NDArray[np.int8]
LevelDict = Any
"""numba.typed.Dict[int64, int64]: price → size of the levels outside the arrays."""


@dataclass(slots=True)
class MarketRows:
    """One chunk of market rows in exchange order (`ts_ns` non-decreasing)."""

    ts_ns: IntArray
    kind: KindArray
    ticks: IntArray
    lots: IntArray
    tick_center: int
    """A typical price of the chunk's depth rows (their median; 0: none), where the array
    book centers when it has no best prices to go by."""
    groups: int
    """Market events the rows make up (e.g. one depth message), for the loop's statistics."""
    events: dict[int, Event] = field(default_factory=dict)
    """Row index → event, for the rows the matching engine applies itself (snapshots)."""
    group_end: dict[int, int] = field(default_factory=dict)
    """Row index of a snapshot → index just past its group."""

    def __len__(self) -> int:
        return len(self.ts_ns)


@numba.njit(cache=True, nogil=True)
def _below(side: IntArray, far: LevelDict, base: int, start: int) -> int:  # pragma: no cover
    """Highest price strictly below `start` with size, or 0."""
    n = len(side)
    j = min(start - base, n) - 1
    while j >= 0:
        if side[j] > 0:
            break
        j -= 1
    best = j + base if j >= 0 else 0
    if len(far) and (j < 0 or start - base > n):
        for p in far:
            if best < p < start:
                best = p
    return best


@numba.njit(cache=True, nogil=True)
def _above(side: IntArray, far: LevelDict, base: int, start: int) -> int:  # pragma: no cover
    """Lowest price strictly above `start` with size, or 0."""
    n = len(side)
    j = max(start - base + 1, 0)
    while j < n:
        if side[j] > 0:
            break
        j += 1
    best = j + base if j < n else 0
    if len(far) and (j >= n or start < base):
        for p in far:
            if p > start and (best == 0 or p < best):
                best = p
    return best


@numba.njit(cache=True, nogil=True)
def _level(side: IntArray, far: LevelDict, base: int, p: int) -> int:  # pragma: no cover
    j = p - base
    if 0 <= j < len(side):
        return int(side[j])
    return int(far.get(p, 0))


@numba.njit(cache=True, nogil=True)
def _set_level(  # pragma: no cover - compiled
    side: IntArray, far: LevelDict, base: int, p: int, q: int
) -> None:
    j = p - base
    if 0 <= j < len(side):
        side[j] = q
    elif q > 0:
        far[p] = q
    elif p in far:
        del far[p]


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
    far_bid: LevelDict,
    far_ask: LevelDict,
    st: IntArray,
    watch: IntArray,
    out: IntArray,
) -> int:
    base = st[S_BASE]
    best_bid = st[S_BEST_BID]
    best_ask = st[S_BEST_ASK]
    min_sell = st[S_MIN_SELL]
    max_buy = st[S_MAX_BUY]
    n_watch_bid = st[S_WATCH_BIDS]
    watched = st[S_WATCHED]
    cap = out.shape[1]
    stop = 0
    prev = 0
    while i < end:
        if ts[i] > until:
            break
        k = kind[i]
        p = ticks[i]
        q = lots[i]
        if k == KIND_BID:
            prev = _level(bid, far_bid, base, p)
            _set_level(bid, far_bid, base, p, q)
            if q > 0:
                if p > best_bid:
                    best_bid = p
                    if 0 < best_ask <= p:
                        best_ask = _above(ask, far_ask, base, p)
                    if p >= min_sell:
                        stop = STOP_CROSS
            elif p == best_bid:
                best_bid = _below(bid, far_bid, base, p)
            for w in range(n_watch_bid):
                if watch[w] == p:
                    out[0, watched] = i
                    out[1, watched] = prev
                    watched += 1
                    if watched == cap and stop == 0:
                        stop = STOP_FULL
                    break
        elif k == KIND_ASK:
            prev = _level(ask, far_ask, base, p)
            _set_level(ask, far_ask, base, p, q)
            if q > 0:
                if best_ask == 0 or p < best_ask:
                    best_ask = p
                    if best_bid >= p:
                        best_bid = _below(bid, far_bid, base, p)
                    if p <= max_buy:
                        stop = STOP_CROSS
            elif p == best_ask:
                best_ask = _above(ask, far_ask, base, p)
            for w in range(n_watch_bid, len(watch)):
                if watch[w] == p:
                    out[0, watched] = i
                    out[1, watched] = prev
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


def scan(rows: MarketRows, start: int, until: int, book: ArrayBook) -> int:
    """Apply rows from `start` while their time is at most `until`; returns the index of the
    next row to apply. On a stop (`book.state[S_STOP]`), the stopping row is the one before the
    returned index, except for `STOP_SNAPSHOT`, where it is the returned index itself. The
    prices watched are `book.watch` (`book.state[S_WATCH_BIDS]` bids first, then asks)."""
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
        book.far_bid,
        book.far_ask,
        book.state,
        book.watch,
        book.watched,
    )
    return out


def _level_dict() -> LevelDict:
    return Dict.empty(key_type=types.int64, value_type=types.int64)


class _Side(MutableMapping[int, int]):
    """One side of an ArrayBook seen as a price → size mapping (sizes > 0 only)."""

    __slots__ = ("_bid", "_book")

    def __init__(self, book: ArrayBook, bid: bool) -> None:
        self._book = book
        self._bid = bid

    def _parts(self) -> tuple[IntArray, LevelDict]:
        book = self._book
        return (book.bid, book.far_bid) if self._bid else (book.ask, book.far_ask)

    def get(self, price: int, default: int | None = None) -> int | None:  # type: ignore[override]
        levels, far = self._parts()
        j = price - self._book.base
        if 0 <= j < len(levels):
            lots = int(levels[j])
            return lots if lots > 0 else default
        if len(far):
            lots = far.get(price, 0)
            if lots > 0:
                return int(lots)
        return default

    def __getitem__(self, price: int) -> int:
        lots = self.get(price)
        if lots is None:
            raise KeyError(price)
        return lots

    def __contains__(self, price: object) -> bool:
        return isinstance(price, int) and self.get(price) is not None

    def __setitem__(self, price: int, lots: int) -> None:
        levels, far = self._parts()
        j = price - self._book.base
        if 0 <= j < len(levels):
            levels[j] = max(lots, 0)
        elif lots > 0:
            far[price] = lots
        elif price in far:
            del far[price]

    def __delitem__(self, price: int) -> None:
        if price not in self:
            raise KeyError(price)
        self[price] = 0

    def __iter__(self) -> Iterator[int]:
        levels, far = self._parts()
        near = (np.flatnonzero(levels > 0) + self._book.base).tolist()
        return iter(sorted([*near, *far.keys()]))

    def __len__(self) -> int:
        levels, far = self._parts()
        return int(np.count_nonzero(levels > 0)) + len(far)


class ArrayBook:
    """The replayed market book: arrays for the prices around the market (index = price in
    ticks - `base`), dictionaries for the levels further out.

    Holds what the matching engine's dict book holds, including the best prices the crossed-book
    rule leaves behind (which need not be the highest bid / lowest ask level); `bids` and `asks`
    read it as mappings for the matching engine's Python paths.
    """

    __slots__ = (
        "ask",
        "asks",
        "bid",
        "bids",
        "far_ask",
        "far_bid",
        "state",
        "watch",
        "watched",
    )

    def __init__(self) -> None:
        self.bid: IntArray = np.zeros(0, dtype=np.int64)
        self.ask: IntArray = np.zeros(0, dtype=np.int64)
        self.far_bid: LevelDict = _level_dict()
        self.far_ask: LevelDict = _level_dict()
        self.state: IntArray = np.zeros(STATE_SLOTS, dtype=np.int64)
        self.state[S_MIN_SELL] = HIGH
        self.state[S_MAX_BUY] = LOW
        self.watch: IntArray = np.zeros(0, dtype=np.int64)
        """Prices of our resting orders: `state[S_WATCH_BIDS]` bids, then asks."""
        self.watched: IntArray = np.zeros((2, WATCH_BUFFER), dtype=np.int64)
        """Depth changes at watched prices during a scan: row index, size before."""
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

    def set_watch(self, bids: Iterable[int], asks: Iterable[int]) -> None:
        """The prices of our resting orders, whose depth changes a scan reports."""
        b = list(bids)
        self.watch = np.array(b + list(asks), dtype=np.int64)
        self.state[S_WATCH_BIDS] = len(b)

    def covers(self, center: int) -> bool:
        """Whether `center` lies well inside the arrays."""
        j = center - self.base
        return len(self.bid) > 0 and _RECENTER_TICKS <= j < len(self.bid) - _RECENTER_TICKS

    def center_on(self, center: int) -> None:
        """Re-center the arrays on `center` (ticks), moving levels between arrays and
        dictionaries; the book's contents do not change."""
        bids = dict(self.bids.items())
        asks = dict(self.asks.items())
        base = max(center - WINDOW_TICKS // 2, 1)
        self.bid = np.zeros(WINDOW_TICKS, dtype=np.int64)
        self.ask = np.zeros(WINDOW_TICKS, dtype=np.int64)
        self.far_bid = _level_dict()
        self.far_ask = _level_dict()
        self.state[S_BASE] = base
        for p, q in bids.items():
            self.bids[p] = q
        for p, q in asks.items():
            self.asks[p] = q

    def apply_snapshot(self, snap: BookSnapshot) -> None:
        """Replace the book with the snapshot's levels (best = highest bid, lowest ask)."""
        best_bid = max((p for p, q in snap.bids if q > 0), default=0)
        best_ask = min((p for p, q in snap.asks if q > 0), default=0)
        if best_bid and best_ask:
            center = (best_bid + best_ask) // 2
        else:
            center = best_bid or best_ask or self.base + len(self.bid) // 2
        self.bid = np.zeros(0, dtype=np.int64)
        self.ask = np.zeros(0, dtype=np.int64)
        self.far_bid = _level_dict()
        self.far_ask = _level_dict()
        self.center_on(center)
        for p, q in snap.bids:
            if q > 0:
                self.bids[p] = q
        for p, q in snap.asks:
            if q > 0:
                self.asks[p] = q
        self.best_bid = best_bid
        self.best_ask = best_ask
