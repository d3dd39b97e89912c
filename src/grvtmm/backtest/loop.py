"""The replay loop: drives the engine against the simulated exchange on one simulated timeline.

Every market event is seen twice: by the exchange at its exchange time `ts_ns` (queue positions,
fills) and by the engine at its local receive time `local_ns`. Commands reach the exchange
after the entry latency and responses come back after the response latency (SimExchange).
The engine optionally sees the book coalesced to a fixed feed interval, like GRVT's
`book.d@50/100` streams, while the exchange sees every change: the deltas received in
`[F - interval, F)` (local time) reach the engine as one delta at `F`, a multiple of the interval,
ahead of anything else received at `F`; a snapshot drops the deltas of its window received before
it.

A columnar source may do that coalescing itself (`run(market, feed=...)`): the market then goes to
the exchange only, and `feed` holds the engine's side, already coalesced and in delivery order.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol, cast

from grvtmm.backtest.feed import FeedQueue
from grvtmm.core.clock import SimClock, perf_ns
from grvtmm.core.commands import Command
from grvtmm.core.events import (
    BookDelta,
    BookSnapshot,
    EngineMode,
    Event,
    LevelColumns,
    Ticker,
    Timer,
    Trade,
)
from grvtmm.venues.sim.columnar import MarketRows

_INF = 1 << 62
_FLUSH = object()


class Exchange(Protocol):
    """What the loop needs from the simulated exchange."""

    def submit(self, command: Command, local_ns: int) -> None: ...

    def advance(self, ts_ns: int) -> None: ...

    def on_market(self, event: Event) -> None: ...

    def on_rows(self, rows: MarketRows, start: int, until_ns: int) -> int: ...

    def pop_responses(self, until_local_ns: int) -> list[Event]: ...

    def next_response_ns(self) -> int | None: ...

    def next_arrival_ns(self) -> int | None: ...


class EngineLike(Protocol):
    mode: EngineMode

    def on_event(self, event: Event) -> list[Command]: ...

    def take_notices(self) -> list[Event]: ...


@dataclass(frozen=True, slots=True)
class LoopSettings:
    timer_interval_ns: int = 100_000_000
    feed_interval_ns: int = 0
    """0: the engine sees every book change; otherwise coalesced on this local-time grid."""
    timers_from_first_event: bool = False
    """True: timers fire every interval after the first market event (hftbacktest's elapse
    loop); False: on multiples of the interval."""
    deltas_wait_for_snapshot: bool = False
    """True: a book delta that follows a snapshot in exchange order reaches the engine no
    earlier than that snapshot, as a client that buffers diffs until its (REST) snapshot
    arrives would apply it; False: each event at its own receive time."""


@dataclass(slots=True)
class LoopStats:
    market_events: int = 0
    engine_events: int = 0
    commands: int = 0
    first_ns: int = 0
    last_ns: int = 0
    wall_ns: int = 0


EventSink = Callable[[Event], None]
CommandSink = Callable[[Command], None]


def _next_rows(chunks: Iterator[MarketRows], stats: LoopStats) -> MarketRows | None:
    """The next non-empty chunk of rows (None at the end of the data)."""
    for rows in chunks:
        if len(rows):
            return rows
        stats.market_events += rows.groups
    return None


class ReplayLoop:
    """Merges market data, exchange responses, timers and scheduled control events by time."""

    def __init__(
        self,
        engine: EngineLike,
        exchange: Exchange,
        clock: SimClock,
        settings: LoopSettings | None = None,
        *,
        on_event: EventSink | None = None,
        on_command: CommandSink | None = None,
        pace: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.exchange = exchange
        self.clock = clock
        self.settings = settings or LoopSettings()
        self.stats = LoopStats()
        self._on_event = on_event
        self._on_command = on_command
        self._pace = pace
        self._local: list[tuple[int, int, object]] = []
        self._seq = 0
        self._pending_bids: dict[int, int] = {}
        self._pending_asks: dict[int, int] = {}
        self._pending_seq = 0
        self._flush_scheduled = False
        self._delivered_seq = 0
        self._it: Iterator[Event] = iter(())
        self._nxt: Event | None = None
        self._feed: FeedQueue = deque()
        self._fed = False
        self._chunks: Iterator[MarketRows] = iter(())
        self._rows: MarketRows | None = None
        self._row = 0
        self._sample: Callable[[int], int] | None = None
        self._due = -_INF
        self._next_timer = _INF
        self._snapshot_local_ns = 0

    def schedule(self, event: Event) -> None:
        """Deliver `event` (e.g. StartRequested) to the engine at its `local_ns`."""
        self._push(event.local_ns, event)

    def _push(self, t: int, item: object) -> None:
        self._seq += 1
        heapq.heappush(self._local, (t, self._seq, item))

    def run(
        self,
        market: Iterable[Event] | None = None,
        *,
        columns: Iterable[MarketRows] | None = None,
        feed: FeedQueue | None = None,
        sample: Callable[[int], int] | None = None,
        until_ns: int | None = None,
        stop_when: Callable[[], bool] | None = None,
    ) -> LoopStats:
        """Run until the data ends, `until_ns` (local time) passes, or `stop_when()` is true.

        Pass the market once, as events (`market`) or as chunks of rows (`columns`, applied by
        the exchange's compiled scan); later calls (e.g. after scheduling a stop) continue
        where the previous one left off. With `feed` (required with `columns`), the market goes
        to the exchange only and the engine receives the events of `feed`, a queue of (delivery
        time, event) that its source fills as the market is read (`grvtmm.backtest.feed`):
        every delivery must be at or after the exchange time of the market read so far, and
        the source must have queued every engine event before the exchange time of the next
        market event or chunk it yields. `sample` (with `columns`) is called with the exchange
        time of the next row as soon as it reaches the time the previous call returned (the
        first time at the first row), before that row is applied; it returns when to call
        again.
        """
        stats = self.stats
        exchange = self.exchange
        started = perf_ns()
        interval = self.settings.timer_interval_ns
        if columns is not None and feed is None:
            raise ValueError("a columnar market needs the engine's feed")
        first: int | None = None
        if market is not None:
            self._fed = feed is not None
            self._feed = feed if feed is not None else deque()
            self._it = iter(market)
            self._nxt = next(self._it, None)
            if self._nxt is not None:
                first = self._nxt.ts_ns
        elif columns is not None:
            self._sample = sample
            self._fed = True
            self._feed = feed if feed is not None else deque()
            self._chunks = iter(columns)
            self._rows = _next_rows(self._chunks, stats)
            if self._rows is not None:
                first = int(self._rows.ts_ns[0])
        if first is not None:
            stats.first_ns = first
            if self.settings.timers_from_first_event:
                self._next_timer = first + interval
            else:
                self._next_timer = (first // interval + 1) * interval
        it = self._it
        nxt = self._nxt
        chunks = self._chunks
        rows = self._rows
        row = self._row
        t_row = int(rows.ts_ns[row]) if rows is not None else _INF
        sampler = self._sample
        due = self._due if sampler is not None else _INF
        next_timer = self._next_timer
        limit = until_ns if until_ns is not None else _INF
        local = self._local
        next_arrival = exchange.next_arrival_ns
        next_response = exchange.next_response_ns
        on_market = exchange.on_market
        heappush = heapq.heappush
        heappop = heapq.heappop
        hold_deltas = self.settings.deltas_wait_for_snapshot
        interval_ns = self.settings.feed_interval_ns
        pending_bids = self._pending_bids
        pending_asks = self._pending_asks
        fed = self._feed
        to_heap = not self._fed
        while True:
            t_ex = nxt.ts_ns if nxt is not None else t_row
            t_arr = next_arrival()
            t_arr = _INF if t_arr is None else t_arr
            t_resp = next_response()
            t_resp = _INF if t_resp is None else t_resp
            t_loc = local[0][0] if local else _INF
            t_fed = fed[0][0] if fed else _INF
            if t_fed < t_loc:
                t_loc = t_fed
            t_tim = next_timer if (t_ex < _INF or local or fed or t_resp < _INF) else _INF
            t = min(t_ex, t_arr, t_resp, t_loc, t_tim)
            if t >= _INF or t > limit:
                break
            if t_arr == t and t_arr < t_ex:
                exchange.advance(t)
            elif rows is not None and t_ex == t:
                if t_row >= due and sampler is not None:
                    due = max(sampler(t_row), t_row + 1)
                # Rows up to the next thing to happen (ties go to market data).
                until = min(t_arr, t_resp, t_loc, t_tim, limit, due - 1)
                row = exchange.on_rows(rows, row, until)
                if row >= len(rows):
                    stats.market_events += rows.groups
                    rows = _next_rows(chunks, stats)
                    row = 0
                t_row = int(rows.ts_ns[row]) if rows is not None else _INF
            elif t_ex == t:
                # Market events in a row, while each is still the earliest thing to happen
                # (ties go to market data, as in the general order above).
                bound = min(t_arr, t_resp, t_loc, t_tim, limit)
                while nxt is not None:
                    on_market(nxt)
                    stats.market_events += 1
                    if to_heap:
                        pushed: Event = nxt
                        t_push = nxt.local_ns if nxt.local_ns > nxt.ts_ns else nxt.ts_ns
                        if hold_deltas:
                            if isinstance(nxt, BookSnapshot):
                                self._snapshot_local_ns = t_push
                            elif t_push < self._snapshot_local_ns and isinstance(nxt, BookDelta):
                                # Applied when the snapshot arrives; ties keep exchange order.
                                t_push = self._snapshot_local_ns
                                pushed = replace(nxt, local_ns=t_push)
                        self._seq += 1
                        heappush(local, (t_push, self._seq, pushed))
                        if t_push < bound:
                            bound = t_push
                    nxt = next(it, None)
                    if stop_when is not None or nxt is None:
                        break
                    if fed and fed[0][0] < bound:
                        bound = fed[0][0]
                    t_resp = next_response()
                    if t_resp is not None and t_resp < bound:
                        bound = t_resp
                    if nxt.ts_ns > bound:
                        break
            elif t_resp == t:
                for response in exchange.pop_responses(t):
                    self._deliver(response)
            elif t_fed == t and not (local and local[0][0] == t and not self._window_first(fed)):
                # The coalesced feed, in a row, on the same terms as the local queue below.
                deliver = self._deliver
                while True:
                    deliver(fed.popleft()[1])
                    if stop_when is not None or not fed:
                        break
                    t = fed[0][0]
                    if t >= t_ex or t >= t_resp or t > t_tim or t > limit:
                        break
                    if (
                        local
                        and local[0][0] <= t
                        and not (local[0][0] == t and self._window_first(fed))
                    ):
                        break
                    t_arr = next_arrival()
                    if t_arr is not None and t_arr <= t:
                        break
            elif t_loc == t:
                # Local deliveries in a row, while each is still strictly before any market
                # event, response or command arrival, and not after the next timer.
                while True:
                    _, _, item = heappop(local)
                    if item is _FLUSH:
                        self._flush(t)
                    elif interval_ns and isinstance(item, BookDelta):
                        pending_bids.update(item.bids)
                        pending_asks.update(item.asks)
                        self._pending_seq = item.sequence
                        if not self._flush_scheduled:
                            self._flush_scheduled = True
                            # First among the window's end's local deliveries.
                            flush_at = (t // interval_ns + 1) * interval_ns
                            heappush(local, (flush_at, -1, _FLUSH))
                    else:
                        self._local_market(cast(Event, item))
                    if stop_when is not None or not local:
                        break
                    t = local[0][0]
                    if t >= t_ex or t >= t_resp or t > t_tim or t > limit:
                        break
                    if fed and (fed[0][0] < t or (fed[0][0] == t and self._window_first(fed))):
                        break
                    t_arr = next_arrival()
                    if t_arr is not None and t_arr <= t:
                        break
            else:
                next_timer = t + interval
                self._deliver(Timer(ts_ns=t, local_ns=t))
            if stop_when is not None and stop_when():
                break
        self._nxt = nxt
        self._rows = rows
        self._row = row
        self._due = due
        self._next_timer = next_timer
        stats.last_ns = self.clock.now_ns()
        stats.wall_ns += perf_ns() - started
        return stats

    def _window_first(self, fed: FeedQueue) -> bool:
        """Whether the feed's next delivery is a feed window's delta, which comes before the
        local queue's deliveries at the same time (as the loop's own window deltas do)."""
        return bool(self.settings.feed_interval_ns) and type(fed[0][1]) is BookDelta

    # ---- engine side ----------------------------------------------------------------------
    def _local_market(self, event: Event) -> None:
        if self.settings.feed_interval_ns and isinstance(event, BookSnapshot):
            self._pending_bids.clear()
            self._pending_asks.clear()
            self._delivered_seq = event.sequence
        self._deliver(event)

    def _flush(self, t: int) -> None:
        self._flush_scheduled = False
        pending_bids = self._pending_bids
        pending_asks = self._pending_asks
        bids = LevelColumns(list(pending_bids), list(pending_bids.values()))
        asks = LevelColumns(list(pending_asks), list(pending_asks.values()))
        pending_bids.clear()
        pending_asks.clear()
        prev = self._delivered_seq if self._pending_seq else None
        self._delivered_seq = self._pending_seq
        self._deliver(
            BookDelta(
                ts_ns=t,
                local_ns=t,
                symbol="",
                bids=bids,
                asks=asks,
                sequence=self._pending_seq,
                prev_sequence=prev,
            )
        )

    def _deliver(self, event: Event) -> None:
        now = event.local_ns
        self.clock.set(now)
        if self._pace is not None:
            self._pace(now)
        stats = self.stats
        stats.engine_events += 1
        commands = self.engine.on_event(event)
        sink = self._on_event
        if sink is not None:
            if not isinstance(event, (BookDelta, BookSnapshot, Trade, Ticker, Timer)):
                sink(event)
            for notice in self.engine.take_notices():
                sink(notice)
        else:
            self.engine.take_notices()
        if commands:
            stats.commands += len(commands)
            exchange = self.exchange
            on_command = self._on_command
            for command in commands:
                if on_command is not None:
                    on_command(command)
                exchange.submit(command, now)
