"""Engine snapshots rendered for the API: prices and sizes in venue units, never ticks."""

from __future__ import annotations

import math
from typing import Any

from grvtmm.core.types import Instrument
from grvtmm.engine.engine import EngineSnapshot


def engine_view(snap: EngineSnapshot, instrument: Instrument) -> dict[str, Any]:
    tick = instrument.tick_f
    target = snap.target
    orders = [
        {
            "client_order_id": str(o.client_order_id),
            "side": o.side.name.lower(),
            "price": instrument.price_str(o.price_ticks),
            "size": instrument.size_str(o.size_lots),
            "filled": instrument.size_str(o.filled_lots),
            "status": o.status.value,
            "reason": o.reason,
            "created_ns": o.created_ns,
            "reduce_only": o.reduce_only,
        }
        for o in snap.open_orders
    ]
    return {
        "mode": snap.mode.value,
        "symbol": snap.symbol,
        "position": float(instrument.lots_to_size(snap.position_lots)),
        "mid": snap.mid_ticks * tick if snap.mid_ticks else None,
        "equity": _finite(snap.equity),
        "free_margin": _finite(snap.free_margin),
        "session_pnl": _finite(snap.session_pnl),
        "inventory_notional": snap.inventory_notional,
        "open_orders": orders,
        "target": None
        if target is None
        else {
            "bid": instrument.price_str(target.bid.price_ticks) if target.bid else None,
            "ask": instrument.price_str(target.ask.price_ticks) if target.ask else None,
            "reason": target.reason,
            "one_sided": target.diagnostics.one_sided if target.diagnostics else "",
        },
        "breakers": [
            {"name": b.breaker.value, "value": b.value, "limit": b.limit, "tripped": b.tripped}
            for b in snap.breakers
        ],
        "flatten": {"phase": snap.flatten_phase, "attempts": snap.flatten_attempts},
        "connected": snap.connected,
        "book_ok": snap.book_ok,
        "last_market_ns": snap.last_market_ns,
    }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
