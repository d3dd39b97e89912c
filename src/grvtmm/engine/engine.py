"""The engine: a synchronous state machine, `on_event(event) -> list[Command]`, with no I/O.

Time comes from the events (`local_ns`, our receive time). Notices for the side channels (mode
changes, breaker trips, flatten progress, quote targets, warnings) accumulate in an outbox that
the caller drains with `take_notices()` after each call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from grvtmm.core import events as ev
from grvtmm.core.book import ApplyResult, OrderBook
from grvtmm.core.commands import CancelAll, Command
from grvtmm.core.events import EngineMode
from grvtmm.core.orders import ClientIdGenerator, IllegalTransition, Order, OrderTable
from grvtmm.core.positions import PositionLedger
from grvtmm.core.types import FeeSchedule, Instrument, Side
from grvtmm.engine import flatten as fl
from grvtmm.engine import modes
from grvtmm.engine.quoting import QuotingMixin
from grvtmm.engine.risk import RiskMonitor, Verdict
from grvtmm.engine.settings import (
    EngineSettings,
    EngineSnapshot,
    StrategyFactory,
    is_post_only_reject,
)
from grvtmm.engine.stopping import StoppingMixin
from grvtmm.strategy.base import QuoteTarget
from grvtmm.strategy.params import StrategyConfig

__all__ = ["Engine", "EngineSettings", "EngineSnapshot", "StrategyFactory", "is_post_only_reject"]

M = EngineMode


class Engine(QuotingMixin, StoppingMixin):
    """Quotes, requotes, guards and flattens one instrument."""

    def __init__(
        self,
        *,
        instrument: Instrument,
        config: StrategyConfig,
        strategy_factory: StrategyFactory,
        fees: FeeSchedule,
        settings: EngineSettings | None = None,
        start_ns: int = 0,
    ) -> None:
        self.instrument = instrument
        self.config = config
        self.fees = fees
        self.settings = settings or EngineSettings()
        self._factory = strategy_factory
        self.strategy = strategy_factory(config)
        self.mode = M.IDLE
        self.book = OrderBook(instrument.symbol)
        self.orders = OrderTable()
        self.ledger = PositionLedger(instrument)
        self.risk = RiskMonitor(self.settings.limits(config))
        self._ids = ClientIdGenerator(start_ns)
        self._notices: list[ev.Event] = []
        self._flattener: fl.Flattener | None = None
        self._flatten_to = M.STOPPED
        self._target: QuoteTarget | None = None
        self._last_mid = 0.0
        self._rest_top: tuple[int, int, int] = (0, 0, 0)
        """(bid, ask, received) of the last REST ticker (polled while the market is down)."""
        self._last_market_ns = start_ns
        self._next_decision_ns = 0
        self._decided_key: tuple[int, int, int, int] = (0, 0, 0, -1)
        self._cooldown_until = {Side.BUY: 0, Side.SELL: 0}
        self._planned_version = -1
        self._reconcile_sent_ns = 0
        self._reconcile_next_cid = 0
        self._venue_equity = math.nan
        self._free_margin = math.nan
        self._used_margin = 0.0
        self._session_equity0 = math.nan
        self._session_pnl0: float | None = None
        self.connected = True
        self.book_ok = True
        self._handlers: dict[type, Callable[[Any], list[Command]]] = {
            ev.BookDelta: self._on_delta,
            ev.BookSnapshot: self._on_snapshot,
            ev.Trade: self._on_trade,
            ev.Ticker: self._on_ticker,
            ev.Timer: self._on_timer,
            ev.OrderAccepted: self._on_accepted,
            ev.OrderFilled: self._on_filled,
            ev.OrderCanceled: self._on_canceled,
            ev.OrderRejected: self._on_rejected,
            ev.CancelRejected: self._on_cancel_rejected,
            ev.AccountUpdate: self._on_account,
            ev.PositionUpdate: self._on_position,
            ev.ReconcileSnapshot: self._on_reconcile,
            ev.VenueError: self._on_venue_error,
            ev.VenueStatus: self._on_venue_status,
            ev.StartRequested: self._on_start,
            ev.PauseRequested: self._on_pause,
            ev.ResumeRequested: self._on_resume,
            ev.StopRequested: self._on_stop,
            ev.HaltRequested: self._on_halt,
            ev.ConfigChanged: self._on_config,
        }

    # ---- public API -----------------------------------------------------------------------
    def on_event(self, event: ev.Event) -> list[Command]:
        """Feed one event; returns the commands to send, in order."""
        handler = self._handlers.get(type(event))
        if handler is None:
            return []
        return handler(event)

    def take_notices(self) -> list[ev.Event]:
        notices, self._notices = self._notices, []
        return notices

    @property
    def position_lots(self) -> int:
        return self.ledger.position_lots

    def mark_ticks(self) -> float:
        return self.book.mid_ticks() if self.book.ready else self._last_mid

    def equity(self) -> float:
        """Session equity: equity at session start plus the session's mark-to-market PnL."""
        return self._session_equity0 + self.session_pnl()

    def session_pnl(self) -> float:
        if self._session_pnl0 is None:
            return 0.0
        return self.ledger.net_pnl(self.mark_ticks()) - self._session_pnl0

    def snapshot(self) -> EngineSnapshot:
        mark = self.mark_ticks()
        flattener = self._flattener
        return EngineSnapshot(
            mode=self.mode,
            symbol=self.instrument.symbol,
            position_lots=self.ledger.position_lots,
            mid_ticks=mark,
            equity=self.equity(),
            free_margin=self._free_margin_now(),
            session_pnl=self.session_pnl(),
            inventory_notional=self.ledger.notional(mark),
            open_orders=tuple(self.orders.live()),
            target=self._target,
            breakers=self.risk.states(),
            flatten_phase=flattener.phase.value if flattener else "",
            flatten_attempts=flattener.attempts if flattener else 0,
            last_market_ns=self._last_market_ns,
            connected=self.connected,
            book_ok=self.book_ok,
        )

    # ---- market data ------------------------------------------------------------------------
    def _on_snapshot(self, e: ev.BookSnapshot) -> list[Command]:
        self.book.apply_snapshot(e)
        return self._after_book(e.local_ns)

    def _on_delta(self, e: ev.BookDelta) -> list[Command]:
        result = self.book.apply_delta(e)
        if result is not ApplyResult.APPLIED:
            if result is ApplyResult.GAP:
                self._warn(
                    e.local_ns, "book_gap", f"sequence gap {self.book.gap}; awaiting snapshot"
                )
                if self.mode is M.RUNNING:
                    return self._pull_quotes(e.local_ns, "book_gap")
            return []
        return self._after_book(e.local_ns)

    def _on_ticker(self, e: ev.Ticker) -> list[Command]:
        if e.source == "rest":
            if e.bid_ticks > 0 and e.ask_ticks > e.bid_ticks:
                self._rest_top = (e.bid_ticks, e.ask_ticks, e.local_ns)
            return []
        if self.book_ok:
            # The depth stream is authoritative while the venue has it; after a gap or a
            # reconnect the book waits for that stream's snapshot.
            return []
        self.book.apply_ticker(e)
        return self._after_book(e.local_ns)

    def _on_trade(self, e: ev.Trade) -> list[Command]:
        self.strategy.on_trade(e)
        self._last_market_ns = e.local_ns
        return []

    def _after_book(self, now: int) -> list[Command]:
        book = self.book
        self._last_market_ns = now
        if not book.ready:
            return []
        self._last_mid = book.mid_ticks()
        self.strategy.on_book(book, now)
        mode = self.mode
        if mode is M.RUNNING:
            if self.strategy.decision_interval_ns:
                return []  # decisions (and account checks) run on the timer grid
            # Re-check and re-decide when the top of book, the position or our orders changed;
            # deeper book changes reach the quotes through the estimators at the next timer.
            key = (book.best_bid, book.best_ask, self.ledger.position_lots, self.orders.version)
            if key == self._decided_key:
                return []
            verdict = self._check_account()
            if verdict is not None:
                return self._trip(now, verdict)
            return self._decide(now)
        if mode in modes.FLATTEN_MODES:
            return self._flatten_step(now)
        return []

    # ---- timers -----------------------------------------------------------------------------
    def _on_timer(self, e: ev.Timer) -> list[Command]:
        now = e.local_ns
        mode = self.mode
        if mode in (M.RUNNING, M.PAUSED):
            verdict = self.risk.check_activity(now, self._last_market_ns, self.connected)
            if verdict is None:
                verdict = self._check_account()
            if verdict is not None:
                return self._trip(now, verdict)
        if mode is M.RUNNING:
            interval = self.strategy.decision_interval_ns
            if interval == 0:
                return self._decide(now, from_timer=True)
            if now >= self._next_decision_ns:
                self._next_decision_ns = (now // interval + 1) * interval
                return self._decide(now, from_timer=True)
            return []
        if mode is M.RECONCILING:
            if now - self._reconcile_sent_ns >= self.settings.reconcile_timeout_ns:
                self._warn(now, "reconcile_timeout", "no venue state yet; asking again")
                return [self._reconcile(now)]
            return []
        if mode in modes.FLATTEN_MODES:
            return self._flatten_step(now)
        return []

    # ---- our orders ---------------------------------------------------------------------------
    def _on_accepted(self, e: ev.OrderAccepted) -> list[Command]:
        order = self.orders.accept(e.client_order_id, e.venue_order_id, e.local_ns)
        if order is None:
            self._warn(e.local_ns, "unknown_order", f"ack for unknown order {e.client_order_id}")
            return []
        return self._react(e.local_ns)

    def _on_filled(self, e: ev.OrderFilled) -> list[Command]:
        now = e.local_ns
        try:
            order = self.orders.fill(e.client_order_id, e.size_lots, now)
        except IllegalTransition as exc:
            self._warn(now, "illegal_transition", str(exc))
            order = None
        if order is None:
            self._warn(now, "unknown_fill", f"fill {e.trade_id} for unknown order")
        self.ledger.apply_fill(e.side, e.price_ticks, e.size_lots, float(e.fee))
        if order is not None and order.leaves_lots == 0:
            self._close_order_done(order, now, None)
        if self.mode is M.RUNNING:
            verdict = self._check_account()
            if verdict is not None:
                return self._trip(now, verdict)
        return self._react(now)

    def _on_canceled(self, e: ev.OrderCanceled) -> list[Command]:
        order = self.orders.cancel(e.client_order_id, e.local_ns)
        if order is not None:
            self._close_order_done(order, e.local_ns, None)
        return self._react(e.local_ns)

    def _on_rejected(self, e: ev.OrderRejected) -> list[Command]:
        self.risk.record_reject(e.local_ns, post_only=is_post_only_reject(e.reason))
        try:
            order = self.orders.reject(e.client_order_id, e.local_ns)
        except IllegalTransition as exc:
            self._warn(e.local_ns, "illegal_transition", str(exc))
            return []
        if order is not None:
            self._close_order_done(order, e.local_ns, e.code)
            if not order.reduce_only:
                self._cooldown_until[order.side] = e.local_ns + self.settings.reject_cooldown_ns
        return self._react(e.local_ns)

    def _on_cancel_rejected(self, e: ev.CancelRejected) -> list[Command]:
        order = self.orders.get(e.client_order_id)
        if order is None or not order.is_live:
            return []  # the order had already filled or gone: nothing to do
        self.orders.cancel_failed(e.client_order_id)
        self._warn(e.local_ns, "cancel_rejected", f"{order}: {e.reason}; reconciling")
        return [self._reconcile(e.local_ns)]

    def _close_order_done(self, order: Order, now: int, code: int | None) -> None:
        flattener = self._flattener
        if flattener is not None and order.client_order_id == flattener.close_cid:
            flattener.close_finished(now, code)

    def _react(self, now: int) -> list[Command]:
        if self.mode is M.RUNNING and self.strategy.decision_interval_ns == 0:
            return self._decide(now)
        if self.mode in modes.FLATTEN_MODES:
            return self._flatten_step(now)
        return []

    # ---- account and venue state ------------------------------------------------------------
    def _on_account(self, e: ev.AccountUpdate) -> list[Command]:
        self._venue_equity = e.equity
        self._free_margin = e.free_margin
        self._used_margin = e.used_margin
        return []

    def _on_position(self, e: ev.PositionUpdate) -> list[Command]:
        if e.size_lots != self.ledger.position_lots:
            self._warn(
                e.local_ns,
                "position_corrected",
                f"venue position {e.size_lots} lots, ours {self.ledger.position_lots}",
            )
            entry = e.entry_price_ticks or self.mark_ticks()
            self.ledger.adopt(e.size_lots, entry)
        return []

    def _on_reconcile(self, e: ev.ReconcileSnapshot) -> list[Command]:
        now = e.local_ns
        self._venue_equity = e.equity
        self._free_margin = e.free_margin
        self._used_margin = e.used_margin
        cmds: list[Command] = []
        known = {o.client_order_id for o in self.orders.live()}
        for info in e.open_orders:
            if info.client_order_id not in known:
                cmds.append(self._cancel(now, info.client_order_id, "unknown_at_reconcile"))
        if e.position_lots != self.ledger.position_lots:
            self.ledger.adopt(e.position_lots, self.mark_ticks() or self.ledger.avg_entry_ticks)
        # Orders issued before we asked that the venue no longer lists are gone (orders sent
        # in the same instant as the request, e.g. a flatten's first close, are not).
        listed = {info.client_order_id for info in e.open_orders}
        for order in self.orders.live():
            cid = order.client_order_id
            if cid not in listed and cid < self._reconcile_next_cid:
                self.orders.cancel(order.client_order_id, now)
                self._close_order_done(order, now, None)
        if not e.open_orders and self._flattener is not None:
            self._flattener.confirm_no_open_orders()
        if self.mode is M.RECONCILING:
            self._begin_session(now, e.equity)
            if self.settings.flatten_on_start and e.position_lots:
                return cmds + self._begin_flatten(now, M.STOPPED, "flatten_on_start")
            self._set_mode(now, M.RUNNING, "reconciled")
            return cmds + self._decide(now)
        return cmds + self._react(now)

    def _on_venue_error(self, e: ev.VenueError) -> list[Command]:
        self.risk.record_error(e.local_ns)
        return []

    def _on_venue_status(self, e: ev.VenueStatus) -> list[Command]:
        self.connected = e.connected
        self.book_ok = e.book_ok
        if not e.connected:
            self.book.invalidate()
            if self.mode is M.RUNNING:
                return self._pull_quotes(e.local_ns, "market_disconnected")
        return []

    # ---- operator control ---------------------------------------------------------------------
    def _on_start(self, e: ev.StartRequested) -> list[Command]:
        if self.mode not in modes.STARTABLE:
            self._warn(e.local_ns, "start_ignored", f"engine is {self.mode.value}")
            return []
        self._set_mode(e.local_ns, M.RECONCILING, e.reason)
        return [self._reconcile(e.local_ns)]

    def _on_pause(self, e: ev.PauseRequested) -> list[Command]:
        if self.mode is not M.RUNNING:
            self._warn(e.local_ns, "pause_ignored", f"engine is {self.mode.value}")
            return []
        self._set_mode(e.local_ns, M.PAUSED, e.reason)
        self._target = None
        return [CancelAll(ts_ns=e.local_ns, symbol=self.instrument.symbol, reason="pause")]

    def _on_resume(self, e: ev.ResumeRequested) -> list[Command]:
        if self.mode is not M.PAUSED:
            self._warn(e.local_ns, "resume_ignored", f"engine is {self.mode.value}")
            return []
        self._set_mode(e.local_ns, M.RUNNING, e.reason)
        return self._decide(e.local_ns)

    def _on_stop(self, e: ev.StopRequested) -> list[Command]:
        if self.mode not in modes.ACTIVE:
            self._warn(e.local_ns, "stop_ignored", f"engine is {self.mode.value}")
            return []
        return self._begin_flatten(e.local_ns, M.STOPPED, e.reason)

    def _on_halt(self, e: ev.HaltRequested) -> list[Command]:
        return self._halt(e.local_ns, e.reason)

    def _on_config(self, e: ev.ConfigChanged) -> list[Command]:
        config = e.config
        if not isinstance(config, StrategyConfig):
            self._warn(e.local_ns, "config_refused", "not a StrategyConfig")
            return []
        running = self.mode not in modes.STARTABLE
        if running and config.symbol != self.config.symbol:
            self._warn(e.local_ns, "config_refused", "symbol cannot change while running")
            return []
        self.config = config
        self.strategy = self._factory(config)
        old = self.risk
        self.risk = RiskMonitor(self.settings.limits(config))
        self.risk.peak_equity, self.risk.tripped = old.peak_equity, old.tripped
        if self.book.ready:
            self.strategy.on_book(self.book, e.local_ns)
        return self._react(e.local_ns)

    # ---- risk ------------------------------------------------------------------------------
    def _free_margin_now(self) -> float:
        if math.isfinite(self._free_margin):
            return self._free_margin
        equity = self.equity()
        used = self.ledger.notional(self.mark_ticks()) / self.config.effective_leverage
        return equity - used

    def _check_account(self) -> Verdict | None:
        if self._session_pnl0 is None:
            return None
        mark = self.mark_ticks()
        return self.risk.check_account(
            self.equity(), self.ledger.notional(mark), self.config.effective_leverage
        )

    # ---- bookkeeping --------------------------------------------------------------------------
    def _begin_session(self, now: int, equity: float) -> None:
        self._session_equity0 = equity
        self._session_pnl0 = self.ledger.net_pnl(self.book.mid_ticks()) if self.book.ready else None
        self.risk.reset_session(equity)
        self._target = None

    def _set_mode(self, now: int, new: EngineMode, reason: str) -> None:
        old = self.mode
        modes.check(old, new)
        self.mode = new
        self._notices.append(
            ev.ModeChanged(ts_ns=now, local_ns=now, old=old, new=new, reason=reason)
        )

    def _warn(self, now: int, code: str, detail: str) -> None:
        self._notices.append(ev.EngineWarning(ts_ns=now, local_ns=now, code=code, detail=detail))
