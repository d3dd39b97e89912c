"""Order lifecycle table keyed by client order id, and client order id generation."""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterator

from grvtmm.core.types import Side, TimeInForce

CLIENT_ID_MIN = 2**63
CLIENT_ID_MAX = 2**64 - 1


class OrderStatus(enum.Enum):
    PENDING = "pending"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})

# A fill or cancel may be reported before the acknowledgement (IOC orders, reordered streams),
# so PENDING may move straight to any later state.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(
        {
            OrderStatus.OPEN,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
        }
    ),
    OrderStatus.OPEN: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED}
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED}
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """An order event arrived that its lifecycle does not allow (a bug or a venue anomaly)."""


class Order:
    """Our view of one order; mutated only through `OrderTable`."""

    __slots__ = (
        "accepted_ns",
        "cancel_requested_ns",
        "client_order_id",
        "created_ns",
        "filled_lots",
        "post_only",
        "price_ticks",
        "reason",
        "reduce_only",
        "side",
        "size_lots",
        "status",
        "tif",
        "updated_ns",
        "venue_order_id",
    )

    def __init__(
        self,
        client_order_id: int,
        side: Side,
        price_ticks: int,
        size_lots: int,
        created_ns: int,
        post_only: bool = True,
        reduce_only: bool = False,
        tif: TimeInForce = TimeInForce.GTT,
        reason: str = "",
    ) -> None:
        self.client_order_id = client_order_id
        self.side = side
        self.price_ticks = price_ticks
        self.size_lots = size_lots
        self.created_ns = created_ns
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.tif = tif
        self.reason = reason
        self.status = OrderStatus.PENDING
        self.filled_lots = 0
        self.accepted_ns = 0
        self.cancel_requested_ns = 0
        self.updated_ns = created_ns
        self.venue_order_id = ""

    @property
    def leaves_lots(self) -> int:
        return self.size_lots - self.filled_lots

    @property
    def is_live(self) -> bool:
        return not self.status.terminal

    @property
    def is_working(self) -> bool:
        """Live and not already being cancelled."""
        return not self.status.terminal and self.cancel_requested_ns == 0

    def __repr__(self) -> str:
        return (
            f"Order({self.client_order_id}, {self.side.name}, {self.price_ticks}t x "
            f"{self.size_lots}l, {self.status.value}, filled={self.filled_lots})"
        )


class OrderTable:
    """Live orders plus a bounded memory of finished ones (for late or duplicate events)."""

    def __init__(self, history: int = 1024) -> None:
        self._live: dict[int, Order] = {}
        self._done: OrderedDict[int, Order] = OrderedDict()
        self._history = history
        self.version = 0
        """Bumped on every change, so callers can tell cheaply whether anything moved."""
        self._split: tuple[list[Order], list[Order], int, int] | None = None
        self._split_version = -1

    def add(self, order: Order) -> None:
        cid = order.client_order_id
        if cid in self._live or cid in self._done:
            raise IllegalTransition(f"duplicate client order id {cid}")
        self._live[cid] = order
        self.version += 1

    def get(self, client_order_id: int) -> Order | None:
        order = self._live.get(client_order_id)
        return order if order is not None else self._done.get(client_order_id)

    def live(self) -> Iterator[Order]:
        return iter(list(self._live.values()))

    def live_list(self) -> list[Order]:
        """Snapshot of the live orders (safe to iterate while the table changes)."""
        return list(self._live.values())

    def live_by_side(self) -> tuple[list[Order], list[Order], int, int]:
        """Live bids, live asks (each in placement order) and their unfilled lots.

        Every change to an order bumps `version`, so the split is kept until the next change;
        the lists are shared and must not be modified.
        """
        split = self._split
        if split is not None and self._split_version == self.version:
            return split
        bids: list[Order] = []
        asks: list[Order] = []
        bid_lots = ask_lots = 0
        for o in self._live.values():
            if o.side is Side.BUY:
                bids.append(o)
                bid_lots += o.size_lots - o.filled_lots
            else:
                asks.append(o)
                ask_lots += o.size_lots - o.filled_lots
        split = self._split = (bids, asks, bid_lots, ask_lots)
        self._split_version = self.version
        return split

    def live_count(self) -> int:
        return len(self._live)

    def on_side(self, side: Side) -> list[Order]:
        return [o for o in self._live.values() if o.side is side]

    def accept(self, cid: int, venue_order_id: str, ts_ns: int) -> Order | None:
        order = self.get(cid)
        if order is None:
            return None
        if venue_order_id and venue_order_id != "0x00":
            order.venue_order_id = venue_order_id
        if order.status is OrderStatus.PENDING:
            self._move(order, OrderStatus.OPEN, ts_ns)
            order.accepted_ns = ts_ns
            self.version += 1
        # An ack after a fill or cancel is stale news; it changes nothing.
        return order

    def fill(self, cid: int, lots: int, ts_ns: int) -> Order | None:
        order = self.get(cid)
        if order is None:
            return None
        if lots <= 0 or lots > order.leaves_lots:
            raise IllegalTransition(f"{order}: fill of {lots} lots exceeds leaves")
        order.filled_lots += lots
        new = OrderStatus.FILLED if order.leaves_lots == 0 else OrderStatus.PARTIALLY_FILLED
        self._move(order, new, ts_ns)
        return order

    def cancel(self, cid: int, ts_ns: int) -> Order | None:
        order = self.get(cid)
        if order is None or order.status in (OrderStatus.CANCELLED, OrderStatus.FILLED):
            return order  # duplicate delivery, or the fill won the race: nothing to change
        self._move(order, OrderStatus.CANCELLED, ts_ns)
        return order

    def reject(self, cid: int, ts_ns: int) -> Order | None:
        order = self.get(cid)
        if order is None or order.status is OrderStatus.REJECTED:
            return order
        self._move(order, OrderStatus.REJECTED, ts_ns)
        return order

    def request_cancel(self, cid: int, ts_ns: int) -> None:
        order = self._live.get(cid)
        if order is not None and order.cancel_requested_ns == 0:
            order.cancel_requested_ns = ts_ns
            self.version += 1

    def cancel_failed(self, cid: int) -> None:
        """A cancel was refused: the order may still be working, so allow another attempt."""
        order = self._live.get(cid)
        if order is not None:
            order.cancel_requested_ns = 0
            self.version += 1

    def forget_all(self, ts_ns: int) -> list[Order]:
        """Mark every live order cancelled (after the venue confirms none are open)."""
        gone = list(self._live.values())
        for order in gone:
            self._move(order, OrderStatus.CANCELLED, ts_ns)
        return gone

    def _move(self, order: Order, new: OrderStatus, ts_ns: int) -> None:
        if new not in TRANSITIONS[order.status]:
            raise IllegalTransition(f"{order}: {order.status.value} -> {new.value}")
        order.status = new
        order.updated_ns = ts_ns
        self.version += 1
        if new.terminal:
            cid = order.client_order_id
            self._live.pop(cid, None)
            self._done[cid] = order
            if len(self._done) > self._history:
                self._done.popitem(last=False)


class ClientIdGenerator:
    """Unique numeric client order ids in GRVT's API range [2^63, 2^64).

    Ids count up from 2^63 + the start time in ns, so ids stay unique across restarts.
    """

    __slots__ = ("_next",)

    def __init__(self, start_ns: int) -> None:
        if start_ns < 0:
            raise ValueError("start_ns must be >= 0")
        self._next = CLIENT_ID_MIN + (start_ns % (CLIENT_ID_MAX - CLIENT_ID_MIN - 2**40))

    def peek(self) -> int:
        """The id `next()` will hand out (every id issued so far is smaller)."""
        return self._next

    def next(self) -> int:
        cid = self._next
        self._next += 1
        return cid
