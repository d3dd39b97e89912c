"""Commands: imperative requests from the engine to a venue.

Instances are never mutated after construction (they are shared by the engine, the venue and
every sink); they are plain slotted dataclasses rather than frozen ones because frozen
construction costs several times more on the hot path (and keyword arguments about twice what
positional ones do, hence the positional fields of the orders the engine sends most).
"""

from __future__ import annotations

from dataclasses import dataclass

from grvtmm.core.types import Side, TimeInForce


@dataclass(slots=True, kw_only=True)
class Command:
    ts_ns: int


@dataclass(slots=True)
class PlaceOrder(Command):
    """Limit order. Quotes are post-only GTT; flatten orders are reduce-only IOC.

    Its own fields may also be passed by position (the engine does, on the hot path);
    `ts_ns` stays keyword-only.
    """

    client_order_id: int
    symbol: str
    side: Side
    price_ticks: int
    size_lots: int
    post_only: bool = True
    reduce_only: bool = False
    tif: TimeInForce = TimeInForce.GTT
    expiration_ns: int = 0
    reason: str = ""


@dataclass(slots=True)
class CancelOrder(Command):
    """Cancel one order. Fields may also be passed by position; `ts_ns` is keyword-only."""

    client_order_id: int
    symbol: str
    reason: str = ""


@dataclass(slots=True, kw_only=True)
class CancelAll(Command):
    symbol: str
    reason: str = ""


@dataclass(slots=True, kw_only=True)
class Reconcile(Command):
    """Ask the venue for a `ReconcileSnapshot` (open orders, position, account)."""

    symbol: str
