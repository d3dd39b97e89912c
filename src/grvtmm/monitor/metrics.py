"""The live monitor: a sink that keeps the current trading session's figures for the API, the
dashboard and Prometheus.

`publish` processes each item inline: every handler only updates counters, a top-of-book and a
few bounded deques (a book delta costs one dict write per level it carries), so buffering would
add a queue hop and staleness without saving work. It never blocks, never does I/O and never
drops (`dropped` is always 0); an unexpected error is counted in `errors`, not raised.
Call `summary` and the series query on the thread that publishes (the node's event loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from grvtmm.core import events as ev
from grvtmm.core.book import ApplyResult, OrderBook
from grvtmm.core.clock import NS_PER_S, Clock
from grvtmm.core.commands import CancelOrder, PlaceOrder
from grvtmm.core.events import EngineMode
from grvtmm.core.positions import PositionLedger
from grvtmm.core.sinks import Published
from grvtmm.core.types import Instrument
from grvtmm.engine.engine import EngineSnapshot
from grvtmm.monitor.series import RecentCount, SeriesBuffer
from grvtmm.monitor.summary import LiveSession, finite_or_none

NS_PER_DAY = 86_400 * NS_PER_S
MAX_TRACKED_ORDERS = 10_000
"""Accepted orders awaiting their fill or cancel; the oldest is forgotten beyond this."""
_STARTABLE = frozenset({EngineMode.IDLE, EngineMode.STOPPED, EngineMode.HALTED})
_ENDED = frozenset({EngineMode.STOPPED, EngineMode.HALTED})

SnapshotProvider = Callable[[], Mapping[str, Any]]


def engine_view(snapshot: EngineSnapshot) -> dict[str, Any]:
    """The engine-snapshot fields the monitor reads, as a `snapshot_provider` mapping."""
    return {
        "mode": snapshot.mode.value,
        "equity": snapshot.equity,
        "free_margin": snapshot.free_margin,
        "breakers": [
            {"breaker": b.breaker.value, "value": b.value, "limit": b.limit, "tripped": b.tripped}
            for b in snapshot.breakers
        ],
    }


MAX_LABELS = 64
"""Distinct keys a lifetime counter keeps (they become Prometheus labels); the rest: "other"."""


def _bump(counts: dict[str, int], key: str) -> None:
    if key not in counts and len(counts) >= MAX_LABELS:
        key = "other"
    counts[key] = counts.get(key, 0) + 1


class Totals:
    """Process-lifetime counters (monotonic, never reset by a session start) for Prometheus."""

    __slots__ = (
        "breaker_trips",
        "cancels",
        "fee_costs",
        "fills",
        "placements",
        "rebates",
        "rejects",
        "venue_errors",
        "volume_notional",
        "warnings",
    )

    def __init__(self) -> None:
        self.fills = 0
        self.cancels = 0
        self.volume_notional = 0.0
        self.rebates = Decimal(0)
        self.fee_costs = Decimal(0)
        self.placements: dict[str, int] = {}
        self.rejects: dict[str, int] = {}
        self.warnings: dict[str, int] = {}
        self.breaker_trips: dict[str, int] = {}
        self.venue_errors: dict[str, int] = {}


class Monitor:
    """Sink keeping the current session's figures; `summary()` renders them as JSON-ready data.

    A session starts when the engine goes reconciling → running after a start; its figures
    (fills, volume, fees, PnL, reasons, breakers, flatten) reset then. Until the first start
    they cover everything seen since the monitor was created (session id 0). Times are our
    receive times (`local_ns`), the clock domain of `clock`.
    """

    name = "monitor"

    def __init__(
        self,
        instrument: Instrument,
        clock: Clock,
        *,
        snapshot_provider: SnapshotProvider | None = None,
        series: SeriesBuffer | None = None,
    ) -> None:
        self.instrument = instrument
        self.clock = clock
        self.snapshot_provider = snapshot_provider
        self.series = series if series is not None else SeriesBuffer()
        self.totals = Totals()
        self.errors = 0
        self.last_error = ""
        self.session = LiveSession(instrument)
        self._book = OrderBook(instrument.symbol)
        self._book_ok = True
        self._mark_ticks = 0.0
        self._position = PositionLedger(instrument)
        self._mode = EngineMode.IDLE
        self._start_reason = ""
        self._venue_equity = math.nan
        self._free_margin = math.nan
        self._funds_source = ""
        self._k = math.nan
        self._target = (0, 0)  # (bid, ask) ticks; 0 = that side is off
        self._fills_recent = RecentCount()
        self._cancels_recent = RecentCount()
        self._accepted: dict[int, int] = {}
        self._day_end_ns = 0
        self._day_pnl0 = 0.0
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.BookSnapshot: self._on_snapshot,
            ev.BookDelta: self._on_delta,
            ev.Ticker: self._on_ticker,
            ev.VenueStatus: self._on_venue_status,
            ev.OrderAccepted: self._on_accepted,
            ev.OrderFilled: self._on_fill,
            ev.OrderCanceled: self._on_canceled,
            ev.OrderRejected: self._on_rejected,
            ev.AccountUpdate: self._on_account,
            ev.PositionUpdate: self._on_position,
            ev.ReconcileSnapshot: self._on_reconcile,
            ev.VenueError: self._on_venue_error,
            ev.ModeChanged: self._on_mode,
            ev.BreakerTripped: self._on_breaker,
            ev.FlattenProgress: self._on_flatten_progress,
            ev.FlattenDone: self._on_flatten_done,
            ev.QuoteUpdated: self._on_quote,
            ev.EngineWarning: self._on_warning,
            PlaceOrder: self._on_place,
            CancelOrder: self._on_cancel_command,
        }

    # ---- Sink protocol ----------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        """Always 0: items are processed inline, never queued."""
        return 0

    def publish(self, item: Published) -> None:
        """Update the figures from one event, notice or command (O(1), no I/O)."""
        try:
            if isinstance(item, ev.Event):
                now = item.local_ns
                if now >= self._day_end_ns:
                    self._roll_day(now)
                if now >= self.series.next_due_ns:
                    self._sample(now)
            handler = self._handlers.get(type(item))
            if handler is not None:
                handler(item)
        except Exception as exc:
            self.errors += 1
            self.last_error = f"{type(item).__name__}: {exc!r}"

    # ---- figures ------------------------------------------------------------------------------
    @property
    def position_lots(self) -> int:
        return self._position.position_lots

    @property
    def mark_ticks(self) -> float:
        """Latest mid in ticks (0 until the first book)."""
        return self._mark_ticks

    def session_pnl(self) -> float:
        """The current session's PnL in quote currency, marked at the latest mid."""
        return self.session.pnl(self._mark_ticks)

    def own_equity(self) -> float:
        """Equity at the session start plus the session's PnL (the engine's own formula)."""
        session = self.session
        if session.id and math.isfinite(session.equity0):
            return session.equity0 + self.session_pnl()
        return self._venue_equity

    def summary(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The current session's figures, JSON-ready; `extra` entries are merged in last.

        Keys (money in quote currency, sizes in base units, `_lots`/`_ticks` as named; unknown
        numbers are None): mode (engine mode), session {id, start_ns, end_ns, start_reason}
        (id 0: before the first start), runtime_s, equity, venue_equity (last account report),
        free_margin, funds_source, mid, position, position_lots, inventory_notional, fills,
        maker_fills, taker_fills, session_volume, pnl_total, pnl_today (since the later of the
        session start and UTC midnight), fees (net; negative = net rebate), rebates, fee_costs,
        wear_per_10k (−pnl_total / session_volume × 10 000), fills_last_min, cancels_last_min
        (venue-confirmed cancels), resting_ms {p50, p90, p99, count} (acceptance → final fill
        or cancel), requote_reasons (replacements: away/toward/size/max_age), place_reasons
        (every placement by reason), quote_distance_ticks {bid, ask, bid_mean, ask_mean} (ticks
        behind the best price of the side, now and averaged over target changes; negative =
        inside the spread), rejects, reject_reasons, warnings, breakers {name: {tripped, value,
        limit, trips}}, flatten {active, phase, attempt, position_lots, detail, ts_ns,
        last_done}, effective_liquidity_k, monitor_errors.

        mode, equity, free_margin and the breaker states come from `snapshot_provider` (the
        `engine_view` shape) when one is set, otherwise from the events seen.
        """
        now = self.clock.now_ns()
        if now >= self._day_end_ns:
            self._roll_day(now)
        view = self.snapshot_provider() if self.snapshot_provider is not None else {}
        inst = self.instrument
        session = self.session
        mark = self._mark_ticks
        lots = self._position.position_lots
        pnl = self.session_pnl()
        mode = view.get("mode", self._mode)
        out: dict[str, Any] = {
            "mode": mode.value if isinstance(mode, EngineMode) else str(mode),
            "session": session.info(),
            "runtime_s": session.runtime_ns(now) / NS_PER_S,
            "equity": finite_or_none(float(view.get("equity", self.own_equity()))),
            "venue_equity": finite_or_none(self._venue_equity),
            "free_margin": finite_or_none(float(view.get("free_margin", self._free_margin))),
            "funds_source": self._funds_source,
            "mid": inst.price_f(mark) if mark else None,
            "position": float(inst.lots_to_size(lots)),
            "position_lots": lots,
            "inventory_notional": inst.notional(mark, abs(lots)) if mark else None,
            **session.figures(pnl, view.get("breakers")),
            "pnl_today": pnl - self._day_pnl0,
            "fills_last_min": self._fills_recent.count(now),
            "cancels_last_min": self._cancels_recent.count(now),
            "quote_distance_ticks": self._distances(),
            "effective_liquidity_k": finite_or_none(self._k),
            "monitor_errors": self.errors,
        }
        if extra:
            out.update(extra)
        return out

    def _distances(self) -> dict[str, float | None]:
        book = self._book
        bid, ask = self._target
        ready = book.ready
        bid_mean, ask_mean = self.session.distance_means()
        return {
            "bid": float(book.best_bid - bid) if ready and bid else None,
            "ask": float(ask - book.best_ask) if ready and ask else None,
            "bid_mean": bid_mean,
            "ask_mean": ask_mean,
        }

    # ---- session and clock ------------------------------------------------------------------
    def _start_session(self, now_ns: int) -> None:
        self.session = LiveSession(
            self.instrument,
            session_id=self.session.id + 1,
            start_ns=now_ns,
            start_reason=self._start_reason,
            position_lots=self._position.position_lots,
            mark_ticks=self._mark_ticks,
            equity0=self._venue_equity,
        )
        self._day_pnl0 = 0.0
        self._day_end_ns = now_ns - now_ns % NS_PER_DAY + NS_PER_DAY

    def _roll_day(self, now_ns: int) -> None:
        # Called before the first item of the new day: the PnL now is the PnL at midnight.
        self._day_pnl0 = self.session_pnl()
        self._day_end_ns = now_ns - now_ns % NS_PER_DAY + NS_PER_DAY

    def _sample(self, now_ns: int) -> None:
        inst = self.instrument
        mark = self._mark_ticks
        lots = self._position.position_lots
        bid, ask = self._target
        nan = math.nan
        self.series.record(
            now_ns,
            (
                self.own_equity(),
                inst.size_f(lots),
                inst.notional(mark, abs(lots)) if mark else nan,
                inst.price_f(mark) if mark else nan,
                inst.price_f(bid) if bid else nan,
                inst.price_f(ask) if ask else nan,
                self.session.stats.volume_notional,
                self.session_pnl(),
            ),
        )

    # ---- market data ------------------------------------------------------------------------
    def _on_snapshot(self, e: ev.BookSnapshot) -> None:
        self._book.apply_snapshot(e)
        self._after_book()

    def _on_delta(self, e: ev.BookDelta) -> None:
        if self._book.apply_delta(e) is ApplyResult.APPLIED:
            self._after_book()

    def _on_ticker(self, e: ev.Ticker) -> None:
        if not (self._book_ok and self._book.valid):  # depth is authoritative while it works
            self._book.apply_ticker(e)
            self._after_book()

    def _on_venue_status(self, e: ev.VenueStatus) -> None:
        self._book_ok = e.book_ok
        if not e.connected:
            self._book.invalidate()

    def _after_book(self) -> None:
        book = self._book
        if book.ready:
            self._set_mark(book.mid_ticks())

    def _set_mark(self, mark_ticks: float) -> None:
        self._mark_ticks = mark_ticks
        self.session.set_mark(mark_ticks)

    # ---- orders and account -------------------------------------------------------------------
    def _on_accepted(self, e: ev.OrderAccepted) -> None:
        accepted = self._accepted
        accepted[e.client_order_id] = e.local_ns
        if len(accepted) > MAX_TRACKED_ORDERS:
            del accepted[next(iter(accepted))]

    def _rested(self, client_order_id: int, now_ns: int) -> None:
        accepted_ns = self._accepted.pop(client_order_id, None)
        if accepted_ns is not None:
            self.session.resting_ns.append(now_ns - accepted_ns)

    def _on_fill(self, e: ev.OrderFilled) -> None:
        fee = e.fee
        self._position.apply_fill(e.side, e.price_ticks, e.size_lots, float(fee))
        self.session.stats.observe(e)
        totals = self.totals
        totals.fills += 1
        totals.volume_notional += self.instrument.notional(e.price_ticks, e.size_lots)
        if fee < 0:
            totals.rebates -= fee
        else:
            totals.fee_costs += fee
        self._fills_recent.add(e.local_ns)
        if e.leaves_lots == 0:
            self._rested(e.client_order_id, e.local_ns)

    def _on_canceled(self, e: ev.OrderCanceled) -> None:
        self.totals.cancels += 1
        self._cancels_recent.add(e.local_ns)
        self._rested(e.client_order_id, e.local_ns)

    def _on_rejected(self, e: ev.OrderRejected) -> None:
        self._accepted.pop(e.client_order_id, None)
        self.session.stats.observe(e)
        _bump(self.totals.rejects, e.reason)

    def _on_account(self, e: ev.AccountUpdate) -> None:
        self._venue_equity = e.equity
        self._free_margin = e.free_margin
        self._funds_source = e.source

    def _on_position(self, e: ev.PositionUpdate) -> None:
        ledger = self._position
        if e.size_lots != ledger.position_lots:
            # Same entry as the engine takes, so the session PnL stays the engine's.
            entry = e.entry_price_ticks or self._mark_ticks
            ledger.adopt(e.size_lots, entry)
            self.session.stats.ledger.adopt(e.size_lots, entry)

    def _on_reconcile(self, e: ev.ReconcileSnapshot) -> None:
        self._venue_equity = e.equity
        self._free_margin = e.free_margin
        ledger = self._position
        if e.position_lots != ledger.position_lots:
            entry = self._mark_ticks or ledger.avg_entry_ticks
            ledger.adopt(e.position_lots, entry)
            self.session.stats.ledger.adopt(e.position_lots, entry)

    def _on_venue_error(self, e: ev.VenueError) -> None:
        _bump(self.totals.venue_errors, e.kind.value)

    def _on_place(self, c: PlaceOrder) -> None:
        self.session.observe_place(c)
        _bump(self.totals.placements, c.reason)

    def _on_cancel_command(self, c: CancelOrder) -> None:
        self.session.stats.observe_command(c)

    # ---- engine notices -----------------------------------------------------------------------
    def _on_mode(self, e: ev.ModeChanged) -> None:
        old, new = e.old, e.new
        self._mode = new
        if old in _STARTABLE and new is EngineMode.RECONCILING:
            self._start_reason = e.reason
        elif old is EngineMode.RECONCILING and new is EngineMode.RUNNING:
            self._start_session(e.local_ns)
        elif new in _ENDED and self.session.id and self.session.end_ns is None:
            self.session.end_ns = e.local_ns
        if new is not EngineMode.RUNNING:
            self._target = (0, 0)  # the engine drops its target outside running
        self.session.stats.observe(e)

    def _on_breaker(self, e: ev.BreakerTripped) -> None:
        self.session.observe_breaker(e)
        _bump(self.totals.breaker_trips, e.breaker)

    def _on_flatten_progress(self, e: ev.FlattenProgress) -> None:
        self.session.flatten = e

    def _on_flatten_done(self, e: ev.FlattenDone) -> None:
        session = self.session
        session.flatten = None
        session.flatten_done = e
        session.stats.observe(e)

    def _on_quote(self, e: ev.QuoteUpdated) -> None:
        bid = e.bid_ticks if e.bid_lots else 0
        ask = e.ask_ticks if e.ask_lots else 0
        self._target = (bid, ask)
        self._k = e.k
        book = self._book
        if book.ready:
            self.session.observe_distance(
                book.best_bid - bid if bid else None, ask - book.best_ask if ask else None
            )
        elif e.mid_ticks > 0:
            self._set_mark(e.mid_ticks)

    def _on_warning(self, e: ev.EngineWarning) -> None:
        self.session.stats.observe(e)
        _bump(self.totals.warnings, e.code)
