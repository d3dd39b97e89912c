"""SimVenue on a live clock (with a fake exchange and with the real one) and live pacing."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from decimal import Decimal

import anyio
import pytest

from grvtmm.core.clock import NS_PER_MS, NS_PER_S, LiveClock
from grvtmm.core.commands import CancelOrder, Command, PlaceOrder
from grvtmm.core.events import (
    AccountUpdate,
    BookDelta,
    BookSnapshot,
    Event,
    OrderAccepted,
    Trade,
    VenueError,
    VenueErrorKind,
    VenueStatus,
)
from grvtmm.core.types import FeeSchedule, Side
from grvtmm.venues.sim.exchange import SimExchange
from grvtmm.venues.sim.matching import PowerProbQueue
from grvtmm.venues.sim.synthetic import SyntheticMarket, SyntheticParams, default_instrument
from grvtmm.venues.sim.venue import SimVenue, paced

SYMBOL = "BNB_USDT_Perp"
TIMEOUT_S = 10


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeExchange:
    """Acks each command after a round trip; optionally reports something on every trade."""

    def __init__(self, latency_ns: int = NS_PER_MS, fail_submit: bool = False) -> None:
        self.instrument = default_instrument()
        self.fee_schedule = FeeSchedule(maker_rate=Decimal("-0.0001"))
        self.latency_ns = latency_ns
        self.fail_submit = fail_submit
        self.submitted: list[tuple[Command, int]] = []
        self.seen: list[Event] = []
        self.report_trades = False
        self._arrivals: list[tuple[int, Command]] = []
        self._responses: list[Event] = []

    def submit(self, command: Command, local_ns: int) -> None:
        if self.fail_submit:
            raise RuntimeError("matching bug")
        self.submitted.append((command, local_ns))
        self._arrivals.append((local_ns + self.latency_ns, command))

    def advance(self, ts_ns: int) -> None:
        while self._arrivals and self._arrivals[0][0] <= ts_ns:
            arrival, command = self._arrivals.pop(0)
            assert isinstance(command, PlaceOrder | CancelOrder)
            self._respond(
                OrderAccepted(
                    ts_ns=arrival,
                    local_ns=arrival + self.latency_ns,
                    client_order_id=command.client_order_id,
                )
            )

    def on_market(self, event: Event) -> None:
        self.seen.append(event)
        if self.report_trades and isinstance(event, Trade):
            # stamped at the trade's exchange time, so it is due before the trade's own local time
            self._respond(
                AccountUpdate(ts_ns=event.ts_ns, local_ns=event.ts_ns, equity=1.0, free_margin=1.0)
            )

    def pop_responses(self, until_local_ns: int) -> list[Event]:
        due = [r for r in self._responses if r.local_ns <= until_local_ns]
        self._responses = [r for r in self._responses if r.local_ns > until_local_ns]
        return due

    def next_response_ns(self) -> int | None:
        return min((r.local_ns for r in self._responses), default=None)

    def next_arrival_ns(self) -> int | None:
        return self._arrivals[0][0] if self._arrivals else None

    def _respond(self, event: Event) -> None:
        self._responses.append(event)
        self._responses.sort(key=lambda r: r.local_ns)


class QuietMarket:
    """A market that never sends anything and records whether it was closed."""

    def __init__(self) -> None:
        self.closed = False

    async def stream(self) -> AsyncGenerator[Event, None]:
        try:
            await asyncio.Event().wait()
            yield BookSnapshot(ts_ns=0, local_ns=0, symbol=SYMBOL, bids=(), asks=())
        finally:
            self.closed = True


def synthetic(duration_s: float, seed: int = 1, **overrides: object) -> list[Event]:
    params = SyntheticParams(**overrides)  # type: ignore[arg-type]
    market = SyntheticMarket(params, default_instrument(), seed, start_ns=5 * NS_PER_S)
    return list(market.iter_for(duration_s))


def place(client_order_id: int, price_ticks: int = 50_000) -> PlaceOrder:
    return PlaceOrder(
        ts_ns=0,
        client_order_id=client_order_id,
        symbol=SYMBOL,
        side=Side.BUY,
        price_ticks=price_ticks,
        size_lots=10,
    )


def as_gen(stream: AsyncIterator[Event]) -> AsyncGenerator[Event, None]:
    assert isinstance(stream, AsyncGenerator)
    return stream


async def take_until(
    stream: AsyncGenerator[Event, None], done: Callable[[Event], bool]
) -> list[Event]:
    out: list[Event] = []
    async for event in stream:
        out.append(event)
        if done(event):
            return out
    return out


async def close_and_drain(venue: SimVenue, stream: AsyncGenerator[Event, None]) -> list[Event]:
    await venue.close()
    return [event async for event in stream]


# ---- SimVenue with a fake exchange --------------------------------------------------------
@pytest.mark.anyio
async def test_market_events_reach_the_exchange_before_the_engine() -> None:
    clock = LiveClock()
    exchange = FakeExchange()
    source = synthetic(2.0)
    venue = SimVenue(exchange, paced(source, clock, speed=1000.0), clock)
    stream = as_gen(venue.events())
    with anyio.fail_after(TIMEOUT_S):
        await venue.connect()
        got = await take_until(stream, lambda e: isinstance(e, VenueStatus) and not e.connected)
        await close_and_drain(venue, stream)
    first = got[0]
    assert isinstance(first, VenueStatus) and first.connected
    market = [e for e in got if isinstance(e, BookSnapshot | BookDelta | Trade)]
    assert len(market) == len(source)
    assert [(e.ts_ns - market[0].ts_ns) * 1000 for e in market] == pytest.approx(
        [e.ts_ns - source[0].ts_ns for e in source], abs=1000
    )
    assert all(seen is ev for seen, ev in zip(exchange.seen, market, strict=True))
    last = got[-1]
    assert isinstance(last, VenueStatus) and last.detail == "market data ended"
    assert venue.instrument.symbol == SYMBOL
    assert venue.fees.maker_rate == Decimal("-0.0001")


@pytest.mark.anyio
async def test_acks_arrive_while_the_market_is_quiet() -> None:
    clock = LiveClock()
    exchange = FakeExchange(latency_ns=2 * NS_PER_MS)
    quiet = QuietMarket()
    venue = SimVenue(exchange, quiet.stream(), clock, idle_poll_ns=NS_PER_S)
    stream = as_gen(venue.events())
    with anyio.fail_after(TIMEOUT_S):
        await venue.connect()
        before = clock.now_ns()
        await venue.execute(place(7))
        after = clock.now_ns()
        got = await take_until(stream, lambda e: isinstance(e, OrderAccepted))
        tail = await close_and_drain(venue, stream)
    ((command, sent_ns),) = exchange.submitted
    assert command == place(7)
    assert before <= sent_ns <= after
    ack = got[-1]
    assert isinstance(ack, OrderAccepted) and ack.client_order_id == 7
    assert ack.local_ns == sent_ns + 4 * NS_PER_MS
    assert clock.now_ns() >= ack.local_ns
    assert quiet.closed
    assert isinstance(tail[-1], VenueStatus) and tail[-1].detail == "closed"


@pytest.mark.anyio
async def test_responses_due_earlier_come_before_the_market_event_that_caused_them() -> None:
    clock = LiveClock()
    exchange = FakeExchange()
    exchange.report_trades = True
    source = synthetic(5.0, trade_rate_per_s=5.0)
    venue = SimVenue(exchange, paced(source, clock, speed=1000.0), clock)
    stream = as_gen(venue.events())
    with anyio.fail_after(TIMEOUT_S):
        got = await take_until(stream, lambda e: isinstance(e, VenueStatus) and not e.connected)
        await close_and_drain(venue, stream)
    trades = 0
    for i, event in enumerate(got):
        if isinstance(event, Trade) and (i == 0 or not isinstance(got[i - 1], Trade)):
            trades += 1
            report = got[i - 1]
            assert isinstance(report, AccountUpdate) and report.ts_ns == event.ts_ns
    assert trades > 5
    assert sum(isinstance(e, AccountUpdate) for e in got) == sum(isinstance(e, Trade) for e in got)


@pytest.mark.anyio
async def test_a_failing_market_reports_an_internal_error_then_disconnects() -> None:
    async def broken() -> AsyncGenerator[Event, None]:
        yield synthetic(0.1)[0]
        raise RuntimeError("feed parser bug")

    clock = LiveClock()
    venue = SimVenue(FakeExchange(), broken(), clock)
    stream = as_gen(venue.events())
    with anyio.fail_after(TIMEOUT_S):
        got = await take_until(stream, lambda e: isinstance(e, VenueStatus) and not e.connected)
        await close_and_drain(venue, stream)
    assert isinstance(got[1], BookSnapshot)
    error = got[2]
    assert isinstance(error, VenueError) and error.kind is VenueErrorKind.INTERNAL
    assert "feed parser bug" in error.detail


@pytest.mark.anyio
async def test_a_failing_submit_becomes_a_venue_error_not_an_exception() -> None:
    clock = LiveClock()
    quiet = QuietMarket()
    venue = SimVenue(FakeExchange(fail_submit=True), quiet.stream(), clock)
    stream = as_gen(venue.events())
    with anyio.fail_after(TIMEOUT_S):
        await venue.connect()
        await venue.execute(place(9))
        got = await take_until(stream, lambda e: isinstance(e, VenueError))
        await close_and_drain(venue, stream)
    error = got[-1]
    assert isinstance(error, VenueError) and error.kind is VenueErrorKind.INTERNAL


@pytest.mark.anyio
async def test_close_ends_the_stream_and_is_idempotent() -> None:
    clock = LiveClock()
    market = QuietMarket().stream()
    venue = SimVenue(FakeExchange(), market, clock)
    stream = as_gen(venue.events())
    with anyio.fail_after(TIMEOUT_S):
        await venue.connect()
        await venue.close()
        await venue.close()
        got = [event async for event in stream]
        with pytest.raises(StopAsyncIteration):
            await market.__anext__()  # the market source was closed too
    assert [type(e) for e in got] == [VenueStatus, VenueStatus]
    assert [e.connected for e in got if isinstance(e, VenueStatus)] == [True, False]


def test_diagnostics_come_from_the_market_source() -> None:
    class CountedMarket:
        """A market source that keeps connection counters (as paper mode's public feed)."""

        def __aiter__(self) -> CountedMarket:
            return self

        async def __anext__(self) -> Event:
            raise StopAsyncIteration

        def diagnostics(self) -> dict[str, object]:
            return {"market": {"disconnects": 3}, "book_ok": False}

    clock = LiveClock()
    counted = SimVenue(FakeExchange(), CountedMarket(), clock)
    assert counted.diagnostics() == {"market": {"disconnects": 3}, "book_ok": False}
    synthetic = SimVenue(FakeExchange(), QuietMarket().stream(), clock)
    assert synthetic.diagnostics() == {}


# ---- SimVenue with the real simulated exchange -----------------------------------------------
@pytest.mark.anyio
async def test_places_a_post_only_quote_on_the_synthetic_market() -> None:
    clock = LiveClock()
    inst = default_instrument()
    exchange = SimExchange(
        inst,
        FeeSchedule(),
        queue=PowerProbQueue(3.0),
        entry_latency_ns=NS_PER_MS,
        response_latency_ns=NS_PER_MS,
    )
    source = synthetic(600.0)
    venue = SimVenue(exchange, paced(source, clock, speed=100.0), clock)
    stream = as_gen(venue.events())
    with anyio.fail_after(TIMEOUT_S):
        got = await take_until(stream, lambda e: isinstance(e, BookSnapshot))
        snapshot = got[-1]
        assert isinstance(snapshot, BookSnapshot)
        far_bid = snapshot.bids[0][0] - 200
        await venue.execute(place(2**63 + 1, far_bid))
        got = await take_until(stream, lambda e: isinstance(e, OrderAccepted | VenueError))
        await close_and_drain(venue, stream)
    ack = got[-1]
    assert isinstance(ack, OrderAccepted) and ack.client_order_id == 2**63 + 1


# ---- pacing --------------------------------------------------------------------------------
class FrozenClock:
    """A clock far past every stamped time, so pacing never waits."""

    def now_ns(self) -> int:
        return 10**18


@pytest.mark.anyio
async def test_paced_restamps_exactly_at_real_time_speed() -> None:
    source = synthetic(3.0)
    with anyio.fail_after(TIMEOUT_S):
        out = [e async for e in paced(source, FrozenClock(), speed=1.0, start_ns=1_000)]
    assert len(out) == len(source)
    for new, old in zip(out, source, strict=True):
        assert new.ts_ns == 1_000 + old.ts_ns - source[0].ts_ns
        assert new.local_ns - new.ts_ns == old.local_ns - old.ts_ns
        assert type(new) is type(old)
    trade_pairs = [(n, o) for n, o in zip(out, source, strict=True) if isinstance(o, Trade)]
    assert trade_pairs
    assert all(
        n.price_ticks == o.price_ticks  # type: ignore[attr-defined]
        for n, o in trade_pairs
    )


@pytest.mark.anyio
async def test_paced_compresses_time_and_never_releases_early() -> None:
    clock = LiveClock()
    source = synthetic(2.0)
    speed = 2000.0
    released: list[tuple[Event, int]] = []
    with anyio.fail_after(TIMEOUT_S):
        start = clock.now_ns()
        async for event in paced(source, clock, speed=speed, start_ns=start):
            released.append((event, clock.now_ns()))
    for (new, seen_ns), old in zip(released, source, strict=True):
        assert new.ts_ns == start + round((old.ts_ns - source[0].ts_ns) / speed)
        assert new.local_ns == new.ts_ns + (old.local_ns - old.ts_ns)
        assert seen_ns >= new.local_ns


@pytest.mark.anyio
@pytest.mark.parametrize("speed", [0.0, -1.0, math.inf, math.nan])
async def test_paced_refuses_a_speed_that_is_not_finite_and_positive(speed: float) -> None:
    gen = paced(synthetic(0.1), FrozenClock(), speed=speed)
    with pytest.raises(ValueError, match="speed"):
        await gen.__anext__()
