"""Figures for the dashboard: summary, time series, orders and fills (paged, latest first)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from grvtmm.api.deps import AuthDep, ServicesDep
from grvtmm.api.views import engine_view

router = APIRouter(prefix="/api/monitor", tags=["monitor"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("/summary")
def summary(_: AuthDep, services: ServicesDep) -> dict[str, Any]:
    """Current session: runtime, equity, position, volume, PnL, fees vs rebates, wear, rates."""
    return services.monitor.summary()


@router.get("/series")
def series(
    _: AuthDep,
    services: ServicesDep,
    start_ns: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    end_ns: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    max_points: Annotated[int, Query(ge=2, le=5000)] = 500,
) -> dict[str, Any]:
    """Equity, inventory, mid, our bid/ask and volume, downsampled to at most `max_points`."""
    if services.series is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "series are not recorded")
    result: dict[str, Any] = services.series.query(start_ns, end_ns, max_points)
    return result


@router.get("/orders")
def orders(
    _: AuthDep, services: ServicesDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """Open orders (from the engine) and order history (from the store), latest first."""
    engine = services.node.engine
    open_orders = engine_view(services.node.snapshot(), engine.instrument)["open_orders"]
    history: list[dict[str, Any]] = []
    total = 0
    if services.store is not None:
        history, total = services.store.orders_page(limit=limit, offset=offset)
    return {"open": open_orders, "items": history, "total": total, "limit": limit, "offset": offset}


@router.get("/fills")
def fills(
    _: AuthDep, services: ServicesDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """Fills with price, size, fee and fee side (rebate or cost), latest first."""
    items: list[dict[str, Any]] = []
    total = 0
    if services.store is not None:
        items, total = services.store.fills_page(limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}
