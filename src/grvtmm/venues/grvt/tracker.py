"""Our orders on GRVT keyed by client order id, and the translation of GRVT's order states and
fills (from streams or REST, in any order, possibly repeated) into core events, each once.

Create acks carry `order_id "0x00"` and state PENDING, so nothing is reported on the ack; the
order is accepted when GRVT reports it OPEN. A PENDING order that ends REJECTED — or CANCELLED
with a reject-type reason such as FAIL_POST_ONLY — never rested and becomes `OrderRejected`;
other cancels become `OrderCanceled`. Fills are unique by `trade_id`.

The venue's position is kept as its last report (stream or REST, stamped with the report's
exchange time) plus the fills stamped after it, and re-sent after every fill and report: a REST
read that raced a fill, or a fill that arrives after a report already counting it, is corrected
at once instead of leaving the engine's position off by that fill.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    PositionUpdate,
)
from grvtmm.core.types import Side
from grvtmm.venues.grvt.errors import REJECT_REASONS
from grvtmm.venues.grvt.parse import FillInfo, OrderInfo, OrderState

_MAX_DONE: Final = 4096
_MAX_TRADE_IDS: Final = 65_536


@dataclass(slots=True)
class Tracked:
    """One order we placed (or adopted from the venue at reconcile)."""

    client_order_id: int
    side: Side
    price_ticks: int
    size_lots: int
    created_ns: int
    order_id: str = ""
    filled_lots: int = 0
    opened: bool = False
    done: bool = False
    cancel_requested_ns: int = 0

    @property
    def leaves_lots(self) -> int:
        return max(0, self.size_lots - self.filled_lots)


@dataclass(frozen=True, slots=True)
class KnownOrder:
    """An order an earlier process stored as not final: what it knew of it when it died."""

    client_order_id: int
    side: Side
    price_ticks: int
    size_lots: int
    filled_lots: int
    created_ns: int
    order_id: str = ""
    opened: bool = False


def fill_key(trade_id: str, client_order_id: int, side: Side) -> str:
    """One side of one trade (both of a self-trade share the trade id)."""
    return f"{trade_id}|{client_order_id}|{int(side)}"


class OrderTracker:
    """Order lifecycle bookkeeping for one instrument; methods return the events to emit."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.orders: dict[int, Tracked] = {}
        self._done: OrderedDict[int, None] = OrderedDict()
        self._trade_ids: OrderedDict[str, None] = OrderedDict()
        self.duplicate_fills = 0
        self.last_fill_ns = 0
        self._base_lots: int | None = None
        self._base_ns = 0
        self._entry_ticks = 0.0
        self._recent: deque[tuple[int, int]] = deque(maxlen=_MAX_TRADE_IDS)
        self.inherited: set[int] = set()
        """Orders adopted from an earlier process, not yet looked up on the venue."""

    # ---- our actions ----------------------------------------------------------------------
    def placed(self, cmd: PlaceOrder, now_ns: int) -> None:
        self.orders[cmd.client_order_id] = Tracked(
            cmd.client_order_id, cmd.side, cmd.price_ticks, cmd.size_lots, now_ns
        )

    def forget(self, cid: int) -> None:
        """The create failed before reaching the book: stop tracking it."""
        self.orders.pop(cid, None)

    def cancel_requested(self, cid: int, now_ns: int) -> None:
        order = self.orders.get(cid)
        if order is not None and not order.done:
            order.cancel_requested_ns = now_ns

    def adopt(self, info: OrderInfo, now_ns: int) -> None:
        """Track an order found on the venue (left over from an earlier run)."""
        cid = info.state.client_order_id
        if cid and cid not in self.orders and info.state.status in ("PENDING", "OPEN"):
            self.orders[cid] = Tracked(
                cid,
                info.side,
                info.price_ticks,
                info.size_lots,
                now_ns,
                order_id=info.state.order_id,
                filled_lots=info.state.traded_lots,
                opened=info.state.status == "OPEN",
            )

    def adopt_known(self, known: KnownOrder) -> None:
        """Track an order an earlier process left unfinished, so that its outcome (found by
        the next reconcile: still open, cancelled, filled) is reported as events."""
        cid = known.client_order_id
        if cid and cid not in self.orders:
            self.inherited.add(cid)
            self.orders[cid] = Tracked(
                cid,
                known.side,
                known.price_ticks,
                known.size_lots,
                known.created_ns,
                order_id=known.order_id,
                filled_lots=known.filled_lots,
                opened=known.opened,
            )

    def remember_fills(self, keys: list[tuple[str, int, Side]]) -> None:
        """Fills already stored (by an earlier process): never reported again."""
        for trade_id, cid, side in keys:
            self._trade_ids[fill_key(trade_id, cid, side)] = None
        while len(self._trade_ids) > _MAX_TRADE_IDS:
            self._trade_ids.popitem(last=False)

    def live(self) -> list[Tracked]:
        return [o for o in self.orders.values() if not o.done]

    # ---- venue reports ----------------------------------------------------------------------
    def on_state(self, state: OrderState, local_ns: int) -> list[Event]:
        """An order state (v1.order, v1.state, REST); returns the transition's event, if any."""
        order = self.orders.get(state.client_order_id)
        if order is None or order.done:
            return []
        if state.order_id and state.order_id != "0x00":
            order.order_id = state.order_id
        ts = state.update_ns or local_ns
        cid = order.client_order_id
        status = state.status
        if status == "OPEN":
            if order.opened:
                return []
            order.opened = True
            return [
                OrderAccepted(
                    ts_ns=ts, local_ns=local_ns, client_order_id=cid, venue_order_id=order.order_id
                )
            ]
        if status == "FILLED":
            # the fills themselves (v1.fill / fill_history) carry sizes and prices
            return []
        if status == "REJECTED" or (
            status == "CANCELLED" and not order.opened and state.reject_reason in REJECT_REASONS
        ):
            self._finish(order)
            reason = state.reject_reason or "REJECTED"
            return [OrderRejected(ts_ns=ts, local_ns=local_ns, client_order_id=cid, reason=reason)]
        if status == "CANCELLED":
            self._finish(order)
            reason = (state.reject_reason or "canceled").lower()
            return [OrderCanceled(ts_ns=ts, local_ns=local_ns, client_order_id=cid, reason=reason)]
        return []

    def on_fill(self, fill: FillInfo, local_ns: int) -> list[Event]:
        """A fill (v1.fill or fill_history); each trade id is reported once."""
        if fill.instrument and fill.instrument != self.symbol:
            return []
        key = fill_key(fill.trade_id, fill.client_order_id, fill.side)
        if key in self._trade_ids:
            self.duplicate_fills += 1
            return []
        self._trade_ids[key] = None
        self.last_fill_ns = max(self.last_fill_ns, fill.event_ns)
        self._recent.append((fill.event_ns, fill.side * fill.size_lots))
        if len(self._trade_ids) > _MAX_TRADE_IDS:
            self._trade_ids.popitem(last=False)
        order = self.orders.get(fill.client_order_id)
        leaves = 0
        if order is not None:
            order.filled_lots += fill.size_lots
            leaves = order.leaves_lots
            if leaves == 0:
                self._finish(order)
        filled = OrderFilled(
            ts_ns=fill.event_ns or local_ns,
            local_ns=local_ns,
            client_order_id=fill.client_order_id,
            trade_id=fill.trade_id,
            symbol=self.symbol,
            side=fill.side,
            price_ticks=fill.price_ticks,
            size_lots=fill.size_lots,
            fee=Decimal(fill.fee),
            is_maker=fill.is_maker,
            leaves_lots=leaves,
        )
        if self._base_lots is None:
            return [filled]
        return [filled, self._position_event(fill.event_ns or local_ns, local_ns)]

    # ---- position ----------------------------------------------------------------------------
    def on_position(
        self, lots: int, entry_ticks: float, report_ns: int, local_ns: int
    ) -> list[Event]:
        """A position report that counts every fill stamped up to `report_ns`."""
        if self._base_lots is not None and report_ns < self._base_ns:
            return []  # older than the report we already have
        self._base_lots, self._base_ns, self._entry_ticks = lots, report_ns, entry_ticks
        while self._recent and self._recent[0][0] <= report_ns:
            self._recent.popleft()
        return [self._position_event(report_ns, local_ns)]

    def position_lots(self) -> int | None:
        """The venue's position: last report plus the fills after it (None before a report)."""
        if self._base_lots is None:
            return None
        base_ns = self._base_ns
        return self._base_lots + sum(lots for ts, lots in self._recent if ts > base_ns)

    def _position_event(self, ts_ns: int, local_ns: int) -> PositionUpdate:
        return PositionUpdate(
            ts_ns=ts_ns,
            local_ns=local_ns,
            symbol=self.symbol,
            size_lots=self.position_lots() or 0,
            entry_price_ticks=self._entry_ticks,
        )

    def vanished(self, cid: int, local_ns: int) -> list[Event]:
        """The venue has no record of an order we track: it never reached the book."""
        order = self.orders.get(cid)
        if order is None or order.done:
            return []
        self._finish(order)
        if order.opened:
            return [
                OrderCanceled(
                    ts_ns=local_ns, local_ns=local_ns, client_order_id=cid, reason="vanished"
                )
            ]
        return [
            OrderRejected(
                ts_ns=local_ns, local_ns=local_ns, client_order_id=cid, reason="not_found_on_venue"
            )
        ]

    def _finish(self, order: Tracked) -> None:
        order.done = True
        self._done[order.client_order_id] = None
        while len(self._done) > _MAX_DONE:
            cid, _ = self._done.popitem(last=False)
            self.orders.pop(cid, None)
