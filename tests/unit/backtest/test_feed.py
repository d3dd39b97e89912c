"""The engine's coalesced feed built while loading (`CoalescedFeed`) against the replay loop's
own coalescing (`ReplayLoop.run(market_events)` with a feed interval and deltas held for their
snapshot): the engine must receive the same events, at the same times, in the same order."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grvtmm.backtest.data_common import LoadOptions, LoadStats
from grvtmm.backtest.data_hbt import (
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EVENT_DTYPE,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
    load_hbt,
    load_hbt_columns,
)
from grvtmm.backtest.feed import DELTA, OTHER, SNAPSHOT, CoalescedFeed, FeedChunk
from grvtmm.backtest.loop import LoopSettings, ReplayLoop
from grvtmm.core.clock import SimClock
from grvtmm.core.commands import Command
from grvtmm.core.events import (
    BookDelta,
    BookSnapshot,
    EngineMode,
    Event,
    HaltRequested,
    Level,
    Timer,
    Trade,
)
from grvtmm.core.types import Instrument, Side
from grvtmm.venues.sim.columnar import MarketRows

MS = 1_000_000
NEVER = 1 << 61
"""A timer interval beyond every time in these tests: the loop's timers never fire."""


# ---- the two paths -----------------------------------------------------------------------------
class RecordingEngine:
    """Records what the engine is handed, with the loop's clock at that moment."""

    mode = EngineMode.RUNNING

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.seen: list[tuple[int, Event]] = []

    def on_event(self, event: Event) -> list[Command]:
        self.seen.append((self.clock.now_ns(), event))
        return []

    def take_notices(self) -> list[Event]:
        return []


class NullExchange:
    """An exchange that takes the market and never answers."""

    def submit(self, command: Command, local_ns: int) -> None:
        raise AssertionError(f"the recording engine sends no commands, got {command}")

    def advance(self, ts_ns: int) -> None:
        return None

    def on_market(self, event: Event) -> None:
        return None

    def on_rows(self, rows: MarketRows, start: int, until_ns: int) -> int:
        return start + int(np.searchsorted(rows.ts_ns[start:], until_ns, side="right"))

    def pop_responses(self, until_local_ns: int) -> list[Event]:
        return []

    def next_response_ns(self) -> int | None:
        return None

    def next_arrival_ns(self) -> int | None:
        return None


def new_loop(
    interval: int, timer: int = NEVER, scheduled: Sequence[Event] = ()
) -> tuple[ReplayLoop, RecordingEngine]:
    clock = SimClock()
    engine = RecordingEngine(clock)
    loop_settings = LoopSettings(
        timer_interval_ns=timer, feed_interval_ns=interval, deltas_wait_for_snapshot=True
    )
    loop = ReplayLoop(engine, NullExchange(), clock, loop_settings)
    for event in scheduled:
        loop.schedule(event)
    return loop, engine


def run_events(
    market: Sequence[Event], interval: int, timer: int = NEVER, scheduled: Sequence[Event] = ()
) -> list[tuple[int, Event]]:
    """The loop coalescing the events itself: (engine clock, event) as the engine gets them."""
    loop, engine = new_loop(interval, timer, scheduled)
    loop.run(market)
    if timer == NEVER:
        assert not any(isinstance(e, Timer) for _, e in engine.seen)
    return engine.seen


def event_path(market: Sequence[Event], interval: int) -> list[tuple[int, Event]]:
    """The loop coalescing the events itself: (delivery time, event) as the engine gets them.

    The delivery time is the event's receive time `max(local_ns, ts_ns)` (a held delta carries
    its snapshot's, a coalesced delta its window end): the loop's order of local delivery."""
    seen = run_events(market, interval)
    times = [max(e.local_ns, e.ts_ns) for _, e in seen]
    assert times == sorted(times)
    return [(t, e) for t, (_, e) in zip(times, seen, strict=True)]


def feed_chunk(events: Sequence[Event]) -> FeedChunk:
    """Consecutive market events as a columnar source hands them to the feed."""
    n = len(events)
    kinds = np.zeros(n, dtype=np.int8)
    objects = np.empty(n, dtype=object)
    level_event: list[int] = []
    level_bid: list[int] = []
    level_price: list[int] = []
    level_size: list[int] = []
    for k, event in enumerate(events):
        if isinstance(event, BookDelta):
            kinds[k] = DELTA
            for bid, levels in ((1, event.bids), (0, event.asks)):
                for price, size in levels:
                    level_event.append(k)
                    level_bid.append(bid)
                    level_price.append(price)
                    level_size.append(size)
        else:
            kinds[k] = SNAPSHOT if isinstance(event, BookSnapshot) else OTHER
            objects[k] = event
    return FeedChunk(
        kinds=kinds,
        ts_ns=np.array([e.ts_ns for e in events], dtype=np.int64),
        local_ns=np.array([e.local_ns for e in events], dtype=np.int64),
        events=objects,
        level_event=np.array(level_event, dtype=np.int64),
        level_bid=np.array(level_bid, dtype=np.int8),
        level_price=np.array(level_price, dtype=np.int64),
        level_size=np.array(level_size, dtype=np.int64),
    )


def feed_path(
    market: Sequence[Event], interval: int, cuts: Iterable[int] = ()
) -> list[tuple[int, Event]]:
    """The feed built chunk by chunk (split before each index in `cuts`): its queue."""
    feed = CoalescedFeed(interval, hold_deltas=True)
    bounds = [0, *sorted(cuts), len(market)]
    for a, b in itertools.pairwise(bounds):
        feed.add(feed_chunk(market[a:b]))
    feed.finish()
    return list(feed.queue)


Delivery = tuple[str, int, object]


def shape(deliveries: Sequence[tuple[int, Event]]) -> list[Delivery]:
    """Deliveries in comparable form: a delta by its stamps and levels in order, any other
    event as itself. (Not the delta's symbol: the feed's deltas carry none, the engine's book
    is its instrument's.)"""
    out: list[Delivery] = []
    for t, e in deliveries:
        if isinstance(e, BookDelta):
            fields = (e.ts_ns, e.local_ns, e.sequence, e.prev_sequence)
            out.append(("delta", t, (fields, list(e.bids), list(e.asks))))
        else:
            out.append((type(e).__name__, t, e))
    return out


def assert_same(expected: Sequence[tuple[int, Event]], got: Sequence[tuple[int, Event]]) -> None:
    a, b = shape(expected), shape(got)
    for k, (x, y) in enumerate(zip(a, b, strict=False)):
        assert x == y, f"delivery {k} differs: event path {x}, feed {y}"
    assert len(a) == len(b), f"{len(a)} deliveries on the event path, {len(b)} from the feed"


def both(
    market: Sequence[Event],
    interval: int,
    cuts: Iterable[int] = (),
    timer: int = NEVER,
    scheduled: Sequence[Event] = (),
) -> list[Delivery]:
    """The feed's deliveries, checked against the event path; then delivered by the loop
    (with its timers every `timer` and the `scheduled` events), checked against the loop
    coalescing itself, with the clock the engine sees at each delivery."""
    expected = event_path(market, interval)
    got = feed_path(market, interval, cuts)
    assert_same(expected, got)
    for (_, x), (_, y) in zip(expected, got, strict=True):
        if not isinstance(x, BookDelta):
            assert x is y
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(got))
    # The same queue delivered by the loop: the engine's clock matches the event path's.
    loop, engine = new_loop(interval, timer, scheduled)
    loop.run(market, feed=deque(got))
    assert shape(engine.seen) == shape(run_events(market, interval, timer, scheduled))
    return shape(got)


# ---- building markets --------------------------------------------------------------------------
def delta(ts: int, local: int, bids: Sequence[Level] = (), asks: Sequence[Level] = ()) -> BookDelta:
    return BookDelta(ts_ns=ts, local_ns=local, symbol="X", bids=tuple(bids), asks=tuple(asks))


def trade(ts: int, local: int, price: int = 100) -> Trade:
    return Trade(
        ts_ns=ts, local_ns=local, symbol="X", price_ticks=price, size_lots=1, aggressor=Side.BUY
    )


def snapshot(ts: int, local: int) -> BookSnapshot:
    return BookSnapshot(ts_ns=ts, local_ns=local, symbol="X", bids=((99, 5),), asks=((101, 5),))


def window(end: int, bids: Sequence[Level] = (), asks: Sequence[Level] = ()) -> Delivery:
    """The coalesced delta delivered at window end `end`, as `shape` shows it."""
    return ("delta", end, ((end, end, 0, None), list(bids), list(asks)))


def plain(t: int, e: Event) -> Delivery:
    return (type(e).__name__, t, e)


levels = st.lists(st.tuples(st.integers(95, 105), st.integers(0, 3)), max_size=4)


@dataclass(frozen=True)
class Case:
    interval: int
    market: list[Event]
    cuts: list[int]
    timer: int
    scheduled: list[Event]


@st.composite
def markets(draw: st.DrawFn) -> Case:
    """A feed interval (0: every change), a market in exchange order, where to cut it into
    chunks, the loop's timer interval and control events scheduled on it. Receive latencies
    vary per event (zero, arbitrary, landing on a window end, or negative: received at
    exchange time), so receive order differs from exchange order."""
    scale = draw(st.sampled_from([1, 2, 3, 10, 100 * MS]))
    interval = draw(st.sampled_from([scale] * 4 + [0]))
    step = st.one_of(st.just(0), st.integers(0, 2 * scale), st.just(scale))
    ts = draw(st.integers(0, 3 * scale))
    market: list[Event] = []
    for _ in range(draw(st.integers(1, 40))):
        ts += draw(step)
        how = draw(st.sampled_from(["zero", "any", "grid", "negative"]))
        if how == "zero":
            local = ts
        elif how == "any":
            local = ts + draw(st.integers(0, 4 * scale))
        elif how == "grid":
            local = (ts // scale + draw(st.integers(0, 3))) * scale
        else:
            local = ts - draw(st.integers(1, scale))
        kind = draw(st.sampled_from(["delta"] * 5 + ["trade"] * 2 + ["snapshot"]))
        if kind == "delta":
            market.append(delta(ts, local, draw(levels), draw(levels)))
        elif kind == "trade":
            market.append(trade(ts, local))
        else:
            market.append(snapshot(ts, local))
    cuts = draw(st.lists(st.integers(0, len(market)), max_size=5))
    timer = draw(st.sampled_from([NEVER, scale, 3 * scale]))
    at = st.integers(market[0].ts_ns, ts + 4 * scale)
    on_grid = st.builds(lambda k: k * scale, st.integers(market[0].ts_ns // scale, ts // scale + 4))
    scheduled: list[Event] = [
        HaltRequested(ts_ns=t, local_ns=t, reason=str(k))
        for k, t in enumerate(draw(st.lists(st.one_of(at, on_grid), max_size=3)))
    ]
    return Case(interval, market, cuts, timer, scheduled)


# ---- 1. the property ---------------------------------------------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets())
def test_the_feed_delivers_what_the_loop_would(case: Case) -> None:
    both(case.market, case.interval, case.cuts, case.timer, case.scheduled)


# ---- 2. examples -------------------------------------------------------------------------------
def test_a_delta_received_at_a_window_end_goes_to_the_next_window() -> None:
    market = [delta(10, 30, [(100, 1)]), delta(20, 100, [(100, 2)]), trade(30, 100)]
    assert both(market, 100) == [
        window(100, [(100, 1)]),
        plain(100, market[2]),
        window(200, [(100, 2)]),
    ]


def test_a_snapshot_drops_the_deltas_of_its_window_received_before_it() -> None:
    snap = snapshot(15, 40)
    market = [delta(10, 10, [(100, 1)], [(101, 1)]), snap]
    assert both(market, 100) == [plain(40, snap), window(100)]
    later = [*market, delta(20, 60, [(99, 3)]), delta(30, 60, asks=[(101, 0)])]
    assert both(later, 100) == [plain(40, snap), window(100, [(99, 3)], [(101, 0)])]


def test_deltas_received_before_the_last_snapshot_are_held_to_its_time() -> None:
    before = delta(5, 40, [(98, 1)])
    snap = snapshot(10, 250)  # a slow snapshot
    after = delta(20, 30, [(99, 2)])
    market = [before, snap, after, delta(30, 330, [(99, 4)])]
    assert both(market, 100) == [
        window(100, [(98, 1)]),
        plain(250, snap),
        window(300, [(99, 2)]),
        window(400, [(99, 4)]),
    ]


def test_a_window_spanning_two_chunks() -> None:
    market = [
        delta(10, 10, [(100, 1), (99, 1)], [(101, 1)]),
        trade(20, 20),
        delta(30, 50, [(98, 1), (100, 0)]),
        delta(40, 90, asks=[(102, 7), (101, 2)]),
    ]
    expected = [
        plain(20, market[1]),
        window(100, [(100, 0), (99, 1), (98, 1)], [(101, 2), (102, 7)]),
    ]
    for cut in range(len(market) + 1):
        assert both(market, 100, [cut]) == expected


def test_more_than_2048_prices_in_a_window_grow_the_coalescing_table() -> None:
    n = 5000
    bids = [(1_000_000 - p, 1 + p % 7) for p in range(n)]
    asks = [(2_000_000 + 3 * p, 1 + p % 5) for p in range(n // 2)]
    market: list[Event] = [
        delta(1, 1, bids[: n // 3], asks[:100]),
        delta(2, 2, bids[n // 3 :], asks[100:]),
        delta(3, 3, [(bids[0][0], 99), (bids[-1][0], 0)]),  # touched again: first-touch order
        delta(4, 150, [(5, 5)]),  # the next window, on tables that grew
    ]
    touched = [(bids[0][0], 99), *bids[1:-1], (bids[-1][0], 0)]
    expected = [window(100, touched, asks), window(200, [(5, 5)])]
    assert both(market, 100) == expected
    assert both(market, 100, [1, 2]) == expected


def test_a_snapshot_clears_a_window_whose_table_grew() -> None:
    bids = [(10_000 + p, 1) for p in range(3000)]
    asks = [(50_000 + 7 * p, 2) for p in range(4500)]
    snap = snapshot(3, 50)
    market: list[Event] = [
        delta(1, 1, bids[:1500]),
        delta(2, 2, bids[1500:], asks[:2000]),
        snap,
        delta(4, 60, [(10_005, 9), (1, 1)], asks[2000:]),
        delta(5, 70, bids[:2], asks[:3]),
    ]
    expected = [
        plain(50, snap),
        window(100, [(10_005, 9), (1, 1), *bids[:2]], [*asks[2000:], *asks[:3]]),
    ]
    for cuts in ([], [1], [2], [1, 3], [4]):
        assert both(market, 100, cuts) == expected


def test_local_times_going_backwards_across_a_chunk_boundary() -> None:
    market = [
        trade(50, 900),
        delta(100, 800, [(100, 1)]),
        trade(100, 150),
        delta(100, 120, asks=[(101, 1)]),
    ]
    expected = [
        plain(150, market[2]),
        window(200, asks=[(101, 1)]),
        window(900, [(100, 1)]),
        plain(900, market[0]),
    ]
    for cut in range(len(market) + 1):
        assert both(market, 100, [cut]) == expected


def test_a_scheduled_event_at_a_window_end_follows_the_windows_delta() -> None:
    market = [delta(10, 10, [(100, 1)]), trade(300, 300)]
    halt = HaltRequested(ts_ns=100, local_ns=100, reason="operator")
    both(market, 100, scheduled=[halt])
    loop, engine = new_loop(100, scheduled=[halt])
    loop.run(market, feed=deque(feed_path(market, 100)))
    assert [(t, type(e).__name__) for t, e in engine.seen] == [
        (100, "BookDelta"),
        (100, "HaltRequested"),
        (300, "Trade"),
    ]


def test_a_delta_without_levels_still_opens_a_window() -> None:
    market = [delta(10, 10), trade(20, 20), delta(30, 150), delta(40, 160, [(100, 1)])]
    assert both(market, 100) == [plain(20, market[1]), window(100), window(200, [(100, 1)])]


# ---- 3. the hftbacktest loader -----------------------------------------------------------------
INSTRUMENT = Instrument("X", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
BOTH = EXCH_EVENT | LOCAL_EVENT
Row = tuple[int, int, int, float, float]


def write_npz(path: Path, rows: Sequence[Row]) -> Path:
    data = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, (ev, exch, local, px, qty) in enumerate(rows):
        data[i] = (ev, exch, local, px, qty, 0, 0, 0.0)
    with path.open("wb") as fh:
        np.savez_compressed(fh, data=data)
    return path


def handmade_rows() -> list[Row]:
    bid, ask = BUY_EVENT, SELL_EVENT
    depth, snap = BOTH | DEPTH_EVENT, BOTH | DEPTH_SNAPSHOT_EVENT
    return [
        # A snapshot group: a clear of both sides, then the book.
        (BOTH | DEPTH_CLEAR_EVENT, 10 * MS, 10 * MS, float("nan"), 0.0),
        (snap | bid, 10 * MS, 10 * MS, 99.9, 1.0),
        (snap | bid, 10 * MS, 10 * MS, 99.8, 2.0),
        (snap | ask, 10 * MS, 10 * MS, 100.1, 1.5),
        # A depth group whose bid and ask rows interleave.
        (depth | bid, 20 * MS, 40 * MS, 99.9, 3.0),
        (depth | ask, 20 * MS, 40 * MS, 100.1, 0.0),
        (depth | bid, 20 * MS, 40 * MS, 99.7, 1.0),
        (depth | ask, 20 * MS, 40 * MS, 100.2, 2.0),
        (BOTH | TRADE_EVENT | bid, 30 * MS, 30 * MS, 100.2, 0.5),
        # Received late: an EXCH-only copy here, its LOCAL-only copy at its receive position.
        (EXCH_EVENT | DEPTH_EVENT | ask, 50 * MS, 230 * MS, 100.3, 4.0),
        (depth | bid, 60 * MS, 100 * MS, 99.9, 0.0),  # exactly at a window end
        (BOTH | TRADE_EVENT | ask, 60 * MS, 100 * MS, 99.8, 1.0),
        # A slow snapshot in mid-file; the deltas after it received earlier are held.
        (BOTH | DEPTH_CLEAR_EVENT | bid, 120 * MS, 310 * MS, 99.8, 0.0),
        (snap | bid, 120 * MS, 310 * MS, 99.8, 7.0),
        (depth | ask, 130 * MS, 180 * MS, 100.1, 9.0),
        (LOCAL_EVENT | DEPTH_EVENT | ask, 50 * MS, 230 * MS, 100.3, 4.0),
        (depth | bid, 140 * MS, 200 * MS, 99.6, 1.0),
        (depth | bid, 320 * MS, 320 * MS, 99.5, 1.0),
        (BOTH | TRADE_EVENT | bid, 330 * MS, 330 * MS, 100.1, 2.0),
    ]


def random_rows(seed: int, groups: int = 400) -> list[Row]:
    """Depth groups (sides interleaved), trades, snapshot groups and late events written as
    split EXCH-only / LOCAL-only pairs, with receive latencies on and off window ends."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    late: list[tuple[int, Row]] = []
    ts = 1_000 * MS
    for g in range(groups):
        ts += int(rng.choice([0, 1, 5, 50])) * MS
        latency = int(rng.choice([0, 3 * MS, 50 * MS, 100 * MS - ts % (100 * MS), 170 * MS]))
        roll = rng.random()
        if g == 0 or roll < 0.04:
            kind = BOTH | DEPTH_SNAPSHOT_EVENT
            rows.append((BOTH | DEPTH_CLEAR_EVENT, ts, ts + latency, float("nan"), 0.0))
            for k in range(int(rng.integers(1, 6))):
                side = BUY_EVENT if k % 2 else SELL_EVENT
                price = (1000 - k if side == BUY_EVENT else 1001 + k) / 10
                rows.append((kind | side, ts, ts + latency, price, float(rng.integers(1, 9))))
        elif roll < 0.3:
            side = BUY_EVENT if rng.random() < 0.5 else SELL_EVENT
            rows.append((BOTH | TRADE_EVENT | side, ts, ts + latency, 100.0, 0.001))
        else:
            flags = EXCH_EVENT if rng.random() < 0.1 else BOTH
            for _ in range(int(rng.integers(1, 6))):
                side = BUY_EVENT if rng.random() < 0.5 else SELL_EVENT
                price = int(rng.integers(990, 1011)) / 10
                row = (
                    flags | DEPTH_EVENT | side,
                    ts,
                    ts + latency,
                    price,
                    float(rng.integers(0, 4)),
                )
                rows.append(row)
                if flags == EXCH_EVENT:
                    late.append((ts + latency, (LOCAL_EVENT | DEPTH_EVENT | side, *row[1:])))
        while late and late[0][0] <= ts:
            rows.append(late.pop(0)[1])
    rows.extend(r for _, r in late)
    return rows


def loader_deliveries(path: Path, chunk_rows: int, interval: int = 100 * MS) -> list[Delivery]:
    """What the engine gets from an .npz: the feed built by `load_hbt_columns`, checked against
    `load_hbt`'s events through the event path, and both through the loop (the columnar market
    beside its feed, as the columnar replay runs it)."""
    options = LoadOptions(chunk_rows=chunk_rows)
    events = list(load_hbt([path], INSTRUMENT, options, LoadStats()))
    expected = event_path(events, interval)
    feed = CoalescedFeed(interval, hold_deltas=True)
    for _ in load_hbt_columns([path], INSTRUMENT, options, LoadStats(), feed):
        pass
    got = list(feed.queue)
    assert_same(expected, got)
    feed = CoalescedFeed(interval, hold_deltas=True)
    loop, engine = new_loop(interval)
    loop.run(columns=load_hbt_columns([path], INSTRUMENT, options, LoadStats(), feed),
             feed=feed.queue)  # fmt: skip
    assert shape(engine.seen) == shape(run_events(events, interval))
    return shape(got)


@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 1 << 13])
def test_the_hbt_loaders_feed_matches_its_events(tmp_path: Path, chunk_rows: int) -> None:
    path = write_npz(tmp_path / "m.npz", handmade_rows())
    got = loader_deliveries(path, chunk_rows)
    # Ticks of 0.1, lots of 0.001.
    assert [(kind, t // MS) for kind, t, _ in got] == [
        ("BookSnapshot", 10),
        ("Trade", 30),
        ("delta", 100),
        ("Trade", 100),  # received at 100 ms, after the window that ends there
        ("delta", 200),  # the bid received exactly at 100 ms
        ("delta", 300),  # the late ask written as an EXCH-only / LOCAL-only pair
        ("BookSnapshot", 310),
        ("Trade", 330),
        ("delta", 400),  # the deltas held for the slow snapshot, and one received after it
    ]
    deltas = [d[1:] for kind, _, d in got if kind == "delta" and isinstance(d, tuple)]
    assert deltas == [
        ([(999, 3000), (997, 1000)], [(1001, 0), (1002, 2000)]),  # bids, then asks
        ([(999, 0)], []),
        ([], [(1003, 4000)]),
        ([(996, 1000), (995, 1000)], [(1001, 9000)]),
    ]


@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 1 << 13])
def test_the_hbt_loaders_feed_of_every_delta_matches_its_events(
    tmp_path: Path, chunk_rows: int
) -> None:
    path = write_npz(tmp_path / "m.npz", handmade_rows())
    got = loader_deliveries(path, chunk_rows, interval=0)
    held = [d for kind, t, d in got if kind == "delta" and t == 310 * MS]
    assert len(held) == 2  # the deltas received before the slow snapshot, after it


@pytest.mark.parametrize("interval", [0, 100 * MS])
@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 1 << 13])
def test_the_hbt_loaders_feed_matches_its_events_on_a_random_market(
    tmp_path: Path, chunk_rows: int, interval: int
) -> None:
    path = write_npz(tmp_path / "m.npz", random_rows(7))
    got = loader_deliveries(path, chunk_rows, interval)
    assert sum(kind == "BookSnapshot" for kind, _, _ in got) > 5
    assert sum(kind == "delta" for kind, _, _ in got) > 50
