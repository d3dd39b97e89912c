"""The compiled columnar scan against the level-by-level reference path, in lockstep.

Two matching engines get the same operations: one applies market rows through the compiled
scan over an `ArrayBook` (the default), the other through `_rows_by_level` on a dict
`OrderBook` (`compiled_rows = False`). After every operation both must report the same caused
events (venue ids, prices, sizes, fees, times), the same resting orders, queue positions and
position, and hold the same book (best prices and every level).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_cases import SYMBOL, trade
from sim_cases import place as order

from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import BookDelta, BookSnapshot, Event, OrderFilled
from grvtmm.core.types import FeeSchedule, Instrument, Side, TimeInForce
from grvtmm.venues.sim.columnar import (
    KIND_ASK,
    KIND_BID,
    KIND_SKIP,
    KIND_SNAPSHOT,
    KIND_TRADE_BUY,
    KIND_TRADE_SELL,
    STOP_CROSS,
    STOP_FULL,
    STOP_GROW,
    STOP_RECENTER,
    STOP_SNAPSHOT,
    STOP_TRADE,
    WATCH_BUFFER,
    WINDOW_TICKS,
    ArrayBook,
    MarketRows,
)
from grvtmm.venues.sim.matching import (
    MatchingEngine,
    PowerProbQueue,
    QueueModel,
    RiskAverseQueue,
)

BTC = Instrument(SYMBOL, Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
FEES = FeeSchedule(maker_rate=Decimal("-0.0001"), taker_rate=Decimal("0.0004"))
MID = 1_000_000
"""Where the generated markets start (ticks): far from 1, so both sides have room outside
the array window."""
HALF = WINDOW_TICKS // 2
QUEUES: dict[str, Callable[[], QueueModel]] = {
    "risk_averse": RiskAverseQueue,
    "power3": lambda: PowerProbQueue(3),
}


# ---- rows --------------------------------------------------------------------------------------
class Rows:
    """Builds a `MarketRows` chunk row by row."""

    def __init__(self) -> None:
        self.cols: list[tuple[int, int, int, int]] = []
        self.events: dict[int, Event] = {}
        self.group_end: dict[int, int] = {}

    def bid(self, ts: int, price: int, lots: int) -> Rows:
        self.cols.append((ts, KIND_BID, price, lots))
        return self

    def ask(self, ts: int, price: int, lots: int) -> Rows:
        self.cols.append((ts, KIND_ASK, price, lots))
        return self

    def buy(self, ts: int, price: int, lots: int) -> Rows:
        """A trade whose aggressor bought (it lifts asks)."""
        self.cols.append((ts, KIND_TRADE_BUY, price, lots))
        return self

    def sell(self, ts: int, price: int, lots: int) -> Rows:
        self.cols.append((ts, KIND_TRADE_SELL, price, lots))
        return self

    def skip(self, ts: int) -> Rows:
        self.cols.append((ts, KIND_SKIP, 0, 0))
        return self

    def snapshot(
        self, ts: int, bids: tuple[tuple[int, int], ...], asks: tuple[tuple[int, int], ...]
    ) -> Rows:
        """A snapshot group: its first row carries the event, the others are skipped."""
        start = len(self.cols)
        levels = [(p, q) for p, q in bids + asks] or [(0, 0)]
        self.cols.append((ts, KIND_SNAPSHOT, *levels[0]))
        self.cols.extend((ts, KIND_SKIP, p, q) for p, q in levels[1:])
        self.events[start] = BookSnapshot(
            ts_ns=ts, local_ns=ts, symbol=SYMBOL, bids=bids, asks=asks
        )
        self.group_end[start] = len(self.cols)
        return self

    def build(self) -> MarketRows:
        data = np.array(self.cols, dtype=np.int64).T.copy().reshape(4, len(self.cols))
        depth = (data[1] == KIND_BID) | (data[1] == KIND_ASK)
        center = int(np.median(data[2][depth])) if depth.any() else 0
        return MarketRows(
            data=data,
            tick_center=center,
            groups=len(self.cols),
            events=dict(self.events),
            group_end=dict(self.group_end),
        )


# ---- the two engines -----------------------------------------------------------------------------
def _same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


class Lockstep:
    """A compiled and a reference engine fed the same operations, compared after each."""

    def __init__(self, queue: Callable[[], QueueModel]) -> None:
        self.fast = MatchingEngine(BTC, FEES, queue())
        self.ref = MatchingEngine(BTC, FEES, queue())
        self.ref.compiled_rows = False
        self.caused: list[Event] = []
        """Every event either engine caused (they are the same), in order."""

    def market(self, event: Event) -> None:
        """A market event through `on_market` (on the dict book before the first rows, on the
        array book through its mappings after)."""
        got = self.fast.on_market(event)
        assert got == self.ref.on_market(event)
        self.caused.extend(got)
        self.check()

    def feed(self, rows: MarketRows, start: int, until: int) -> int:
        """Apply rows from `start` through time `until` the way the backtest loop does: call
        `on_rows` again while the next row is due (it returns early after rows with fills)."""
        i = start
        while i < len(rows) and int(rows.ts_ns[i]) <= until:
            got = self.fast.on_rows(rows, i, until)
            want = self.ref.on_rows(rows, i, until)
            assert got == want, f"on_rows({i}, {until})"
            assert isinstance(self.fast.book, ArrayBook)  # the compiled path ran
            self.caused.extend(got[1])
            self.check()
            assert got[0] > i
            i = got[0]
        return i

    def run(self, rows: MarketRows) -> None:
        self.feed(rows, 0, int(rows.ts_ns[-1]))

    def submit(self, cmd: PlaceOrder, ts: int) -> list[Event]:
        got = self.fast.submit(cmd, ts)
        assert got == self.ref.submit(cmd, ts)
        self.caused.extend(got)
        self.check()
        return got

    def cancel(self, cid: int, ts: int) -> None:
        got = self.fast.cancel(cid, ts)
        assert got == self.ref.cancel(cid, ts)
        self.caused.extend(got)
        self.check()

    def cancel_all(self, ts: int) -> None:
        got = self.fast.cancel_all(ts)
        assert got == self.ref.cancel_all(ts)
        self.caused.extend(got)
        self.check()

    def check(self) -> None:
        fast, ref = self.fast, self.ref
        resting = ref.open_orders()
        assert fast.open_orders() == resting
        for info in resting:
            cid = info.client_order_id
            ahead = (fast.queue_ahead_lots(cid), ref.queue_ahead_lots(cid))
            assert _same_float(*ahead), f"queue ahead of {cid}: {ahead}"
        assert fast.position_lots == ref.position_lots
        assert (fast.book.best_bid, fast.book.best_ask) == (ref.book.best_bid, ref.book.best_ask)
        assert dict(fast.book.bids.items()) == dict(ref.book.bids.items())
        assert dict(fast.book.asks.items()) == dict(ref.book.asks.items())

    def fills(self) -> list[tuple[int, int, int]]:
        """(client order id, price, lots) of every fill so far."""
        return [
            (e.client_order_id, e.price_ticks, e.size_lots)
            for e in self.caused
            if isinstance(e, OrderFilled)
        ]

    @property
    def array_book(self) -> ArrayBook:
        book = self.fast.book
        assert isinstance(book, ArrayBook)
        return book


@pytest.fixture
def stops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The stop of every compiled scan (to show a test reaches the path it is about)."""
    seen: list[int] = []
    scan = ArrayBook.scan

    def recording(book: ArrayBook, *args: object) -> tuple[int, int, int]:
        result = scan(book, *args)  # type: ignore[arg-type]
        seen.append(result[1])
        return result

    monkeypatch.setattr(ArrayBook, "scan", recording)
    return seen


def seeded(queue: Callable[[], QueueModel] = RiskAverseQueue, center: int = 1000) -> Lockstep:
    """Engines whose books hold bids center, -1, -2 (10, 20, 30) and asks +1, +2, +3 (2, 3, 5),
    set through rows."""
    pair = Lockstep(queue)
    rows = Rows().snapshot(
        1,
        ((center, 10), (center - 1, 20), (center - 2, 30)),
        ((center + 1, 2), (center + 2, 3), (center + 3, 5)),
    )
    pair.run(rows.build())
    return pair


# ---- example cases -----------------------------------------------------------------------------
@pytest.mark.parametrize("queue", QUEUES.values(), ids=QUEUES.keys())
def test_crossed_book_rule_bid_at_or_above_the_best_ask(queue: Callable[[], QueueModel]) -> None:
    pair = seeded(queue)
    pair.run(Rows().bid(2, 1001, 4).build())  # a bid at the best ask
    assert (pair.fast.book.best_bid, pair.fast.book.best_ask) == (1001, 1002)
    assert pair.fast.book.asks[1001] == 2  # the crossed level stays
    pair.run(Rows().bid(3, 1003, 1).build())  # through every ask
    assert (pair.fast.book.best_bid, pair.fast.book.best_ask) == (1003, 0)
    # The next ask is above the crossed ones; then removals walk the bids back down.
    pair.run(Rows().ask(4, 1005, 1).bid(4, 1003, 0).bid(4, 1001, 0).bid(4, 1000, 0).build())
    assert (pair.fast.book.best_bid, pair.fast.book.best_ask) == (999, 1005)


@pytest.mark.parametrize("queue", QUEUES.values(), ids=QUEUES.keys())
def test_crossed_book_rule_ask_at_or_below_the_best_bid(queue: Callable[[], QueueModel]) -> None:
    pair = seeded(queue)
    pair.submit(order(1, Side.BUY, 999), 2)
    pair.submit(order(2, Side.SELL, 1002), 2)
    pair.run(Rows().ask(3, 1000, 1).build())  # at the best bid: our buy at 999 stays
    assert (pair.fast.book.best_bid, pair.fast.book.best_ask) == (999, 1000)
    assert pair.fills() == []
    pair.run(Rows().ask(4, 998, 1).build())  # through our buy: filled at its own price
    assert pair.fills() == [(1, 999, 2)]
    assert (pair.fast.book.best_bid, pair.fast.book.best_ask) == (0, 998)
    pair.run(Rows().bid(5, 1002, 3).build())  # a bid through our sell
    assert pair.fills() == [(1, 999, 2), (2, 1002, 2)]
    assert pair.fast.book.best_ask == 1003


@pytest.mark.parametrize("gap", [5, 63, 64, 65, 200, HALF + 7])
def test_removing_the_best_level_finds_the_next_one_several_ticks_away(gap: int) -> None:
    c = MID
    pair = seeded(RiskAverseQueue, c)
    pair.run(Rows().bid(2, c - gap, 4).ask(2, c + 1 + gap, 6).build())
    pair.run(Rows().bid(3, c, 0).bid(3, c - 1, 0).bid(3, c - 2, 0).build())
    assert pair.fast.book.best_bid == c - gap
    pair.run(Rows().ask(4, c + 1, 0).ask(4, c + 2, 0).ask(4, c + 3, 0).build())
    assert pair.fast.book.best_ask == c + 1 + gap
    pair.run(Rows().bid(5, c - gap, 0).ask(5, c + 1 + gap, 0).build())  # none left
    assert (pair.fast.book.best_bid, pair.fast.book.best_ask) == (0, 0)
    pair.run(Rows().ask(6, c + 10, 1).bid(6, c - 10, 1).build())
    assert (pair.fast.book.best_bid, pair.fast.book.best_ask) == (c - 10, c + 10)


@pytest.mark.parametrize("queue", QUEUES.values(), ids=QUEUES.keys())
def test_trades_at_and_through_our_prices(queue: Callable[[], QueueModel]) -> None:
    pair = seeded(queue)
    pair.submit(order(1, Side.BUY, 1000, 3), 2)  # 10 lots ahead
    pair.submit(order(2, Side.BUY, 999, 1), 2)  # 20 ahead
    pair.submit(order(3, Side.SELL, 1002, 2), 2)  # 3 ahead
    pair.submit(order(4, Side.SELL, 1003, 1), 2)
    rows = (
        Rows()
        .sell(3, 1000, 4)  # at our bid: the queue moves
        .sell(3, 1001, 9)  # above our bids: nothing
        .buy(4, 1001, 5)  # below our asks: nothing
        .sell(5, 1000, 6)  # exactly clears the queue ahead
        .buy(5, 1002, 2)
        .sell(6, 1000, 1)  # overruns it: filled
        .buy(7, 1003, 1)  # through our ask at 1002, at the one at 1003
        .sell(8, 998, 1)  # through our bid at 999
    )
    pair.run(rows.build())
    assert [cid for cid, _, _ in pair.fills()] == [1, 3, 2]
    assert [o.client_order_id for o in pair.fast.open_orders()] == [4]


@pytest.mark.parametrize("queue", QUEUES.values(), ids=QUEUES.keys())
def test_depth_changes_at_our_price_before_a_fill_in_the_same_chunk(
    queue: Callable[[], QueueModel],
) -> None:
    pair = seeded(queue)
    pair.submit(order(1, Side.BUY, 999, 2), 2)  # 20 ahead
    pair.submit(order(2, Side.SELL, 1002, 2), 2)  # 3 ahead
    pair.submit(order(3, Side.SELL, 1002, 1), 2)  # 3 ahead, behind order 2 in time
    rows = (
        Rows()
        .bid(3, 999, 26)  # grows behind us
        .bid(3, 999, 12)  # shrinks: ahead and behind
        .ask(3, 1002, 1)
        .ask(3, 1005, 4)  # not our price
        .sell(4, 999, 5)
        .bid(4, 999, 7)  # the trade's depth update
        .buy(5, 1002, 1)
        .ask(5, 1002, 0)  # the level is gone
        .ask(5, 1002, 3)  # and back
        .sell(6, 999, 30)  # clears whatever is left ahead
        .buy(6, 1002, 9)
    )
    pair.run(rows.build())
    assert sorted(cid for cid, _, _ in pair.fills()) == [1, 2, 3]


@pytest.mark.parametrize("queue", QUEUES.values(), ids=QUEUES.keys())
def test_a_crossing_row_at_the_price_of_our_other_order_moves_its_queue(
    queue: Callable[[], QueueModel],
) -> None:
    """A bid that crosses our sell lands on a (crossed, left in place) level where our buy
    rests: the sell fills and the buy's queue sees the depth change."""
    pair = seeded(queue)
    rows = Rows().ask(2, 1005, 1).bid(2, 1003, 4)  # the best ask moves past 1003
    rows.ask(2, 1001, 1)  # the best bid falls back below it: 1003 stays, crossed
    rows.ask(2, 1001, 0).ask(2, 1002, 0).ask(2, 1003, 0)
    pair.run(rows.build())
    assert (pair.fast.book.best_bid, pair.fast.book.best_ask) == (1000, 1005)
    assert pair.fast.book.bids[1003] == 4
    pair.submit(order(1, Side.BUY, 1003, 1), 3)  # 4 lots ahead
    pair.submit(order(2, Side.SELL, 1002, 1), 3)
    pair.run(Rows().bid(4, 1003, 2).build())
    assert pair.fills() == [(2, 1002, 1)]
    assert pair.fast.queue_ahead_lots(1) == 2.0


def test_depth_changes_without_a_stop_update_the_queue_before_orders_change() -> None:
    pair = seeded(lambda: PowerProbQueue(3))
    pair.submit(order(1, Side.BUY, 999, 2), 2)
    pair.feed(Rows().bid(3, 999, 25).bid(3, 999, 14).bid(9, 999, 2).build(), 0, 5)
    assert pair.ref.queue_ahead_lots(1) != 20.0  # the queue moved
    pair.submit(order(2, Side.BUY, 999, 1), 6)  # joins behind the 14 lots now there
    assert pair.fast.queue_ahead_lots(2) == 14.0


@pytest.mark.parametrize("queue", QUEUES.values(), ids=QUEUES.keys())
def test_levels_outside_the_array_window(queue: Callable[[], QueueModel]) -> None:
    pair = seeded(queue, MID)
    far_bid, far_ask = MID - HALF - 50, MID + HALF + 50
    rows = Rows()
    for k in range(5):
        rows.bid(2, far_bid - 3 * k, 1 + k).ask(2, far_ask + 3 * k, 1 + k)
    rows.bid(2, MID // 10, 7).ask(2, MID * 10, 7)  # a tenth and ten times the price
    pair.run(rows.build())
    pair.submit(order(1, Side.BUY, far_bid - 3, 1), 3)
    pair.submit(order(2, Side.SELL, far_ask + 3, 1), 3)
    pair.submit(order(3, Side.BUY, far_bid - 1, 1, post_only=False), 3)  # rests between levels
    # Empty the near levels: the best prices move out of the arrays.
    gone = Rows()
    for p in (MID, MID - 1, MID - 2):
        gone.bid(4, p, 0)
    for p in (MID + 1, MID + 2, MID + 3):
        gone.ask(4, p, 0)
    pair.run(gone.build())
    assert (pair.fast.book.best_bid, pair.fast.book.best_ask) == (far_bid, far_ask)
    base = pair.array_book.base
    assert far_bid < base and far_ask >= base + WINDOW_TICKS  # both bests outside the arrays
    # Depth changes, trades and removals out there, then a cross through a far order.
    rows = (
        Rows()
        .bid(5, far_bid - 3, 9)
        .sell(5, far_bid - 3, 2)
        .bid(5, far_bid, 0)
        .ask(6, far_ask, 0)
        .ask(6, far_ask + 3, 4)
        .buy(6, far_ask + 3, 7)
        .ask(7, far_bid - 2, 1)  # through our buy at far_bid - 1, not the one at far_bid - 3
        .bid(8, MID * 10 + 1, 1)  # a bid through every ask, ten times the price
    )
    pair.run(rows.build())
    assert {cid for cid, _, _ in pair.fills()} == {2, 3}


@pytest.mark.parametrize("queue", QUEUES.values(), ids=QUEUES.keys())
def test_a_best_beyond_the_window_falls_back_to_the_next_one_beyond_it(
    queue: Callable[[], QueueModel],
) -> None:
    """Bids above the arrays and asks below them (a market that jumped within one chunk): when
    such a best goes, the next best is the next one out there, not the nearest array level."""
    pair = seeded(queue, MID)
    top, bottom = MID + HALF, MID - HALF  # the arrays hold [bottom, top)
    pair.submit(order(1, Side.SELL, top + 50, 1), 2)
    pair.submit(order(2, Side.BUY, bottom - 50, 1), 2)
    rows = (
        Rows()
        .ask(3, top + 100, 5)
        .bid(3, top + 20, 1)  # crosses every near ask: the best ask goes out too
        .bid(3, top + 10, 2)
        .bid(4, top + 20, 0)
    )
    pair.run(rows.build())
    assert (pair.fast.book.best_bid, pair.fast.book.best_ask) == (top + 10, top + 100)
    rows = (
        Rows()
        .bid(5, bottom - 100, 5)
        .ask(5, bottom - 20, 1)  # below every bid but the one at bottom - 100
        .ask(5, bottom - 10, 2)
        .ask(6, bottom - 20, 0)
    )
    pair.run(rows.build())
    assert (pair.fast.book.best_bid, pair.fast.book.best_ask) == (bottom - 100, bottom - 10)
    pair.run(Rows().bid(7, top + 50, 1).ask(7, bottom - 50, 1).build())  # through both orders
    assert sorted(pair.fills()) == [(1, top + 50, 1), (2, bottom - 50, 1)]


def test_a_far_order_book_seen_before_the_first_rows() -> None:
    """The dict book (from `on_market`) moves to arrays on the first rows, far levels and all,
    with orders resting from before."""
    pair = Lockstep(RiskAverseQueue)
    pair.market(
        BookSnapshot(
            ts_ns=1,
            local_ns=1,
            symbol=SYMBOL,
            bids=((MID, 4), (MID - HALF - 9, 2), (3, 1)),
            asks=((MID + 2, 4), (MID + HALF + 9, 2), (MID * 50, 1)),
        )
    )
    pair.submit(order(1, Side.BUY, MID - HALF - 9, 1), 2)
    pair.submit(order(2, Side.SELL, MID + 2, 1), 2)
    rows = Rows().bid(3, MID - HALF - 9, 1).ask(3, MID, 0).bid(4, MID, 0).ask(5, MID - HALF - 9, 3)
    pair.run(rows.build())
    assert pair.fills() == [(1, MID - HALF - 9, 1)]


def test_many_far_prices_on_one_side_grow_the_far_table(stops: list[int]) -> None:
    pair = seeded(RiskAverseQueue, MID)
    pair.submit(order(1, Side.BUY, MID - HALF - 2, 1), 2)
    pair.submit(order(2, Side.SELL, MID + HALF + 4000, 1), 2)
    rows = Rows()
    for k in range(2500):  # distinct far prices, beyond half the table's 4096 slots
        rows.bid(3 + k // 100, MID - HALF - 1 - k, 1 + k % 5)
    for k in range(2500):
        rows.ask(30 + k // 100, MID + HALF + 1 + k * 3, 1 + k % 4)
    rows.bid(60, MID - HALF - 2, 9)  # a depth change at our far bid
    for k in range(0, 2500, 7):  # remove some, far tombstones
        rows.bid(61, MID - HALF - 1 - k, 0)
    pair.run(rows.build())
    assert STOP_GROW in stops
    assert pair.array_book.far_keys.shape[1] > 4096
    # Everything on the near side gone: the best bid is the highest far one.
    pair.run(Rows().bid(70, MID, 0).bid(70, MID - 1, 0).bid(70, MID - 2, 0).build())
    assert pair.fast.book.best_bid == MID - HALF - 2  # MID - HALF - 1 was removed
    pair.run(Rows().ask(71, MID - HALF - 3, 1).build())  # through our far bid
    assert pair.fills() == [(1, MID - HALF - 2, 1)]


@pytest.mark.parametrize("queue", QUEUES.values(), ids=QUEUES.keys())
def test_more_watched_depth_changes_than_the_buffer_holds(
    queue: Callable[[], QueueModel], stops: list[int]
) -> None:
    pair = seeded(queue)
    pair.submit(order(1, Side.BUY, 999, 2), 2)
    pair.submit(order(2, Side.SELL, 1003, 2), 2)
    rows = Rows()
    n = WATCH_BUFFER + 1500
    for k in range(n):
        # Sizes that wander up and down at both of our prices, plus unwatched noise.
        rows.bid(3 + k // 1000, 999, 5 + (k * 7919) % 40)
        rows.ask(3 + k // 1000, 1003, 3 + (k * 104729) % 30)
        if k % 3 == 0:
            rows.bid(3 + k // 1000, 990 - k % 4, 1 + k % 6)
    rows.sell(20, 999, 3).buy(20, 1003, 1)
    pair.run(rows.build())
    assert STOP_FULL in stops
    pair.run(Rows().sell(21, 999, 60).buy(21, 1003, 60).build())
    assert sorted(cid for cid, _, _ in pair.fills()) == [1, 2]


def test_a_drifting_market_re_centers_the_arrays(stops: list[int]) -> None:
    pair = seeded(RiskAverseQueue, MID)
    base = pair.array_book.base
    pair.submit(order(1, Side.SELL, MID + 2, 1), 2)
    price, ts = MID, 3
    for _ in range(6):  # the market walks up, 40_000 ticks at a time
        price += 40_000
        rows = Rows().bid(ts, price, 3).ask(ts, price + 2, 3).bid(ts, price - 1, 2)
        rows.bid(ts + 1, price - 40_000, 0)
        pair.run(rows.build())
        ts += 2
    assert STOP_RECENTER in stops
    assert pair.array_book.base > base
    assert pair.fills() == [(1, MID + 2, 1)]  # the first step crossed our sell
    pair.submit(order(2, Side.BUY, price - 1, 1), ts)
    pair.run(Rows().sell(ts, price - 1, 2).sell(ts, price - 1, 1).ask(ts, price - 5, 1).build())
    assert (2, price - 1, 1) in pair.fills()


@pytest.mark.parametrize("queue", QUEUES.values(), ids=QUEUES.keys())
def test_snapshot_in_the_middle_of_a_chunk_with_orders_resting(
    queue: Callable[[], QueueModel], stops: list[int]
) -> None:
    pair = seeded(queue)
    pair.submit(order(1, Side.BUY, 999, 2), 2)
    pair.submit(order(2, Side.SELL, 1003, 1), 2)
    pair.submit(order(3, Side.SELL, 1005, 1), 2)
    rows = (
        Rows()
        .bid(3, 999, 25)
        .ask(3, 1003, 1)
        .snapshot(4, ((1004, 3), (999, 8), (997, 1)), ((1006, 2), (1007, 4)))
        .bid(5, 999, 4)
        .sell(5, 999, 5)
        .snapshot(6, ((990, 1),), ())
        .ask(7, 995, 2)
        .snapshot(8, (), ())
        .bid(9, 1000, 1)
    )
    pair.run(rows.build())
    assert STOP_SNAPSHOT in stops
    assert sorted(cid for cid, _, _ in pair.fills()) == [1, 2]  # 1003 crossed by the snapshot
    assert [o.client_order_id for o in pair.fast.open_orders()] == [3]


def test_until_in_the_middle_of_a_chunk_with_orders_between(stops: list[int]) -> None:
    pair = seeded(lambda: PowerProbQueue(3))
    rows = (
        Rows()
        .bid(3, 1000, 14)
        .ask(4, 1001, 0)
        .bid(5, 1000, 6)
        .sell(6, 1000, 3)
        .ask(7, 1000, 2)
        .build()
    )
    i = pair.feed(rows, 0, 3)
    assert i == 1
    pair.submit(order(1, Side.BUY, 1000, 1), 3)  # behind 14 lots
    pair.submit(order(2, Side.SELL, 1002, 1), 3)
    i = pair.feed(rows, i, 5)
    assert i == 3
    pair.cancel(2, 5)
    pair.submit(order(3, Side.BUY, 1002, 1, post_only=False), 5)  # crosses: taker at 1002
    i = pair.feed(rows, i, 7)
    assert i == len(rows)
    assert (1, 1000, 1) in pair.fills()
    assert STOP_TRADE in stops and STOP_CROSS in stops


# ---- generated operations --------------------------------------------------------------------------
_ROW_KINDS = (
    [KIND_BID] * 7 + [KIND_ASK] * 7 + [KIND_TRADE_BUY] * 2 + [KIND_TRADE_SELL] * 2 + [KIND_SKIP]
)
_LOTS = st.sampled_from([0, 0, 0, 1, 2, 3, 5, 8, 13])


@st.composite
def _price(draw: st.DrawFn, center: int, anchors: tuple[int, ...]) -> int:
    """A price near the market, now and then one far from it (outside the array window)."""
    where = draw(st.integers(0, 19))
    if where < 12:
        return center + draw(st.integers(-6, 6))
    if where < 17:
        anchor = draw(st.sampled_from(anchors)) if anchors else center
        return max(anchor + draw(st.integers(-2, 2)), 1)
    if where < 19:
        side = draw(st.sampled_from([-1, 1]))
        return center + side * (HALF + draw(st.integers(-2, 8)))
    return draw(st.sampled_from([center // 10, center * 10, center * 10 + 1]))


@st.composite
def _chunk(draw: st.DrawFn, ts: int, center: int, anchors: tuple[int, ...]) -> MarketRows:
    rows = Rows()
    seen: list[int] = []
    for _ in range(draw(st.integers(1, 24))):
        ts += draw(st.sampled_from([0, 0, 1, 1, 2, 5]))
        if draw(st.integers(0, 24)) == 0:
            depth = draw(st.integers(0, 4))
            bids = tuple((center - k - draw(st.integers(0, 2)), 1 + k) for k in range(depth))
            asks = tuple(
                (center + 1 + k + draw(st.integers(0, 2)), 2 + k)
                for k in range(draw(st.integers(0, 4)))
            )
            rows.snapshot(ts, bids, asks)
            continue
        kind = draw(st.sampled_from(_ROW_KINDS))
        if kind == KIND_SKIP:
            rows.skip(ts)
            continue
        if seen and draw(st.integers(0, 2)) == 0:  # again at a price of this chunk
            price = draw(st.sampled_from(seen))
        else:
            price = draw(_price(center, anchors))
            seen.append(price)
        lots = draw(_LOTS)
        if kind in (KIND_TRADE_BUY, KIND_TRADE_SELL):
            lots = max(lots, 1)
        rows.cols.append((ts, kind, price, lots))
    return rows.build()


@st.composite
def _event(draw: st.DrawFn, ts: int, center: int, anchors: tuple[int, ...]) -> Event:
    """A book delta or a trade, as `on_market` gets them."""
    levels = st.lists(st.tuples(_price(center, anchors), _LOTS), max_size=3)
    if draw(st.booleans()):
        return BookDelta(
            ts_ns=ts, local_ns=ts, symbol=SYMBOL, bids=tuple(draw(levels)), asks=tuple(draw(levels))
        )
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    price = draw(_price(center, anchors))
    return trade(ts, price, draw(st.integers(1, 8)), side)


@st.composite
def _command(draw: st.DrawFn, cid: int, center: int, anchors: tuple[int, ...]) -> PlaceOrder:
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    price = draw(_price(center, anchors))
    lots = draw(st.integers(1, 4))
    style = draw(st.sampled_from(["post", "post", "post", "limit", "ioc", "reduce", "reduce_ioc"]))
    if style == "post":
        return order(cid, side, price, lots)
    if style == "limit":
        return order(cid, side, price, lots, post_only=False)
    if style == "ioc":
        return order(cid, side, price, lots, post_only=False, tif=TimeInForce.IOC)
    if style == "reduce":
        return order(cid, side, price, lots, reduce_only=True)
    return order(cid, side, price, lots, post_only=False, reduce_only=True, tif=TimeInForce.IOC)


def _anchors(pair: Lockstep) -> tuple[int, ...]:
    book = pair.ref.book
    prices = [book.best_bid, book.best_ask] + [o.price_ticks for o in pair.ref.open_orders()]
    return tuple(p for p in prices if p > 0)


def _play(pair: Lockstep, data: st.DataObject) -> None:
    """Draw operations and apply them to both engines (each compares them), times
    non-decreasing."""
    ts, center, cid = 1, MID, 0
    rows: MarketRows | None = None
    at = 0
    if data.draw(st.booleans(), label="start from on_market"):
        pair.market(
            BookSnapshot(
                ts_ns=ts,
                local_ns=ts,
                symbol=SYMBOL,
                bids=((center, 5), (center - 2, 3), (center - HALF - 5, 1)),
                asks=((center + 1, 4), (center + 4, 2)),
            )
        )
    for _ in range(data.draw(st.integers(1, 20), label="operations")):
        op = data.draw(st.sampled_from(["rows"] * 5 + ["order"] * 3 + ["cancel", "drift", "event"]))
        if op == "rows":
            if rows is None or at >= len(rows):
                rows = data.draw(_chunk(ts, center, _anchors(pair)))
                at = 0
            last = int(rows.ts_ns[-1])
            # Through the chunk, or to a time within it (the rest comes later).
            until = data.draw(st.one_of(st.just(last), st.integers(ts, max(ts, last + 1))))
            at = pair.feed(rows, at, until)
            ts = max(ts, until)
        elif op == "order":
            cid += 1
            pair.submit(data.draw(_command(cid, center, _anchors(pair))), ts)
        elif op == "cancel":
            resting = [o.client_order_id for o in pair.ref.open_orders()]
            which = data.draw(st.sampled_from([*resting, cid + 1, -1]))
            if which == -1:
                pair.cancel_all(ts)
            else:
                pair.cancel(which, ts)
        elif op == "event":
            pair.market(data.draw(_event(ts, center, _anchors(pair))))
        else:  # the market moves on: later rows gather around a price far away
            step = data.draw(st.sampled_from([-300_000, -110_000, 110_000, 300_000]))
            center = max(center + step, 200_000)
    if rows is not None:
        pair.feed(rows, at, int(rows.ts_ns[-1]))


@pytest.mark.parametrize("queue", QUEUES.values(), ids=QUEUES.keys())
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_compiled_rows_match_the_level_by_level_reference(
    queue: Callable[[], QueueModel], data: st.DataObject
) -> None:
    _play(Lockstep(queue), data)


@pytest.mark.parametrize("queue", QUEUES.values(), ids=QUEUES.keys())
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), width=st.sampled_from([3, 9]))
def test_long_chunks_match_the_reference(
    queue: Callable[[], QueueModel], seed: int, width: int
) -> None:
    """Chunks of thousands of rows: depth churning at our prices (more changes than the watch
    buffer holds between two stops), thousands of distinct far prices on each side (the far
    table grows), trades at and through our prices, until times inside the chunks."""
    rng = np.random.default_rng(seed)
    pair = seeded(queue, MID)
    ts, cid = 2, 0
    for turn in range(2):
        for k in range(6):
            cid += 1
            side = Side.BUY if k % 2 else Side.SELL
            depth = int(rng.integers(6, 9))
            price = MID - depth if side is Side.BUY else MID + 1 + depth
            pair.submit(order(cid, side, price, int(rng.integers(1, 4))), ts)
        n = 20_000
        kind = rng.choice(
            [KIND_BID, KIND_ASK, KIND_TRADE_BUY, KIND_TRADE_SELL], n, p=[0.46] * 2 + [0.04] * 2
        )
        bid = kind == KIND_BID
        ask = kind == KIND_ASK
        ticks = MID + rng.integers(-5, 6, n)  # trades: mostly short of our prices
        reach = rng.random(n) < 0.01 * turn  # now and then (second round) at or through them
        ticks[reach] = MID + rng.choice([-1, 1], int(reach.sum())) * rng.integers(
            6, 10, int(reach.sum())
        )
        ticks[bid] = MID - 8 + rng.integers(0, width, int(bid.sum()))
        ticks[ask] = MID + 9 - rng.integers(0, width, int(ask.sum()))
        sweep = rng.random(n) < 0.0005 * turn  # a level through our orders on the other side
        ticks[bid & sweep] = MID + 9
        ticks[ask & sweep] = MID - 8
        far = rng.random(n) < 0.25
        ticks[bid & far] = MID - HALF - 1 - rng.integers(0, 50_000, int((bid & far).sum()))
        ticks[ask & far] = MID + HALF + 1 + rng.integers(0, 50_000, int((ask & far).sum()))
        lots = rng.choice([0, 1, 2, 3, 5, 8, 20], n)
        lots[~(bid | ask)] = rng.integers(1, 6, int((~(bid | ask)).sum()))
        stamps = ts + np.cumsum(rng.integers(0, 2, n))
        rows = MarketRows(
            data=np.stack([stamps, kind, ticks, lots]).astype(np.int64),
            tick_center=MID,
            groups=n,
        )
        until = int(stamps[int(rng.integers(0, n))])
        at = pair.feed(rows, 0, until)
        pair.cancel(cid - 5, until)
        ts = int(stamps[-1])
        pair.feed(rows, at, ts)
    assert pair.array_book.far_keys.shape[1] > 4096
