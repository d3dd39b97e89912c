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


@dataclass(slots=True)
class SidePlan:
    places: list[Placement]
    cancels: list[Cancellation]


def _age_ns(order: Order, now_ns: int) -> int:
    return now_ns - (order.accepted_ns or order.created_ns)


def _cancellable(order: Order) -> bool:
    return order.cancel_requested_ns == 0 and order.status in (
        OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED,
    )


def _size_ok(order: Order, target: Quote, params: RequoteParams) -> bool:
    return abs(order.leaves_lots - target.size_lots) <= params.size_tolerance * target.size_lots


def plan_side(
    side: Side,
    target: Quote | None,
    live: list[Order],
    params: RequoteParams,
    now_ns: int,
) -> SidePlan:
    """Commands for one side. `live` are our non-terminal orders on that side."""
    plan = SidePlan([], [])
    working = [o for o in live if o.cancel_requested_ns == 0]
    if target is None:
        plan.cancels.extend(
            Cancellation(o.client_order_id, "side_off") for o in working if _cancellable(o)
        )
        return plan
    keeper = _find_keeper(working, target, params, now_ns)
    if keeper is not None:
        for o in working:
            if o is not keeper and _cancellable(o):
                plan.cancels.append(Cancellation(o.client_order_id, "duplicate"))
        return plan
    current = _current(working)
    reason = "missing"
    if current is not None:
        reason = _replace_reason(side, current, target, params, now_ns)
        if not reason:
            return plan  # debounce: keep the current order for now
    if len(live) < MAX_LIVE_PER_SIDE:
        plan.places.append(Placement(side, target.price_ticks, target.size_lots, reason))
    for o in working:
        if _cancellable(o):
            plan.cancels.append(Cancellation(o.client_order_id, reason))
    return plan


def _find_keeper(
    working: list[Order], target: Quote, params: RequoteParams, now_ns: int
) -> Order | None:
    best: Order | None = None
    best_dist = params.price_tolerance_ticks + 1
    for o in working:
        dist = abs(o.price_ticks - target.price_ticks)
        if dist >= best_dist or not _size_ok(o, target, params):
            continue
        if params.max_order_age_ns and _age_ns(o, now_ns) >= params.max_order_age_ns:
            continue
        best, best_dist = o, dist
    return best


def _current(working: list[Order]) -> Order | None:
    """The newest working order (the one a replacement supersedes)."""
    return max(working, key=lambda o: o.created_ns, default=None)


def _replace_reason(
    side: Side, current: Order, target: Quote, params: RequoteParams, now_ns: int
) -> str:
    """Why `current` must be replaced now, or "" to keep it until the debounce allows."""
    moved_away = (
        target.price_ticks < current.price_ticks
        if side is Side.BUY
        else target.price_ticks > current.price_ticks
    )
    if moved_away and current.price_ticks != target.price_ticks:
        return "away"
    old_enough = _age_ns(current, now_ns) >= params.min_order_age_ns
    if params.max_order_age_ns and _age_ns(current, now_ns) >= params.max_order_age_ns:
        return "max_age"
    if not old_enough:
        return ""
    if current.price_ticks != target.price_ticks:
        return "toward"
    return "size"
