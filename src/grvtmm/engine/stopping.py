"""Halting and flattening: the part of the engine that takes it out of the market safely.

A mixin of `Engine` (engine.py), kept apart so each file reads as one concern.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grvtmm.core import events as ev
from grvtmm.core.book import OrderBook
from grvtmm.core.clock import NS_PER_S
from grvtmm.core.commands import CancelAll, CancelOrder, Command, PlaceOrder, Reconcile
from grvtmm.core.events import EngineMode
from grvtmm.core.orders import OrderTable
from grvtmm.core.positions import PositionLedger
from grvtmm.core.types import Instrument, Side
from grvtmm.engine import flatten as fl
from grvtmm.engine.risk import RiskMonitor, Verdict
from grvtmm.engine.settings import EngineSettings
from grvtmm.strategy.base import QuoteTarget

M = EngineMode


REST_TOP_MAX_AGE_NS = 10 * NS_PER_S
"""How old a REST ticker may be and still price a close while the book is unusable."""


class StoppingMixin:
    """Breaker trips, operator halts and the cancel → confirm → close-until-flat ladder."""

    mode: EngineMode
    instrument: Instrument
    settings: EngineSettings
    risk: RiskMonitor
    orders: OrderTable
    ledger: PositionLedger
    book: OrderBook
    _notices: list[ev.Event]
    _flattener: fl.Flattener | None
    _rest_top: tuple[int, int, int]
    _flatten_to: EngineMode
    _target: QuoteTarget | None

    if TYPE_CHECKING:

        def _set_mode(self, now: int, new: EngineMode, reason: str) -> None: ...

        def _reconcile(self, now: int) -> Reconcile: ...

        def _cancel(self, now: int, cid: int, reason: str) -> CancelOrder: ...

        def _place(
            self,
            now: int,
            side: Side,
            price_ticks: int,
            size_lots: int,
            reason: str,
            *,
            flatten: bool = False,
        ) -> PlaceOrder: ...

    def _trip(self, now: int, verdict: Verdict) -> list[Command]:
        self.risk.tripped = verdict
        self._notices.append(
            ev.BreakerTripped(
                ts_ns=now,
                local_ns=now,
                breaker=verdict.breaker.value,
                detail=verdict.detail,
                value=verdict.value,
                limit=verdict.limit,
            )
        )
        return self._halt(now, f"breaker {verdict.breaker.value}: {verdict.detail}")

    def _halt(self, now: int, reason: str) -> list[Command]:
        mode = self.mode
        if mode in (M.HALTING, M.HALTED):
            return []
        if mode in (M.IDLE, M.STOPPED):
            self._set_mode(now, M.HALTED, reason)
            return []
        if mode in (M.STOPPING, M.FLATTENING):
            self._flatten_to = M.HALTED
            self._set_mode(now, M.HALTING, reason)
            return self._flatten_step(now)
        return self._begin_flatten(now, M.HALTED, reason)

    def _begin_flatten(self, now: int, to: EngineMode, reason: str) -> list[Command]:
        self._flatten_to = to
        self._target = None
        self._flattener = fl.Flattener(self.instrument, self.settings.flatten, now)
        self._set_mode(now, M.STOPPING if to is M.STOPPED else M.HALTING, reason)
        self._progress(now, "cancelling", "cancel all open orders")
        symbol = self.instrument.symbol
        for order in self.orders.live():
            self.orders.request_cancel(order.client_order_id, now)
        cmds: list[Command] = [
            CancelAll(ts_ns=now, symbol=symbol, reason=reason),
            self._reconcile(now),
        ]
        return cmds + self._flatten_step(now)

    def _close_prices(self, now: int) -> tuple[int, int]:
        """The top of book a close is priced from: the book while it is valid; while it is not
        (the market stream is down), a REST ticker no older than `REST_TOP_MAX_AGE_NS`, else
        the book's last prices."""
        book = self.book
        if not book.valid:
            bid, ask, at = self._rest_top
            if bid and now - at <= REST_TOP_MAX_AGE_NS:
                return bid, ask
        return book.best_bid, book.best_ask

    def _flatten_step(self, now: int) -> list[Command]:
        flattener = self._flattener
        if flattener is None:
            return []
        symbol = self.instrument.symbol
        if flattener.close_timed_out(now):
            cid = flattener.close_cid
            flattener.close_finished(now, None)
            return [self._cancel(now, cid, "close_timeout"), self._reconcile(now)]
        best_bid, best_ask = self._close_prices(now)
        action = flattener.advance(
            now, self.orders.live_count(), self.ledger.position_lots, best_bid, best_ask
        )
        if isinstance(action, fl.Wait):
            return []
        if isinstance(action, fl.ResendCancel):
            self._progress(now, "cancelling", f"orders still open, round {flattener.cancel_rounds}")
            return [CancelAll(ts_ns=now, symbol=symbol, reason="flatten"), self._reconcile(now)]
        if isinstance(action, fl.Close):
            if self.mode is not M.FLATTENING:
                self._set_mode(now, M.FLATTENING, "closing position")
            order = self._place(
                now, action.side, action.price_ticks, action.size_lots, "flatten", flatten=True
            )
            flattener.close_cid = order.client_order_id
            self._progress(now, "closing", f"attempt {action.attempt}: {action.size_lots} lots")
            return [order]
        self._finish_flatten(now, action)
        return []

    def _finish_flatten(self, now: int, done: fl.Done) -> None:
        self._notices.append(
            ev.FlattenDone(
                ts_ns=now,
                local_ns=now,
                dust=done.dust,
                position_lots=done.position_lots,
                attempts=done.attempts,
            )
        )
        self._flattener = None
        detail = "flat" if not done.dust else f"dust {done.position_lots} lots"
        self._set_mode(now, self._flatten_to, detail)

    def _progress(self, now: int, phase: str, detail: str) -> None:
        flattener = self._flattener
        self._notices.append(
            ev.FlattenProgress(
                ts_ns=now,
                local_ns=now,
                phase=phase,
                attempt=flattener.attempts if flattener else 0,
                position_lots=self.ledger.position_lots,
                detail=detail,
            )
        )
