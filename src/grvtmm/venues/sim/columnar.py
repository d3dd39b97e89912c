"""Columnar market replay for the simulated exchange: a dense array book and a compiled scan.

A long backtest spends most of its time applying market rows that cannot touch our orders. Here
the rows of a chunk are arrays (`MarketRows`) and `scan` (compiled with numba) applies them to an
`ArrayBook` with exactly the matching engine's book rules (`matching.MatchingEngine._bid_levels`
and `_ask_levels`: best prices, the reference's crossed-book rule). It stops, handing the row
back to the matching engine's Python code, only where the rules for our orders apply:

* `STOP_CROSS`: a new best price reaches one of our resting orders on the other side;
* `STOP_TRADE`: a trade prints at or through one of our resting prices;
* `STOP_SNAPSHOT`: the first row of a snapshot group (the matching engine applies the snapshot);
* `STOP_FULL`: the buffer of depth changes at our resting prices is full;
* `STOP_GROW`: the table of levels outside the arrays needs more room.

Depth changes at prices where we rest (queue position updates) are collected in a buffer, in row
order, rather than stopping; the matching engine applies them before anything else happens to
our orders. Fill rules and queue models therefore exist once, in Python.

The arrays hold `WINDOW_TICKS` prices around the market; levels further out (a book can hold
orders at a tenth or ten times the price) live in an open-addressing table, and the arrays are
re-centered when the market drifts towards their edge (`STOP_RECENTER`, advisory).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import numpy.typing as npt

from grvtmm.core.events import BookSnapshot, Event
from grvtmm.venues.sim.jit import load_compiled

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
STOP_GROW = 16
STOP_RECENTER = 32
"""Advisory, in place of no stop: the market's mid is near the arrays' edge."""

# Slots of the book's state array.
S_BEST_BID = 0
S_BEST_ASK = 1
S_BASE = 2
"""The tick of array index 0."""
S_FAR_USED = 3
"""Slots taken in the far tables (bids at S_FAR_USED, asks at S_FAR_USED + 1)."""
STATE_SLOTS = 5

HIGH = 1 << 62
LOW = -(1 << 62)
WATCH_BUFFER = 4096
WINDOW_TICKS = 1 << 18
"""Prices (in ticks) held in the arrays, around the market."""
RECENTER_TICKS = WINDOW_TICKS // 8
FAR_SLOTS = 1 << 12
HASH = 0x9E3779B1

IntArray = npt.NDArray[np.int64]

D_TS = 0
D_KIND = 1
D_TICKS = 2
D_LOTS = 3
"""Rows of `MarketRows.data`."""


@dataclass(slots=True)
class MarketRows:
    """One chunk of market rows in exchange order (times non-decreasing).

    `data` rows: exchange time, kind (`KIND_*`), price in ticks, size in lots.
    """

    data: IntArray
    tick_center: int
    """A typical price of the chunk's depth rows (their median; 0: none), where the array
    book centers when it has no best prices to go by."""
    groups: int
    """Market events the rows make up (e.g. one depth message), for the loop's statistics."""
    events: dict[int, Event] = field(default_factory=dict)
    """Row index → event, for the rows the matching engine applies itself (snapshots)."""
    group_end: dict[int, int] = field(default_factory=dict)
    """Row index of a snapshot → index just past its group."""

    @property
    def ts_ns(self) -> IntArray:
        column: IntArray = self.data[D_TS]
        return column

    @property
    def kind(self) -> IntArray:
        column: IntArray = self.data[D_KIND]
        return column

    @property
    def ticks(self) -> IntArray:
        column: IntArray = self.data[D_TICKS]
        return column

    @property
    def lots(self) -> IntArray:
        column: IntArray = self.data[D_LOTS]
        return column

    def __len__(self) -> int:
        return int(self.data.shape[1])


_KERNELS: list[ModuleType] = []


def kernels() -> ModuleType:
    """The compiled scan (`grvtmm.venues.sim.kernels`), loaded on first use: numba and the
    compilation (cached on disk) are only paid for by runs that replay columnar data."""
    if not _KERNELS:
        _KERNELS.append(load_compiled("grvtmm.venues.sim.kernels"))
    return _KERNELS[0]


class _Side(MutableMapping[int, int]):
    """One side of an ArrayBook seen as a price → size mapping (sizes > 0 only)."""

    __slots__ = ("_book", "_row")

    def __init__(self, book: ArrayBook, row: int) -> None:
        self._book = book
        self._row = row

    def get(self, price: int, default: int | None = None) -> int | None:  # type: ignore[override]
        book = self._book
        levels = book.near[self._row]
        j = price - int(book.state[S_BASE])
        if 0 <= j < len(levels):
            lots = int(levels[j])
        elif book.state[S_FAR_USED + self._row]:
            keys, vals = book.far_keys[self._row], book.far_vals[self._row]
            lots = int(kernels().far_get(keys, vals, price))
        else:
            lots = 0
        return lots if lots > 0 else default

    def __getitem__(self, price: int) -> int:
        lots = self.get(price)
        if lots is None:
            raise KeyError(price)
        return lots

    def __contains__(self, price: object) -> bool:
        return isinstance(price, int) and self.get(price) is not None

    def __setitem__(self, price: int, lots: int) -> None:
        self._book.set_level(self._row, price, lots)

    def __delitem__(self, price: int) -> None:
        if price not in self:
            raise KeyError(price)
        self[price] = 0

    def __iter__(self) -> Iterator[int]:
        book = self._book
        near = book.near[self._row]
        prices = (np.flatnonzero(near > 0) + int(book.state[S_BASE])).tolist()
        keys, vals = book.far_keys[self._row], book.far_vals[self._row]
        prices += keys[(keys != 0) & (vals > 0)].tolist()
        return iter(sorted(prices))

    def __len__(self) -> int:
        book = self._book
        keys, vals = book.far_keys[self._row], book.far_vals[self._row]
        near = int(np.count_nonzero(book.near[self._row] > 0))
        return near + int(np.count_nonzero((keys != 0) & (vals > 0)))


class ArrayBook:
    """The replayed market book: arrays for the prices around the market (`near`, index = price
    in ticks - base; row 0 bids, row 1 asks) and an open-addressing table (`far_keys`,
    `far_vals`) for the levels further out.

    Holds what the matching engine's dict book holds, including the best prices the crossed-book
    rule leaves behind (which need not be the highest bid / lowest ask level); `bids` and `asks`
    read it as mappings for the matching engine's Python paths.
    """

    __slots__ = ("asks", "bids", "far_keys", "far_vals", "near", "state", "watch", "watched")

    def __init__(self) -> None:
        self.near: IntArray = np.zeros((2, 0), dtype=np.int64)
        self.far_keys: IntArray = np.zeros((2, FAR_SLOTS), dtype=np.int64)
        self.far_vals: IntArray = np.zeros((2, FAR_SLOTS), dtype=np.int64)
        self.state: IntArray = np.zeros(STATE_SLOTS, dtype=np.int64)
        self.watch: IntArray = np.zeros(0, dtype=np.int64)
        """Prices of our resting orders: bids first, then asks."""
        self.watched: IntArray = np.zeros((2, WATCH_BUFFER), dtype=np.int64)
        """Depth changes at watched prices during a scan: row index, size before."""
        self.bids = _Side(self, 0)
        self.asks = _Side(self, 1)

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

    def scan(
        self,
        rows: MarketRows,
        start: int,
        until: int,
        watch_bids: int,
        min_sell: int,
        max_buy: int,
    ) -> tuple[int, int, int]:
        """Apply rows from `start` while their time is at most `until`.

        Returns (next row, stop, depth changes buffered in `watched`). On a stop, the stopping
        row is the one before the next row, except for `STOP_SNAPSHOT` and `STOP_GROW` (not
        applied), where it is the next row itself. The first `watch_bids` prices of `watch`
        are bids, the rest asks; `min_sell`/`max_buy` are our lowest sell and highest buy
        (`HIGH`/`LOW` if none).
        """
        result: tuple[int, int, int] = kernels().scan(
            rows.data, start, until, self.near, self.far_keys, self.far_vals, self.state,
            self.watch, watch_bids, self.watched, min_sell, max_buy,
        )  # fmt: skip
        return result

    def set_level(self, row: int, price: int, lots: int) -> None:
        """Set one level (row 0 bids, 1 asks); size 0 removes it. Best prices are left as
        they are."""
        lots = max(lots, 0)
        j = price - self.base
        if 0 <= j < self.near.shape[1]:
            self.near[row, j] = lots
            return
        far_set = kernels().far_set
        while far_set(self.far_keys[row], self.far_vals[row], self.state, row, price, lots) < 0:
            self.grow()

    def grow(self) -> None:
        """Make room in the far table (after `STOP_GROW`), keeping its levels: rebuilt without
        its removed prices, and doubled when more than a quarter of it is live."""
        levels = [self._far_levels(row) for row in (0, 1)]
        slots = self.far_keys.shape[1]
        if 4 * (max(len(held) for held in levels) + 1) > slots:
            slots *= 2
        self.far_keys = np.zeros((2, slots), dtype=np.int64)
        self.far_vals = np.zeros((2, slots), dtype=np.int64)
        self.state[S_FAR_USED : S_FAR_USED + 2] = 0
        far_set = kernels().far_set
        for row, held in enumerate(levels):
            for p, q in held:
                far_set(self.far_keys[row], self.far_vals[row], self.state, row, p, q)

    def _far_levels(self, row: int) -> list[tuple[int, int]]:
        keys, vals = self.far_keys[row], self.far_vals[row]
        used = (keys != 0) & (vals > 0)
        return list(zip(keys[used].tolist(), vals[used].tolist(), strict=True))

    def center_on(self, center: int) -> None:
        """Re-center the arrays on `center` (ticks), moving levels between the arrays and the
        far table; the book's contents and best prices do not change."""
        bids = list(self.bids.items())
        asks = list(self.asks.items())
        self.near = np.zeros((2, WINDOW_TICKS), dtype=np.int64)
        self.far_keys = np.zeros((2, FAR_SLOTS), dtype=np.int64)
        self.far_vals = np.zeros((2, FAR_SLOTS), dtype=np.int64)
        self.state[S_FAR_USED : S_FAR_USED + 2] = 0
        self.state[S_BASE] = max(center - WINDOW_TICKS // 2, 1)
        for row, levels in ((0, bids), (1, asks)):
            for p, q in levels:
                self.set_level(row, p, q)

    def recenter(self) -> None:
        """Center the arrays on the market (after `STOP_RECENTER`)."""
        bid, ask = self.best_bid, self.best_ask
        center = (bid + ask) // 2 if bid and ask else bid or ask
        if center:
            self.center_on(center)

    def apply_snapshot(self, snap: BookSnapshot) -> None:
        """Replace the book with the snapshot's levels (best = highest bid, lowest ask)."""
        best_bid = max((p for p, q in snap.bids if q > 0), default=0)
        best_ask = min((p for p, q in snap.asks if q > 0), default=0)
        if best_bid and best_ask:
            center = (best_bid + best_ask) // 2
        else:
            center = best_bid or best_ask or self.base + self.near.shape[1] // 2
        self.near = np.zeros((2, 0), dtype=np.int64)
        self.far_keys[:] = 0
        self.far_vals[:] = 0
        self.state[S_FAR_USED : S_FAR_USED + 2] = 0
        self.center_on(center)
        for p, q in snap.bids:
            if q > 0:
                self.set_level(0, p, q)
        for p, q in snap.asks:
            if q > 0:
                self.set_level(1, p, q)
        self.best_bid = best_bid
        self.best_ask = best_ask

    def set_watch(self, bids: Iterable[int], asks: Iterable[int]) -> int:
        """The prices of our resting orders, whose depth changes a scan reports; returns how
        many are bids (for `scan`)."""
        b = list(bids)
        self.watch = np.array(b + list(asks), dtype=np.int64)
        return len(b)
