"""Exchange-side matching for the simulator: queue position models and a no-partial-fill book.

The rules follow hftbacktest's `NoPartialFillExchange` over an L2 feed (the reference engine,
reference/backtest.md), in integer ticks and lots:

* a resting order is filled in full, as maker, at its own price when the opposite best price
  reaches it, when a trade prints through its price, or when trades at its price clear the
  queue ahead of it by at least half a lot;
* a post-only order that would cross on arrival is rejected; any other crossing limit order
  takes the whole size at the opposite best price; IOC/FOK orders walk the visible book up to
  their limit instead; orders never change the replayed book (no market impact);
* the book keeps the reference's crossed-book rule: a new best on one side that reaches the
  other side moves that side's best past it, leaving the crossed levels in place.

Reference sources (hftbacktest 2.4.4): `backtest/proc/nopartialfillexchange.rs` (fill rules),
`backtest/models/queue.rs` (queue models), `depth/hashmapmarketdepth.rs` (best-price rules).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Protocol

from grvtmm.core.book import OrderBook
from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    BookDelta,
    BookSnapshot,
    CancelRejected,
    Event,
    Level,
    OpenOrderInfo,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    Trade,
)
from grvtmm.core.types import FeeSchedule, Instrument, Side, TimeInForce
from grvtmm.venues.sim.columnar import (
    KIND_ASK,
    KIND_BID,
    KIND_SNAPSHOT,
    KIND_TRADE_BUY,
    KIND_TRADE_SELL,
    STOP_CROSS,
    STOP_GROW,
    STOP_RECENTER,
    STOP_SNAPSHOT,
    STOP_TRADE,
    ArrayBook,
    MarketRows,
)

_HIGH = 1 << 62
_LOW = -(1 << 62)
_SCAN_TICKS = 64
_NO_EVENTS: tuple[Event, ...] = ()


class MarketBook(Protocol):
    """The replayed market book the matching engine reads: `OrderBook` or `ArrayBook`."""

    best_bid: int
    best_ask: int

    @property
    def bids(self) -> MutableMapping[int, int]: ...

    @property
    def asks(self) -> MutableMapping[int, int]: ...

    def apply_snapshot(self, snap: BookSnapshot) -> object: ...


# ---- queue models ---------------------------------------------------------------------------
class QueuePos:
    """Estimated lots ahead of one resting order (may go fractional or negative)."""

    __slots__ = ("cum_trade_lots", "front_lots")

    def __init__(self) -> None:
        self.front_lots = 0.0
        self.cum_trade_lots = 0.0


class QueueModel(Protocol):
    """Moves an order's queue position on trades and depth changes at its price level."""

    def new_order(self, pos: QueuePos, level_lots: int) -> None: ...

    def trade(self, pos: QueuePos, lots: int) -> None: ...

    def depth(self, pos: QueuePos, prev_lots: int, new_lots: int) -> None: ...

    def is_filled(self, pos: QueuePos) -> bool: ...


def _cleared(pos: QueuePos) -> bool:
    # The reference rounds -front/lot half away from zero and fills when the result is > 0,
    # i.e. once the queue ahead is overrun by at least half a lot.
    if pos.front_lots <= -0.5:
        pos.front_lots = 0.0
        return True
    return False


def _min_ignoring_nan(a: float, b: float) -> float:
    """`min` with IEEE-754 minNum semantics (a NaN operand yields the other one)."""
    if math.isnan(a):
        return b
    return a if a < b else b


class RiskAverseQueue:
    """Queue advances only by trades at the price; depth decreases only cap it (cancels behind)."""

    __slots__ = ()

    def new_order(self, pos: QueuePos, level_lots: int) -> None:
        pos.front_lots = float(level_lots)

    def trade(self, pos: QueuePos, lots: int) -> None:
        pos.front_lots -= lots

    def depth(self, pos: QueuePos, prev_lots: int, new_lots: int) -> None:
        if new_lots < pos.front_lots:
            pos.front_lots = float(new_lots)

    def is_filled(self, pos: QueuePos) -> bool:
        return _cleared(pos)


class _ProbQueue(abc.ABC):
    """Depth decreases are split between ahead and behind with p = f(back) / (f(back) + f(front)).

    Trade volume already counted since the last depth change is subtracted from the next
    decrease, so a trade and the depth update it causes do not advance the queue twice.
    """

    __slots__ = ()

    @abc.abstractmethod
    def f(self, x: float) -> float:
        """The weight of a queue of `x` lots."""

    def new_order(self, pos: QueuePos, level_lots: int) -> None:
        pos.front_lots = float(level_lots)
        pos.cum_trade_lots = 0.0

    def trade(self, pos: QueuePos, lots: int) -> None:
        pos.front_lots -= lots
        pos.cum_trade_lots += lots

    def depth(self, pos: QueuePos, prev_lots: int, new_lots: int) -> None:
        chg = prev_lots - new_lots - pos.cum_trade_lots
        pos.cum_trade_lots = 0.0
        if chg < 0:
            pos.front_lots = _min_ignoring_nan(pos.front_lots, new_lots)
            return
        front = pos.front_lots
        back = prev_lots - front
        prob = self.prob(front, back)
        est = front - (1.0 - prob) * chg + min(back - prob * chg, 0.0)
        pos.front_lots = _min_ignoring_nan(est, new_lots)

    def prob(self, front: float, back: float) -> float:
        """Probability that a decrease came from behind the order; infinities count as 1."""
        fb = self.f(back)
        den = fb + self.f(front)
        if den == 0.0:
            return math.nan if fb == 0.0 or math.isnan(fb) else 1.0
        prob = fb / den
        return 1.0 if math.isinf(prob) else prob

    def is_filled(self, pos: QueuePos) -> bool:
        return _cleared(pos)


class PowerProbQueue(_ProbQueue):
    """Probabilistic queue with f(x) = x^n (hftbacktest's PowerProbQueueFunc)."""

    __slots__ = ("n",)

    def __init__(self, n: float) -> None:
        self.n = float(n)

    def f(self, x: float) -> float:
        try:
            return math.pow(x, self.n)
        except ValueError:  # negative base, fractional power
            return math.nan
        except OverflowError:
            return math.inf


class LogProbQueue(_ProbQueue):
    """Probabilistic queue with f(x) = ln(1 + x), x in base units (`lot_size` per lot)."""

    __slots__ = ("lot_size",)

    def __init__(self, lot_size: float) -> None:
        self.lot_size = float(lot_size)

    def f(self, x: float) -> float:
        y = 1.0 + x * self.lot_size
        if y > 0.0:
            return math.log(y)
        return -math.inf if y == 0.0 else math.nan


# ---- resting orders ---------------------------------------------------------------------------
class _Resting(QueuePos):
    __slots__ = (
        "capped_lots",
        "client_order_id",
        "leaves_lots",
        "price_ticks",
        "reduce_only",
        "side",
        "venue_order_id",
    )

    def __init__(self, cmd: PlaceOrder, lots: int, venue_order_id: str) -> None:
        super().__init__()
        self.venue_order_id = venue_order_id
        self.client_order_id = cmd.client_order_id
        self.side = cmd.side
        self.price_ticks = cmd.price_ticks
        self.leaves_lots = lots
        self.reduce_only = cmd.reduce_only
        self.capped_lots = cmd.size_lots - lots


def _reject(cid: int, ts_ns: int, reason: str, code: int | None) -> list[Event]:
    return [
        OrderRejected(ts_ns=ts_ns, local_ns=ts_ns, client_order_id=cid, reason=reason, code=code)
    ]


def _canceled(cid: int, ts_ns: int, reason: str) -> OrderCanceled:
    return OrderCanceled(ts_ns=ts_ns, local_ns=ts_ns, client_order_id=cid, reason=reason)


def _cancel_rejected(cid: int, ts_ns: int) -> CancelRejected:
    return CancelRejected(ts_ns=ts_ns, local_ns=ts_ns, client_order_id=cid, reason="unknown_order")


def _below(levels: Mapping[int, int], start: int) -> int:
    """Highest price strictly below `start` with size, or 0."""
    p = start
    for _ in range(_SCAN_TICKS):
        p -= 1
        if p in levels:
            return p
    return max((q for q in levels if q < start), default=0)


def _above(levels: Mapping[int, int], start: int) -> int:
    """Lowest price strictly above `start` with size, or 0."""
    p = start
    for _ in range(_SCAN_TICKS):
        p += 1
        if p in levels:
            return p
    return min((q for q in levels if q > start), default=0)


# ---- the matching engine -------------------------------------------------------------------
class MatchingEngine:
    """One instrument's exchange: its own book from market data plus our orders and position.

    Every method returns the events it caused, stamped `ts_ns = local_ns =` the exchange time;
    the latency layer re-stamps `local_ns`.
    """

    __slots__ = (
        "_buys",
        "_max_buy",
        "_min_sell",
        "_order_seq",
        "_orders",
        "_out",
        "_sells",
        "_size_aligned",
        "_tick_aligned",
        "_trade_seq",
        "_watch_bids",
        "_watch_dirty",
        "book",
        "compiled_rows",
        "fees",
        "id_prefix",
        "instrument",
        "position_lots",
        "queue",
        "venue",
    )

    def __init__(
        self,
        instrument: Instrument,
        fees: FeeSchedule,
        queue: QueueModel,
        venue_instrument: Instrument | None = None,
        id_prefix: str = "sim",
    ) -> None:
        self.instrument = instrument
        self.fees = fees
        self.queue = queue
        self.venue = venue_instrument if venue_instrument is not None else instrument
        self.book: MarketBook = OrderBook(instrument.symbol)
        self.position_lots = 0
        self._watch_dirty = False
        self._watch_bids = 0
        self.compiled_rows = True
        """`on_rows` through the compiled scan (False: level by level, the reference)."""
        self._orders: dict[int, _Resting] = {}
        self._buys: dict[int, list[_Resting]] = {}
        self._sells: dict[int, list[_Resting]] = {}
        self._max_buy = _LOW
        self._min_sell = _HIGH
        self._trade_seq = 0
        self._order_seq = 0
        self.id_prefix = id_prefix
        """Prefix of venue order and trade ids; give each run its own so ids stay unique in
        a database shared across runs."""
        self._out: list[Event] = []
        self._tick_aligned = instrument.tick_size % self.venue.tick_size == 0
        self._size_aligned = instrument.size_step % self.venue.size_step == 0

    # ---- market data ----------------------------------------------------------------------
    def on_market(self, event: Event) -> tuple[Event, ...]:
        """Apply a market event (BookSnapshot, BookDelta, Trade) and return the fills it caused."""
        if isinstance(event, BookDelta):
            if event.bids:
                self._bid_levels(event.bids, event.ts_ns)
            if event.asks:
                self._ask_levels(event.asks, event.ts_ns)
        elif isinstance(event, Trade):
            self._trade(event)
        elif isinstance(event, BookSnapshot):
            self._snapshot(event)
        out = self._out
        if not out:
            return _NO_EVENTS
        caused = tuple(out)
        out.clear()
        return caused

    def _bid_levels(self, levels: Iterable[Level], ts_ns: int) -> None:
        """Apply bid levels in order: the book, its best prices, our queues, crossed fills."""
        book = self.book
        bids = book.bids
        buys = self._buys
        best = book.best_bid
        for price, lots in levels:
            resting = buys.get(price) if buys else None
            if lots > 0:
                prev = bids.get(price, 0) if resting is not None else 0
                bids[price] = lots
                if price > best:
                    best = book.best_bid = price
                    if 0 < book.best_ask <= price:
                        book.best_ask = _above(book.asks, price)
                    if price >= self._min_sell:
                        self._fill_crossed(Side.SELL, price, ts_ns)
            else:
                prev = bids.pop(price, 0)
                if price == best:
                    best = book.best_bid = _below(bids, price)
            if resting is not None:
                depth = self.queue.depth
                for order in resting:
                    depth(order, prev, lots)

    def _ask_levels(self, levels: Iterable[Level], ts_ns: int) -> None:
        """Apply ask levels in order: the book, its best prices, our queues, crossed fills."""
        book = self.book
        asks = book.asks
        sells = self._sells
        best = book.best_ask
        for price, lots in levels:
            resting = sells.get(price) if sells else None
            if lots > 0:
                prev = asks.get(price, 0) if resting is not None else 0
                asks[price] = lots
                if best == 0 or price < best:
                    best = book.best_ask = price
                    if book.best_bid >= price:
                        book.best_bid = _below(book.bids, price)
                    if price <= self._max_buy:
                        self._fill_crossed(Side.BUY, price, ts_ns)
            else:
                prev = asks.pop(price, 0)
                if price == best:
                    best = book.best_ask = _above(asks, price)
            if resting is not None:
                depth = self.queue.depth
                for order in resting:
                    depth(order, prev, lots)

    def _snapshot(self, snap: BookSnapshot) -> None:
        book = self.book
        book.apply_snapshot(snap)
        # The reference clears the book and re-adds every level, so each of our levels sees a
        # change from 0 to its new size.
        for levels, side in ((book.bids, self._buys), (book.asks, self._sells)):
            for price, orders in side.items():
                lots = levels.get(price, 0)
                if lots:
                    for order in orders:
                        self.queue.depth(order, 0, lots)
        if book.best_bid and book.best_bid >= self._min_sell:
            self._fill_crossed(Side.SELL, book.best_bid, snap.ts_ns)
        if book.best_ask and book.best_ask <= self._max_buy:
            self._fill_crossed(Side.BUY, book.best_ask, snap.ts_ns)

    def _fill_crossed(self, side: Side, through_ticks: int, ts_ns: int) -> None:
        """Fill every resting `side` order the opposite best price has reached, as maker."""
        if side is Side.SELL:
            prices = sorted(p for p in self._sells if p <= through_ticks)
            book_side = self._sells
        else:
            prices = sorted((p for p in self._buys if p >= through_ticks), reverse=True)
            book_side = self._buys
        for price in prices:
            for order in list(book_side[price]):
                self._maker_fill(order, ts_ns)

    def _trade(self, trade: Trade) -> None:
        self._trade_at(trade.price_ticks, trade.size_lots, trade.aggressor is Side.BUY, trade.ts_ns)

    def _trade_at(self, price: int, lots: int, bought: bool, ts: int) -> None:
        """A trade of `lots` at `price`; `bought`: its aggressor bought (lifting our sells)."""
        if bought:
            if price < self._min_sell:
                return
            book_side = self._sells
            prices = sorted(p for p in book_side if p <= price)
        else:
            if price > self._max_buy:
                return
            book_side = self._buys
            prices = sorted((p for p in book_side if p >= price), reverse=True)
        queue = self.queue
        for level in prices:
            for order in list(book_side[level]):
                if level != price:
                    self._maker_fill(order, ts)  # the trade printed through our price
                else:
                    queue.trade(order, lots)
                    if queue.is_filled(order):
                        self._maker_fill(order, ts)

    # ---- columnar market data -------------------------------------------------------------
    def on_rows(self, rows: MarketRows, start: int, until: int) -> tuple[int, tuple[Event, ...]]:
        """Apply market rows from `start` while their exchange time is at most `until`.

        The same rules as `on_market` row by row (see `columnar`); returns the index of the next
        row and the events caused. It returns early, right after the first row that caused
        events, so the caller can schedule them before later rows.
        """
        if not self.compiled_rows:
            return self._rows_by_level(rows, start, until)
        book = self.book
        if type(book) is not ArrayBook:
            book = self._to_array_book()
            bid, ask = book.best_bid, book.best_ask
            center = (bid + ask) // 2 if bid and ask else bid or ask or rows.tick_center
            book.center_on(center or 1)
        out = self._out
        i = start
        end = len(rows)
        while i < end:
            if self._watch_dirty:
                self._watch_dirty = False
                self._watch_bids = book.set_watch(self._buys, self._sells)
            i, stop, watched = book.scan(
                rows, i, until, self._watch_bids, self._min_sell, self._max_buy
            )
            if not stop or stop == STOP_RECENTER:
                if watched:
                    self._watched_depth(rows, book, watched, -1)
                if stop:
                    book.recenter()
                break
            row = i - 1
            if stop in (STOP_SNAPSHOT, STOP_GROW):
                row = i
            done = self._watched_depth(rows, book, watched, row) if watched else 0
            if stop == STOP_CROSS:
                kind = int(rows.kind[row])
                side = Side.SELL if kind == KIND_BID else Side.BUY
                self._fill_crossed(side, int(rows.ticks[row]), int(rows.ts_ns[row]))
            elif stop == STOP_TRADE:
                self._trade_at(
                    int(rows.ticks[row]),
                    int(rows.lots[row]),
                    int(rows.kind[row]) == KIND_TRADE_BUY,
                    int(rows.ts_ns[row]),
                )
            elif stop == STOP_SNAPSHOT:
                snap = rows.events[row]
                if not isinstance(snap, BookSnapshot):
                    raise TypeError(f"row {row}: expected a BookSnapshot, got {snap!r}")
                self._snapshot(snap)
                i = rows.group_end[row]
            elif stop == STOP_GROW:
                book.grow()
            if done < watched:
                self._watched_depth(rows, book, watched, -1, first=done)
            if out:
                break
        if not out:
            return i, _NO_EVENTS
        caused = tuple(out)
        out.clear()
        return i, caused

    def _watched_depth(
        self, rows: MarketRows, book: ArrayBook, count: int, before_row: int, first: int = 0
    ) -> int:
        """Queue updates for the buffered depth changes at our prices, in row order, from
        buffer entry `first`; with `before_row` >= 0 only those of earlier rows. Returns the
        index of the first entry not applied."""
        depth = self.queue.depth
        kinds, ticks, lots = rows.kind, rows.ticks, rows.lots
        watch_rows, watch_prev = book.watched[0], book.watched[1]
        k = first
        while k < count:
            r = int(watch_rows[k])
            if 0 <= before_row <= r:
                break
            price = int(ticks[r])
            side = self._buys if kinds[r] == KIND_BID else self._sells
            resting = side.get(price)
            if resting is not None:
                prev, new = int(watch_prev[k]), int(lots[r])
                for order in resting:
                    depth(order, prev, new)
            k += 1
        return k

    def _rows_by_level(
        self, rows: MarketRows, start: int, until: int
    ) -> tuple[int, tuple[Event, ...]]:
        """`on_rows` through the level-by-level methods of `on_market` (the reference for the
        compiled scan, and its fallback)."""
        out = self._out
        ts_ns, kinds, ticks, lots = rows.ts_ns, rows.kind, rows.ticks, rows.lots
        i = start
        end = len(rows)
        while i < end:
            ts = int(ts_ns[i])
            if ts > until:
                break
            kind = int(kinds[i])
            if kind == KIND_BID:
                self._bid_levels(((int(ticks[i]), int(lots[i])),), ts)
            elif kind == KIND_ASK:
                self._ask_levels(((int(ticks[i]), int(lots[i])),), ts)
            elif kind in (KIND_TRADE_BUY, KIND_TRADE_SELL):
                self._trade_at(int(ticks[i]), int(lots[i]), kind == KIND_TRADE_BUY, ts)
            elif kind == KIND_SNAPSHOT:
                snap = rows.events[i]
                if not isinstance(snap, BookSnapshot):
                    raise TypeError(f"row {i}: expected a BookSnapshot, got {snap!r}")
                self._snapshot(snap)
                i = rows.group_end[i] - 1
            i += 1
            if out:
                break
        if not out:
            return i, _NO_EVENTS
        caused = tuple(out)
        out.clear()
        return i, caused

    def _to_array_book(self) -> ArrayBook:
        """Move the market book to arrays (for `on_rows`), keeping its levels and best prices."""
        old = self.book
        book = ArrayBook()
        for p, q in old.bids.items():
            book.bids[p] = q
        for p, q in old.asks.items():
            book.asks[p] = q
        book.best_bid = old.best_bid
        book.best_ask = old.best_ask
        self.book = book
        self._watch_dirty = True
        return book

    # ---- our orders ---------------------------------------------------------------------
    def submit(self, cmd: PlaceOrder, ts_ns: int) -> list[Event]:
        """Process a new order arriving at exchange time `ts_ns`."""
        cid = cmd.client_order_id
        if cid in self._orders:
            return _reject(cid, ts_ns, "duplicate_client_order_id", 2012)
        if cmd.symbol and cmd.symbol != self.instrument.symbol:
            return _reject(cid, ts_ns, "unknown_instrument", 2061)
        refused = self._venue_check(cmd)
        if refused is not None:
            return _reject(cid, ts_ns, *refused)
        taker_tif = cmd.tif is TimeInForce.IOC or cmd.tif is TimeInForce.FOK
        if cmd.post_only and taker_tif:
            return _reject(cid, ts_ns, "post_only_requires_gtt", 2032)
        lots = cmd.size_lots
        if cmd.reduce_only:
            pos = self.position_lots
            if pos == 0:
                return _reject(cid, ts_ns, "reduce_only_no_position", 2400)
            if (pos > 0) == (cmd.side is Side.BUY):
                return _reject(cid, ts_ns, "reduce_only_would_increase", 2401)
            lots = min(lots, abs(pos))
        book = self.book
        if cmd.side is Side.BUY:
            best = book.best_ask
            crosses = best != 0 and cmd.price_ticks >= best
        else:
            best = book.best_bid
            crosses = best != 0 and cmd.price_ticks <= best
        if crosses and cmd.post_only:
            return _reject(cid, ts_ns, "post_only_would_cross", None)
        self._order_seq += 1
        order = _Resting(cmd, lots, f"{self.id_prefix}-o-{self._order_seq}")
        out: list[Event] = [
            OrderAccepted(
                ts_ns=ts_ns,
                local_ns=ts_ns,
                client_order_id=cid,
                venue_order_id=order.venue_order_id,
            )
        ]
        if taker_tif:
            self._sweep(order, cmd.tif is TimeInForce.FOK, ts_ns, out)
        elif crosses:
            # Like the reference, a crossing GTT limit order takes its whole size at the best.
            self._fill(order, best, order.leaves_lots, False, ts_ns, out)
            self._close_capped(order, ts_ns, out)
        else:
            self._rest(order)
        return out

    def _venue_check(self, cmd: PlaceOrder) -> tuple[str, int] | None:
        """GRVT's synchronous order checks against the venue's true constraints, in Decimal."""
        venue = self.venue
        if cmd.price_ticks <= 0:
            return "price_not_positive", 2021
        if cmd.size_lots <= 0:
            return "size_below_min", 2062
        price = self.instrument.tick_size * cmd.price_ticks
        if not self._tick_aligned and price % venue.tick_size != 0:
            return "invalid_price_tick", 2064
        size = self.instrument.size_step * cmd.size_lots
        if size < venue.min_size:
            return "size_below_min", 2062
        if not self._size_aligned and size % venue.size_step != 0:
            return "size_too_granular", 2065
        if not cmd.reduce_only and price * size < venue.min_notional:
            return "notional_below_min", 2066
        return None

    def _rest(self, order: _Resting) -> None:
        price = order.price_ticks
        self._orders[order.client_order_id] = order
        self._watch_dirty = True
        if order.side is Side.BUY:
            self.queue.new_order(order, self.book.bids.get(price, 0))
            self._buys.setdefault(price, []).append(order)
            if price > self._max_buy:
                self._max_buy = price
        else:
            self.queue.new_order(order, self.book.asks.get(price, 0))
            self._sells.setdefault(price, []).append(order)
            if price < self._min_sell:
                self._min_sell = price

    def _unlink(self, order: _Resting) -> None:
        del self._orders[order.client_order_id]
        price = order.price_ticks
        book_side = self._buys if order.side is Side.BUY else self._sells
        level = book_side[price]
        level.remove(order)
        if not level:
            del book_side[price]
            self._watch_dirty = True
            if order.side is Side.BUY:
                self._max_buy = max(book_side, default=_LOW)
            else:
                self._min_sell = min(book_side, default=_HIGH)

    def _sweep(self, order: _Resting, fill_or_kill: bool, ts_ns: int, out: list[Event]) -> None:
        """IOC/FOK: take visible liquidity level by level up to the limit; never alters the book."""
        levels = self._levels_through(order.side, order.price_ticks)
        if fill_or_kill and sum(lots for _, lots in levels) < order.leaves_lots:
            levels = []
        for price, lots in levels:
            self._fill(order, price, min(lots, order.leaves_lots), False, ts_ns, out)
            if order.leaves_lots == 0:
                break
        if order.leaves_lots:
            reason = "fok_expired" if fill_or_kill else "ioc_expired"
            out.append(_canceled(order.client_order_id, ts_ns, reason))
        else:
            self._close_capped(order, ts_ns, out)

    def _levels_through(self, side: Side, limit_ticks: int) -> list[tuple[int, int]]:
        """Opposite-side levels from the best price through `limit_ticks`, best first."""
        book = self.book
        if side is Side.BUY:
            levels, best = book.asks, book.best_ask
            if not best or limit_ticks < best:
                return []
            if limit_ticks - best < len(levels):
                return [(p, levels[p]) for p in range(best, limit_ticks + 1) if p in levels]
            return sorted((p, q) for p, q in levels.items() if best <= p <= limit_ticks)
        levels, best = book.bids, book.best_bid
        if not best or limit_ticks > best:
            return []
        if best - limit_ticks < len(levels):
            return [(p, levels[p]) for p in range(best, limit_ticks - 1, -1) if p in levels]
        return sorted(((p, q) for p, q in levels.items() if limit_ticks <= p <= best), reverse=True)

    def _maker_fill(self, order: _Resting, ts_ns: int) -> None:
        """Fill a resting order in full at its own price (re-capping a reduce-only order)."""
        self._unlink(order)
        out = self._out
        if order.reduce_only:
            pos = self.position_lots
            allowed = abs(pos) if (pos > 0) != (order.side is Side.BUY) else 0
            if allowed < order.leaves_lots:
                order.capped_lots += order.leaves_lots - allowed
                order.leaves_lots = allowed
        if order.leaves_lots:
            self._fill(order, order.price_ticks, order.leaves_lots, True, ts_ns, out)
        self._close_capped(order, ts_ns, out)

    def _close_capped(self, order: _Resting, ts_ns: int, out: list[Event]) -> None:
        # A reduce-only order larger than the position is cut to it; the cut part is cancelled.
        if order.capped_lots:
            out.append(_canceled(order.client_order_id, ts_ns, "reduce_only_limit"))

    def _fill(
        self, order: _Resting, price: int, lots: int, maker: bool, ts_ns: int, out: list[Event]
    ) -> None:
        self._trade_seq += 1
        notional = self.instrument.tick_size * price * (self.instrument.size_step * lots)
        rate = self.fees.maker_rate if maker else self.fees.taker_rate
        order.leaves_lots -= lots
        self.position_lots += order.side * lots
        out.append(
            OrderFilled(
                ts_ns=ts_ns,
                local_ns=ts_ns,
                client_order_id=order.client_order_id,
                trade_id=f"{self.id_prefix}-{self._trade_seq}",
                symbol=self.instrument.symbol,
                side=order.side,
                price_ticks=price,
                size_lots=lots,
                fee=rate * notional,
                is_maker=maker,
                leaves_lots=order.leaves_lots,
            )
        )

    def cancel(self, client_order_id: int, ts_ns: int) -> list[Event]:
        """Cancel a resting order; an unknown or finished one gets CancelRejected."""
        order = self._orders.get(client_order_id)
        if order is None:
            return [_cancel_rejected(client_order_id, ts_ns)]
        self._unlink(order)
        return [_canceled(client_order_id, ts_ns, "canceled")]

    def cancel_all(self, ts_ns: int) -> list[Event]:
        """Cancel every resting order, oldest first."""
        out: list[Event] = []
        for cid in list(self._orders):
            out.extend(self.cancel(cid, ts_ns))
        return out

    def open_orders(self) -> tuple[OpenOrderInfo, ...]:
        """Resting orders, oldest first."""
        return tuple(
            OpenOrderInfo(
                client_order_id=o.client_order_id,
                side=o.side,
                price_ticks=o.price_ticks,
                leaves_lots=o.leaves_lots,
                venue_order_id=o.venue_order_id,
            )
            for o in self._orders.values()
        )

    def queue_ahead_lots(self, client_order_id: int) -> float | None:
        """Estimated lots ahead of a resting order (None if it is not resting)."""
        order = self._orders.get(client_order_id)
        return None if order is None else order.front_lots
