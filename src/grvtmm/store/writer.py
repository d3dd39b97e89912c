"""`StoreWriter`: the store's sink. `publish` never blocks; a background thread writes batches.

Ordinary items wait in a bounded queue and are dropped (and counted) when it is full. Fills, mode
changes, breaker trips, flatten results and instrument changes are never dropped: they share the
same FIFO (so an order's rows precede its fills) but do not count toward the bound, and the
backlog of unwritten fills is exposed (`pending_fills`, `max_pending_fills`). A failed write is
retried with exponential backoff, counted and reported through `on_failure`; it never raises into
the publisher. Database I/O stays on the worker thread, off the node's event loop.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import exc as sa_exc

from grvtmm.core.clock import NS_PER_S
from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    AccountUpdate,
    BookSnapshot,
    BreakerTripped,
    FlattenDone,
    ModeChanged,
    OrderFilled,
    PositionUpdate,
    QuoteUpdated,
    ReconcileSnapshot,
    Ticker,
    Timer,
)
from grvtmm.core.sinks import Published
from grvtmm.core.types import Instrument
from grvtmm.store import mapping
from grvtmm.store.db import write_transaction
from grvtmm.store.mapping import InstrumentItem, ModeItem, SnapshotItem, WorkerState
from grvtmm.store.repository import Store
from grvtmm.store.tables import MODES

log = logging.getLogger(__name__)

CRITICAL: Final = (
    OrderFilled,
    PlaceOrder,  # a fill must always find its order row
    ModeItem,
    BreakerTripped,
    FlattenDone,
    InstrumentItem,
)
TRANSIENT: Final = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """Queue bound (ordinary items), batch size, snapshot cadence and retry backoff."""

    max_queue: int = 10_000
    batch_size: int = 500
    snapshot_interval_ns: int = 5 * NS_PER_S
    retry_base_s: float = 0.05
    retry_max_s: float = 5.0
    auto_sessions: bool = True


def error_text(error: BaseException) -> str:
    """A short description without SQL parameters (rows never leak into logs or alerts)."""
    inner = getattr(error, "orig", None) or error
    return f"{type(inner).__name__}: {str(inner).splitlines()[0] if str(inner) else ''}"


class StoreWriter:
    """Persists the node's events and commands through `store` on a background thread."""

    name = "store"

    def __init__(
        self,
        store: Store,
        instrument: Instrument,
        *,
        mode: str,
        settings: WriterSettings | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.store = store
        self.settings = settings or WriterSettings()
        self.on_failure = on_failure
        self._state = WorkerState(
            mode, self.settings.auto_sessions, {instrument.symbol: instrument}, instrument
        )
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[object] = deque()
        self._ordinary = 0
        self._enqueued = 0
        self._done = 0
        self._closing = False
        self._abort = threading.Event()
        self._idle = True
        # publisher-side view used to build equity snapshots (touched only by the publisher)
        self._symbol = instrument.symbol
        self._equity: float | None = None
        self._free_margin = 0.0
        self._position_lots = 0
        self._mid_ticks: float | None = None
        self._last_snapshot_ns: int | None = None
        # counters (read from any thread; written under the lock or by the worker)
        self._dropped = 0
        self.dropped_by_type: Counter[str] = Counter()
        self.pending_fills = 0
        self.max_pending_fills = 0
        self.written = 0
        self.failures = 0
        self.last_error: str | None = None
        self.poisoned = 0
        self.unsaved_fills: list[OrderFilled] = []
        self._streak = 0
        self._dispatch: dict[type[Any], Callable[[Any], None]] = {
            OrderFilled: self._on_fill,
            ModeChanged: self._on_mode,
            AccountUpdate: self._on_account,
            ReconcileSnapshot: self._on_reconcile,
            PositionUpdate: self._on_position,
            QuoteUpdated: self._on_quote,
            Ticker: self._on_ticker,
            BookSnapshot: self._on_book,
            Timer: self._on_timer,
        }
        for kind in mapping.HANDLERS:
            self._dispatch.setdefault(kind, self._enqueue)
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # ---- Sink ------------------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        """Ordinary items dropped because the queue was full (fills are never dropped)."""
        return self._dropped

    @property
    def pending(self) -> int:
        """Items published but not yet written."""
        return self._enqueued - self._done

    @property
    def counts(self) -> dict[str, int]:
        """Committed oddities: duplicate_fills, duplicate_orders, unknown_orders."""
        return dict(self._state.counts)

    @property
    def session_id(self) -> int | None:
        """The session the writer attributes rows to (as of the last committed batch)."""
        return self._state.session_id

    def publish(self, item: Published) -> None:
        """Hand over one item without blocking (never raises)."""
        try:
            handler = self._dispatch.get(type(item))
            if handler is not None:
                handler(item)
        except Exception:  # a sink must never break the node
            log.exception("store.publish_failed")

    def set_instrument(self, instrument: Instrument) -> None:
        """Render later items with `instrument` (e.g. after a symbol change between sessions)."""
        self._symbol = instrument.symbol
        self._position_lots = 0
        self._mid_ticks = None
        self._enqueue(InstrumentItem(instrument))

    # ---- publisher-side handlers -----------------------------------------------------------
    def _enqueue(self, item: object) -> None:
        critical = isinstance(item, CRITICAL)
        with self._cond:
            if not critical:
                if self._ordinary >= self.settings.max_queue:
                    self._dropped += 1
                    self.dropped_by_type[type(item).__name__] += 1
                    return
                self._ordinary += 1
            elif isinstance(item, OrderFilled):
                self.pending_fills += 1
                self.max_pending_fills = max(self.max_pending_fills, self.pending_fills)
            self._items.append(item)
            self._enqueued += 1
            if self._idle:
                self._cond.notify()

    def _on_fill(self, ev: OrderFilled) -> None:
        if ev.symbol == self._symbol:
            self._position_lots += int(ev.side) * ev.size_lots
        self._enqueue(ev)

    def _on_mode(self, ev: ModeChanged) -> None:
        self._enqueue(ModeItem(ev, self._equity))

    def _on_account(self, ev: AccountUpdate) -> None:
        self._equity, self._free_margin = ev.equity, ev.free_margin
        self._maybe_snapshot(ev.ts_ns)

    def _on_reconcile(self, ev: ReconcileSnapshot) -> None:
        self._equity, self._free_margin = ev.equity, ev.free_margin
        if ev.symbol == self._symbol:
            self._position_lots = ev.position_lots
        self._maybe_snapshot(ev.ts_ns)

    def _on_position(self, ev: PositionUpdate) -> None:
        if ev.symbol == self._symbol:
            self._position_lots = ev.size_lots

    def _on_quote(self, ev: QuoteUpdated) -> None:
        if ev.mid_ticks > 0:
            self._mid_ticks = ev.mid_ticks

    def _on_ticker(self, ev: Ticker) -> None:
        if ev.symbol == self._symbol and ev.bid_ticks > 0 and ev.ask_ticks > 0:
            self._mid_ticks = (ev.bid_ticks + ev.ask_ticks) / 2

    def _on_book(self, ev: BookSnapshot) -> None:
        if ev.symbol == self._symbol and ev.bids and ev.asks:
            self._mid_ticks = (ev.bids[0][0] + ev.asks[0][0]) / 2

    def _on_timer(self, ev: Timer) -> None:
        self._maybe_snapshot(ev.ts_ns)

    def _maybe_snapshot(self, ts_ns: int) -> None:
        if self._equity is None:
            return
        last = self._last_snapshot_ns
        if last is not None and ts_ns - last < self.settings.snapshot_interval_ns:
            return
        self._last_snapshot_ns = ts_ns
        snap = SnapshotItem(
            ts_ns, self._equity, self._free_margin, self._position_lots, self._mid_ticks
        )
        self._enqueue(snap)

    # ---- waiting and shutdown --------------------------------------------------------------
    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything published so far is written; False on timeout."""
        with self._cond:
            target = self._enqueued
            return self._cond.wait_for(lambda: self._done >= target, timeout_s)

    def close(self, timeout_s: float = 10.0) -> bool:
        """Write what is queued (up to `timeout_s`), then stop; False if anything was left
        unwritten (its fills are kept in `unsaved_fills`)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._abort.set()
            self._thread.join()
        with self._cond:
            left = list(self._items)
            self._items.clear()
        self.unsaved_fills.extend(i for i in left if isinstance(i, OrderFilled))
        return not left and not self.unsaved_fills

    # ---- worker ----------------------------------------------------------------------------
    def _take(self) -> list[object] | None:
        with self._cond:
            self._idle = True
            while not self._items and not self._closing:
                self._cond.wait()
            self._idle = False
            if not self._items or self._abort.is_set():
                return None
            n = min(len(self._items), self.settings.batch_size)
            batch = [self._items.popleft() for _ in range(n)]
            self._ordinary -= sum(1 for i in batch if not isinstance(i, CRITICAL))
            return batch

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            try:
                left = self._write(batch)
            except Exception as error:  # the worker must survive anything
                left = []
                self._poison(batch, error)
            self.unsaved_fills.extend(i for i in left if isinstance(i, OrderFilled))
            self._finish(batch)

    def _finish(self, batch: list[object]) -> None:
        fills = sum(1 for i in batch if isinstance(i, OrderFilled))
        with self._cond:
            self._done += len(batch)
            self.pending_fills -= fills
            self._cond.notify_all()

    def _write(self, batch: list[object]) -> list[object]:
        """Write `batch`, retrying transient errors; returns items abandoned on abort."""
        delay_s = self.settings.retry_base_s
        while True:
            try:
                self._commit(batch)
                self.written += len(batch)
                self._streak = 0
                return []
            except Exception as error:
                self._failed(error, len(batch))
                if not isinstance(error, TRANSIENT):
                    if len(batch) == 1:
                        self._poison(batch, error)
                        return []
                    # isolate the bad item: everything else in the batch is still written
                    return [x for item in batch for x in self._write([item])]
            if self._abort.wait(delay_s):
                return batch
            delay_s = min(delay_s * 2, self.settings.retry_max_s)

    def _commit(self, batch: list[object]) -> None:
        state = self._state.copy()
        with write_transaction(self.store.engine) as connection:
            mapping.apply(connection, state, batch)
        self._state = state

    def _failed(self, error: BaseException, size: int) -> None:
        self.failures += 1
        self._streak += 1
        self.last_error = error_text(error)
        log.warning(
            "store.write_failed",
            extra={"error": self.last_error, "batch": size, "streak": self._streak},
        )
        if self._streak & (self._streak - 1) == 0:  # 1st, 2nd, 4th, 8th ... failure in a row
            self._report(
                f"store write failed ({self._streak}x in a row): {self.last_error}; "
                f"{self.pending_fills} fills waiting"
            )

    def _poison(self, batch: list[object], error: BaseException) -> None:
        self.poisoned += len(batch)
        fills = [i for i in batch if isinstance(i, OrderFilled)]
        self.unsaved_fills.extend(fills)
        trade_ids = ", ".join(f.trade_id for f in fills)
        kinds = ", ".join(sorted({type(i).__name__ for i in batch}))
        detail = f"store refused {kinds}: {error_text(error)}"
        self._report(detail + (f" (fills not stored: {trade_ids})" if fills else ""))

    def _report(self, detail: str) -> None:
        if self.on_failure is None:
            return
        try:
            self.on_failure(detail)
        except Exception:
            log.exception("store.on_failure_hook_failed")
