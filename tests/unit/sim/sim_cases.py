"""Shared builders for the simulated-exchange tests: orders, book deltas and trades."""

from __future__ import annotations

from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import BookDelta, Trade
from grvtmm.core.types import Side, TimeInForce

SYMBOL = "BTC_USDT_Perp"


def place(
    cid: int,
    side: Side,
    price: int,
    lots: int = 2,
    *,
    post_only: bool = True,
    reduce_only: bool = False,
    tif: TimeInForce = TimeInForce.GTT,
) -> PlaceOrder:
    return PlaceOrder(
        ts_ns=0,
        client_order_id=cid,
        symbol=SYMBOL,
        side=side,
        price_ticks=price,
        size_lots=lots,
        post_only=post_only,
        reduce_only=reduce_only,
        tif=tif,
    )


def bids(ts: int, *levels: tuple[int, int]) -> BookDelta:
    return BookDelta(ts_ns=ts, local_ns=ts, symbol=SYMBOL, bids=levels, asks=())


def asks(ts: int, *levels: tuple[int, int]) -> BookDelta:
    return BookDelta(ts_ns=ts, local_ns=ts, symbol=SYMBOL, bids=(), asks=levels)


def trade(ts: int, price: int, lots: int, aggressor: Side) -> Trade:
    return Trade(
        ts_ns=ts, local_ns=ts, symbol=SYMBOL, price_ticks=price, size_lots=lots, aggressor=aggressor
    )
