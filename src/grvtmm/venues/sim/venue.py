"""The simulated venue on a live clock (demo and paper modes), and live pacing of synthetic data.

`SimVenue` drives a matching simulator (`SimExchange`) from an async market-data source: every
market event goes to the exchange first (so our resting orders see it), then out of `events()`
together with the exchange's responses that are due by the clock, in time order. A background
task advances the exchange on the clock, so acks and fills are delivered while the market is
quiet. Backtests do not use this class: they drive the exchange directly on simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol

from grvtmm.core.clock import NS_PER_S, Clock
from grvtmm.core.commands import Command
from grvtmm.core.events import (
    BookDelta,
    BookSnapshot,
    Event,
    Ticker,
    Trade,
    VenueError,
    VenueErrorKind,
    VenueStatus,
)
from grvtmm.core.types import FeeSchedule, Instrument

log = logging.getLogger(__name__)

_MARKET_TYPES = (BookSnapshot, BookDelta, Trade, Ticker)
_MIN_WAIT_NS = 50_000  # never spin: a due time already in the past waits this long at least


class SimExchangeLike(Protocol):
    """What `SimVenue` needs from the matching simulator.

    Exchange time (`ts_ns`) is when something happens at the venue; local time is when we see it.
    """

    @property
    def instrument(self) -> Instrument: ...

    @property
    def fee_schedule(self) -> FeeSchedule: ...

    def submit(self, command: Command, local_ns: int) -> object:
        """Accept a command sent at local time `local_ns`; it reaches the venue after latency."""
        ...

    def advance(self, ts_ns: int) -> object:
        """Process everything due at the venue up to exchange time `ts_ns`."""
        ...

    def on_market(self, event: Event) -> object:
        """Apply a market event at its exchange time, after the commands that arrived before it."""
        ...

    def pop_responses(self, until_local_ns: int) -> list[Event]:
        """Responses (acks, fills, rejects) that reach us by local time `until_local_ns`."""
        ...

    def next_response_ns(self) -> int | None:
        """Local time of the earliest pending response, if any."""
        ...

    def next_arrival_ns(self) -> int | None:
        """Exchange time at which the earliest in-flight command arrives, if any."""
        ...


class SimVenue:
    """`Venue` over a `SimExchange` and an async market source, paced by a live `Clock`."""

    def __init__(
        self,
        exchange: SimExchangeLike,
        market: AsyncIterator[Event],
        clock: Clock,
        name: str = "sim",
        idle_poll_ns: int = 50_000_000,
        max_backlog: int = 10_000,
    ) -> None:
        self.name = name
        self._exchange = exchange
        self._market = market
        self._clock = clock
        self._idle_poll_ns = idle_poll_ns
        self._max_backlog = max_backlog
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._room = asyncio.Event()
        self._room.set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = False
        self._closed = False

    @property
    def instrument(self) -> Instrument:
        return self._exchange.instrument

    def diagnostics(self) -> Mapping[str, Any]:
        """The market source's connection counters (paper: GRVT's public streams); empty for a
        synthetic market."""
        source = getattr(self._market, "diagnostics", None)
        return source() if callable(source) else {}

    @property
    def listing_problem(self) -> str:
        """The market source's listing problem (paper: GRVT changed the listing), if any."""
        return str(getattr(self._market, "listing_problem", "") or "")

    @property
    def fees(self) -> FeeSchedule:
        return self._exchange.fee_schedule

    async def connect(self) -> None:
        """Start the market and exchange tasks and report the venue connected (idempotent)."""
        if self._connected or self._closed:
            return
        self._connected = True
        self._queue.put_nowait(self._status(True, self.name))
        self._tasks = [
            asyncio.create_task(self._pump_market(), name=f"{self.name}.market"),
            asyncio.create_task(self._run_exchange(), name=f"{self.name}.exchange"),
        ]

    def events(self) -> AsyncIterator[Event]:
        """Market events and order updates in time order, until `close()`."""
        return self._stream()

    async def _stream(self) -> AsyncIterator[Event]:
        await self.connect()
        low_water = self._max_backlog // 2
        while True:
            event = await self._queue.get()
            if event is None:
                return
            if self._queue.qsize() <= low_water:
                self._room.set()
            yield event

    async def execute(self, command: Command) -> None:
        """Send a command at the clock's current time; outcomes arrive as events."""
        now = self._clock.now_ns()
        try:
            self._exchange.submit(command, now)
        except Exception as exc:  # a simulator bug must not take the node down
            log.exception("sim.submit_failed")
            self._queue.put_nowait(self._internal_error(exc))
        self._wake.set()

    async def close(self) -> None:
        """Stop the tasks and end `events()` (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # asyncio.wait neither raises the tasks' cancellation nor swallows our own
            await asyncio.wait(self._tasks)
        aclose = getattr(self._market, "aclose", None)
        if aclose is not None:
            await aclose()
        self._queue.put_nowait(self._status(False, "closed"))
        self._queue.put_nowait(None)

    def _status(self, connected: bool, detail: str) -> VenueStatus:
        now = self._clock.now_ns()
        return VenueStatus(ts_ns=now, local_ns=now, connected=connected, detail=detail)

    def _internal_error(self, exc: Exception) -> VenueError:
        now = self._clock.now_ns()
        return VenueError(ts_ns=now, local_ns=now, kind=VenueErrorKind.INTERNAL, detail=repr(exc))

    # ---- tasks ------------------------------------------------------------------------------
    async def _emit(self, events: list[Event]) -> None:
        for event in events:
            self._queue.put_nowait(event)
        if self._queue.qsize() >= self._max_backlog:
            # the consumer is behind: hold the producers until it has caught up by half
            self._room.clear()
            await self._room.wait()

    async def _pump_market(self) -> None:
        exchange = self._exchange
        try:
            async for event in self._market:
                if isinstance(event, _MARKET_TYPES):
                    exchange.on_market(event)
                    due = exchange.pop_responses(self._clock.now_ns())
                    self._wake.set()
                    batch = [event, *due]
                    batch.sort(key=_local_ns)
                    await self._emit(batch)
                else:
                    await self._emit([event])
        except Exception as exc:
            log.exception("sim.market_failed")
            await self._emit([self._internal_error(exc)])
        await self._emit([self._status(False, "market data ended")])

    async def _run_exchange(self) -> None:
        try:
            await self._advance_forever()
        except Exception as exc:
            log.exception("sim.exchange_failed")
            await self._emit([self._internal_error(exc), self._status(False, "simulator failed")])

    async def _advance_forever(self) -> None:
        exchange = self._exchange
        while True:
            now = self._clock.now_ns()
            exchange.advance(now)
            due = exchange.pop_responses(now)
            if due:
                await self._emit(due)
            wait_ns = self._idle_poll_ns
            for when in (exchange.next_response_ns(), exchange.next_arrival_ns()):
                if when is not None:
                    wait_ns = min(wait_ns, max(when - now, _MIN_WAIT_NS))
            self._wake.clear()
            # asyncio.timeout, unlike wait_for on 3.11, never loses a cancel that races the wake-up
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_ns / NS_PER_S):
                    await self._wake.wait()


def _local_ns(event: Event) -> int:
    return event.local_ns


async def paced(
    source: Iterable[Event], clock: Clock, speed: float = 1.0, start_ns: int | None = None
) -> AsyncIterator[Event]:
    """Re-stamp `source` onto `clock` and release each event at its new local time.

    The first event's exchange time maps to `start_ns` (default: the clock when iteration
    starts); later gaps are divided by `speed` (1 = real time, N = N× faster). Each event keeps
    its own feed latency (`local_ns − ts_ns`), which is network time and does not scale.
    """
    if not (speed > 0 and math.isfinite(speed)):
        raise ValueError(f"speed must be a finite positive number, got {speed}")
    origin_src: int | None = None
    origin_live = 0
    for event in source:
        if origin_src is None:
            origin_src = event.ts_ns
            origin_live = clock.now_ns() if start_ns is None else start_ns
        offset = event.ts_ns - origin_src
        ts_ns = origin_live + (offset if speed == 1.0 else round(offset / speed))
        local_ns = ts_ns + (event.local_ns - event.ts_ns)
        delay_ns = local_ns - clock.now_ns()
        # sleep(0) still yields, so other tasks run even when the source is far behind
        await asyncio.sleep(delay_ns / NS_PER_S if delay_ns > 0 else 0)
        yield dataclasses.replace(event, ts_ns=ts_ns, local_ns=local_ns)
