"""The async shell around the engine: venue events, timers and operator commands go through one
inbox into `engine.on_event`; the resulting commands go to the venue in order; everything is
published to the side-channel sinks, which never block."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from grvtmm.core.clock import NS_PER_S, Clock
from grvtmm.core.commands import CancelAll, Command, PlaceOrder, Reconcile
from grvtmm.core.events import Event, HaltRequested, OrderRejected, ReconcileSnapshot, Timer
from grvtmm.core.sinks import Sink
from grvtmm.engine.engine import Engine, EngineSnapshot
from grvtmm.venues.base import Venue

log = logging.getLogger(__name__)

_STOP = object()
STARTUP_RECONCILE_RETRY_NS = 5 * NS_PER_S


class Node:
    """Runs one engine against one venue until closed."""

    def __init__(
        self,
        engine: Engine,
        venue: Venue,
        clock: Clock,
        *,
        sinks: Sequence[Sink] = (),
        timer_interval_ns: int = 100_000_000,
        reconcile_on_connect: bool = False,
    ) -> None:
        self.engine = engine
        self.venue = venue
        self.clock = clock
        self.sinks = list(sinks)
        self.timer_interval_ns = timer_interval_ns
        self.reconcile_on_connect = reconcile_on_connect
        self.engine_errors = 0
        self.events_processed = 0
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self._done = asyncio.Event()
        self._no_new_orders = False
        self._reconciled = not reconcile_on_connect
        self._reconcile_sent_ns = 0

    # ---- public API ---------------------------------------------------------------------
    async def submit(self, event: Event) -> None:
        """Queue an operator event (start, stop, halt, config change) for the engine."""
        await self._inbox.put(event)

    def submit_nowait(self, event: Event) -> None:
        self._inbox.put_nowait(event)

    def snapshot(self) -> EngineSnapshot:
        return self.engine.snapshot()

    def add_sink(self, sink: Sink) -> None:
        self.sinks.append(sink)

    @property
    def running(self) -> bool:
        return self._running

    async def run(self) -> None:
        """Connect the venue and process events until `close()`."""
        self._running = True
        try:
            await self.venue.connect()
            if self.reconcile_on_connect:
                # Before anything else: the venue's open orders, position and missed fills. The
                # engine cancels every open order it does not know (left by an earlier process).
                await self._startup_reconcile()
            self._tasks = [
                asyncio.create_task(self._pump(), name="node.pump"),
                asyncio.create_task(self._timers(), name="node.timers"),
            ]
            await self._process()
        finally:
            self._running = False
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._tasks = []
            await self.venue.close()
            self._done.set()

    async def close(self) -> None:
        """Stop processing (after the events already queued) and close the venue."""
        await self._inbox.put(_STOP)
        if self._running:
            await self._done.wait()

    async def cancel_all_now(self, reason: str, timeout_s: float) -> bool:
        """Last resort of a forced shutdown: from now on no new order reaches the venue (the
        engine sees its placements rejected), one cancel-all goes straight to the venue, and this
        waits up to `timeout_s` until the engine knows no live order. True when none is left."""
        self._no_new_orders = True
        now = self.clock.now_ns()
        command = CancelAll(ts_ns=now, symbol=self.engine.instrument.symbol, reason=reason)
        self._publish(command)
        await self.venue.execute(command)
        deadline = now + int(timeout_s * NS_PER_S)
        while self.engine.orders.live_count() and self.clock.now_ns() < deadline:
            if self._done.is_set():
                break
            await asyncio.sleep(0.02)
        return self.engine.orders.live_count() == 0

    async def drain(self) -> None:
        """Wait until every event queued so far has been processed."""
        marker = asyncio.Event()
        await self._inbox.put(marker)
        await marker.wait()

    # ---- internals ------------------------------------------------------------------------
    async def _pump(self) -> None:
        async for event in self.venue.events():
            await self._inbox.put(event)

    async def _timers(self) -> None:
        interval_s = self.timer_interval_ns / 1e9
        while True:
            await asyncio.sleep(interval_s)
            now = self.clock.now_ns()
            await self._inbox.put(Timer(ts_ns=now, local_ns=now))

    async def _process(self) -> None:
        inbox = self._inbox
        while True:
            item = await inbox.get()
            if item is _STOP:
                return
            if isinstance(item, asyncio.Event):
                item.set()
                continue
            if isinstance(item, Event):
                await self._handle(item)

    async def _startup_reconcile(self) -> None:
        now = self.clock.now_ns()
        self._reconcile_sent_ns = now
        await self.venue.execute(Reconcile(ts_ns=now, symbol=self.engine.instrument.symbol))

    async def _handle(self, event: Event) -> None:
        self.events_processed += 1
        if not self._reconciled:
            if isinstance(event, ReconcileSnapshot):
                self._reconciled = True
            elif (
                isinstance(event, Timer)
                and event.local_ns - self._reconcile_sent_ns >= STARTUP_RECONCILE_RETRY_NS
            ):
                await self._startup_reconcile()  # the first one failed: until one succeeds
        try:
            commands = self.engine.on_event(event)
        except Exception:
            self.engine_errors += 1
            log.exception("engine.error", extra={"event_type": type(event).__name__})
            commands = self._fail_safe(event)
        self._publish(event)
        for notice in self.engine.take_notices():
            self._publish(notice)
        for command in commands:
            self._publish(command)
            if self._no_new_orders and isinstance(command, PlaceOrder):
                self._refuse(command)
                continue
            await self.venue.execute(command)

    def _refuse(self, command: PlaceOrder) -> None:
        """A placement after a forced shutdown began: reported back to the engine as rejected."""
        now = self.clock.now_ns()
        self._inbox.put_nowait(
            OrderRejected(
                ts_ns=now,
                local_ns=now,
                client_order_id=command.client_order_id,
                reason="shutting_down",
            )
        )

    def _fail_safe(self, event: Event) -> list[Command]:
        """An engine bug must not leave quotes resting unattended: halt and flatten."""
        if isinstance(event, HaltRequested):
            return []
        now = self.clock.now_ns()
        try:
            return self.engine.on_event(
                HaltRequested(ts_ns=now, local_ns=now, reason="engine error (see logs)")
            )
        except Exception:
            log.exception("engine.halt_failed")
            return []

    def _publish(self, item: Event | Command) -> None:
        for sink in self.sinks:
            try:
                sink.publish(item)
            except Exception:
                log.exception("sink.publish_failed", extra={"sink": sink.name})
