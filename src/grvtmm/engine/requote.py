"""Desired quotes vs resting orders → the fewest commands, per side, with a reason for each.

Rules (per side): keep a working order within tolerance of the target; a target further from
the mid replaces at once (safety); a target nearer the mid, or a new size, waits until the
order is `min_order_age` old (debounce against flicker); orders older than `max_order_age` are
refreshed. The new order is placed before the old one is cancelled, so the side stays on the
book. Orders not yet acknowledged are not cancelled (the cancel could overtake them): a
replacement is placed alongside and the old order is cancelled once its ack arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

from grvtmm.core.orders import Order, OrderStatus
from grvtmm.core.types import Side
from grvtmm.strategy.base import Quote, RequoteParams

MAX_LIVE_PER_SIDE = 3
"""Never stack more than this many live orders on one side (replacements in flight)."""


@dataclass(frozen=True, slots=True)
class Placement:
    side: Side
    price_ticks: int
    size_lots: int
    reason: str


@dataclass(frozen=True, slots=True)
class Cancellation:
    client_order_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class SidePlan:
    places: tuple[Placement, ...]
    cancels: tuple[Cancellation, ...]


NOTHING = SidePlan((), ())
"""The plan of a side that is where it should be (shared: plans are immutable)."""


def _cancellable(order: Order) -> bool:
    return order.cancel_requested_ns == 0 and order.status in (
        OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED,
    )


def plan_side(
    side: Side,
    target: Quote | None,
    live: list[Order],
    params: RequoteParams,
    now_ns: int,
) -> SidePlan:
    """Commands for one side. `live` are our non-terminal orders on that side; orders with a
    cancel in flight no longer count as working."""
    if target is None:
        off = tuple([Cancellation(o.client_order_id, "side_off") for o in live if _cancellable(o)])
        return SidePlan((), off) if off else NOTHING
    # One pass over the working orders finds the keeper (the closest order within the price
    # tolerance, of an acceptable size and not too old; the first one on ties) and the newest
    # order (the one a replacement supersedes; also the first one on ties).
    price = target.price_ticks
    size_slack = params.size_tolerance * target.size_lots
    max_age = params.max_order_age_ns
    keeper: Order | None = None
    best_dist = params.price_tolerance_ticks + 1
    current: Order | None = None
    working = 0
    for o in live:
        if o.cancel_requested_ns:
            continue
        working += 1
        if current is None or o.created_ns > current.created_ns:
            current = o
        dist = abs(o.price_ticks - price)
        if dist >= best_dist or abs(o.size_lots - o.filled_lots - target.size_lots) > size_slack:
            continue
        if max_age and now_ns - (o.accepted_ns or o.created_ns) >= max_age:
            continue
        keeper, best_dist = o, dist
    if keeper is not None:
        if working == 1:
            return NOTHING
        extra = tuple(
            [
                Cancellation(o.client_order_id, "duplicate")
                for o in live
                if o is not keeper and _cancellable(o)
            ]
        )
        return SidePlan((), extra) if extra else NOTHING
    reason = "missing"
    if current is not None:
        # Why `current` must be replaced now; a move toward the mid or a new size waits
        # until the order is old enough (debounce).
        current_price = current.price_ticks
        age = now_ns - (current.accepted_ns or current.created_ns)
        away = price < current_price if side is Side.BUY else price > current_price
        if away:
            reason = "away"
        elif max_age and age >= max_age:
            reason = "max_age"
        elif age < params.min_order_age_ns:
            return NOTHING  # debounce: keep the current order for now
        elif current_price != price:
            reason = "toward"
        else:
            reason = "size"
    places: tuple[Placement, ...] = (Placement(side, price, target.size_lots, reason),)
    if len(live) >= MAX_LIVE_PER_SIDE:
        places = ()
    cancels = tuple([Cancellation(o.client_order_id, reason) for o in live if _cancellable(o)])
    return SidePlan(places, cancels) if places or cancels else NOTHING
