"""Quoting: the strategy's target quotes → requote plans → orders, per side.

A mixin of `Engine` (engine.py), kept apart so each file reads as one concern.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from grvtmm.core import events as ev
from grvtmm.core.book import OrderBook
from grvtmm.core.commands import CancelOrder, Command, PlaceOrder, Reconcile
from grvtmm.core.orders import ClientIdGenerator, Order, OrderStatus, OrderTable
from grvtmm.core.positions import PositionLedger
from grvtmm.core.types import Instrument, Side, TimeInForce
from grvtmm.engine.requote import NOTHING, Cancellation, Placement, SidePlan, plan_side
from grvtmm.engine.risk import RiskMonitor
from grvtmm.engine.settings import EngineSettings
from grvtmm.strategy.base import AccountView, Quote, QuoteTarget, Strategy

_STANDALONE_CANCELS = frozenset({"side_off", "duplicate", "away"})
_WORKING = (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


def _changed(old: Quote | None, new: Quote | None) -> bool:
    """Whether a side's target moved."""
    if old is new:
        return False
    if old is None or new is None:
        return True
    return old.price_ticks != new.price_ticks or old.size_lots != new.size_lots


class QuotingMixin:
    """Turns the strategy's targets into the fewest place/cancel commands."""

    instrument: Instrument
    settings: EngineSettings
    strategy: Strategy
    risk: RiskMonitor
    orders: OrderTable
    ledger: PositionLedger
    book: OrderBook
    _ids: ClientIdGenerator
    _notices: list[ev.Event]
    _target: QuoteTarget | None
    _session_pnl0: float | None
    _used_margin: float
    _decided_key: tuple[int, int, int, int]
    _planned_version: int
    _cooldown_until: dict[Side, int]
    _reconcile_sent_ns: int
    _reconcile_next_cid: int

    if TYPE_CHECKING:

        def equity(self) -> float: ...

        def _free_margin_now(self) -> float: ...

    def _decide(self, now: int, *, from_timer: bool = False) -> list[Command]:
        book = self.book
        if not book.ready:
            # A broken feed (gap, disconnect) leaves nothing to price against: our quotes come
            # off (also those acknowledged since) until a snapshot makes the book valid again.
            # A valid book that is one-sided or crossed only holds the quotes where they are.
            return [] if book.valid else self._pull_quotes(now, "book_invalid")
        ledger = self.ledger
        if self._session_pnl0 is None:
            self._session_pnl0 = ledger.net_pnl(book.mid_ticks())
        orders = self.orders
        bids, asks, bid_lots, ask_lots = orders.live_by_side()
        account = AccountView(
            ledger.position_lots,
            self.equity(),
            self._free_margin_now(),
            self._used_margin,
            bid_lots,
            ask_lots,
        )
        target = self.strategy.quote(book, account, now)
        old = self._target
        self._target = target
        # The strategy hands back the same Quote object for an unchanged side.
        if (
            old is None
            or (old.bid is not target.bid and _changed(old.bid, target.bid))
            or (old.ask is not target.ask and _changed(old.ask, target.ask))
        ):
            self._publish_target(now, target)
        elif not from_timer and orders.version == self._planned_version:
            # Same targets, same orders, and the last plan found nothing to do: time-based
            # replacements (debounce, max age) are re-checked on the next timer.
            return []
        cmds: list[Command] = []
        params = self.strategy.requote
        want = target.bid
        if bids or want is not None:
            plan = plan_side(Side.BUY, want, bids, params, now)
            if plan is not NOTHING:
                self._carry_out(cmds, Side.BUY, plan, now)
        want = target.ask
        if asks or want is not None:
            plan = plan_side(Side.SELL, want, asks, params, now)
            if plan is not NOTHING:
                self._carry_out(cmds, Side.SELL, plan, now)
        version = orders.version
        self._decided_key = (book.best_bid, book.best_ask, ledger.position_lots, version)
        self._planned_version = -1 if cmds else version
        return cmds

    def _pull_quotes(self, now: int, reason: str) -> list[Command]:
        """Cancel every working quote (not a flatten's closes) that has no cancel in flight.

        Orders not yet acknowledged are left to their ack (a cancel could overtake them): the
        next decision pulls them while the book is still unusable.
        """
        cmds: list[Command] = []
        for order in self.orders.live():
            if (
                not order.reduce_only
                and order.cancel_requested_ns == 0
                and order.status in _WORKING
            ):
                cmds.append(self._cancel(now, order.client_order_id, reason))
        old = self._target
        if old is not None and (old.bid is not None or old.ask is not None):
            self._target = QuoteTarget(None, None, reason)
            self._publish_target(now, self._target)
        return cmds

    def _carry_out(self, cmds: list[Command], side: Side, plan: SidePlan, now: int) -> None:
        """Append the place/cancel commands of one side's plan."""
        params = self.strategy.requote
        to_place: Sequence[Placement] = plan.places
        to_cancel: Sequence[Cancellation] = plan.cancels
        if to_place and now < self._cooldown_until[side] and not self.strategy.decision_interval_ns:
            # Just bounced: let the book move first. Keep only the cancels that stand on
            # their own (side off, duplicates, quotes the market moved through).
            to_place = ()
            to_cancel = [c for c in to_cancel if c.reason in _STANDALONE_CANCELS]
            if not to_cancel:
                return
        places: list[Command] = [
            self._place(now, p.side, p.price_ticks, p.size_lots, p.reason) for p in to_place
        ]
        cancels: list[Command] = [self._cancel(now, c.client_order_id, c.reason) for c in to_cancel]
        if params.place_before_cancel:
            cmds += places + cancels
        else:
            cmds += cancels + places

    def _publish_target(self, now: int, target: QuoteTarget) -> None:
        bid = target.bid
        ask = target.ask
        book = self.book
        bid_ticks = bid.price_ticks if bid else 0
        bid_lots = bid.size_lots if bid else 0
        ask_ticks = ask.price_ticks if ask else 0
        ask_lots = ask.size_lots if ask else 0
        mid = (book.best_bid + book.best_ask) * 0.5  # book.mid_ticks()
        d = target.diagnostics
        if d is None:
            reason = target.reason
            notice = ev.QuoteUpdated(
                bid_ticks, bid_lots, ask_ticks, ask_lots, mid, reason, ts_ns=now, local_ns=now
            )
        else:
            notice = ev.QuoteUpdated(
                bid_ticks,
                bid_lots,
                ask_ticks,
                ask_lots,
                mid,
                target.reason,
                d.one_sided,
                d.half_spread_ticks,
                d.skew_ticks,
                d.sigma,
                d.k,
                d.inventory_ratio,
                ts_ns=now,
                local_ns=now,
            )
        self._notices.append(notice)

    def _place(
        self,
        now: int,
        side: Side,
        price_ticks: int,
        size_lots: int,
        reason: str,
        *,
        flatten: bool = False,
    ) -> PlaceOrder:
        cid = self._ids.next()
        tif = TimeInForce.IOC if flatten else TimeInForce.GTT
        if not flatten:
            self.risk.record_placement(now)
        post_only = not flatten
        self.orders.add(
            Order(cid, side, price_ticks, size_lots, now, post_only, flatten, tif, reason)
        )
        # client_order_id, symbol, side, price_ticks, size_lots, post_only, reduce_only, tif,
        # expiration_ns, reason
        return PlaceOrder(
            cid,
            self.instrument.symbol,
            side,
            price_ticks,
            size_lots,
            post_only,
            flatten,
            tif,
            0,
            reason,
            ts_ns=now,
        )

    def _reconcile(self, now: int) -> Reconcile:
        self._reconcile_sent_ns = now
        self._reconcile_next_cid = self._ids.peek()
        return Reconcile(ts_ns=now, symbol=self.instrument.symbol)

    def _cancel(self, now: int, cid: int, reason: str) -> CancelOrder:
        self.orders.request_cancel(cid, now)
        return CancelOrder(cid, self.instrument.symbol, reason, ts_ns=now)

    # ---- risk, halt and flatten ---------------------------------------------------------------
