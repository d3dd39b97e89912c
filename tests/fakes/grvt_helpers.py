"""Shared pieces of the GRVT venue tests: settings for the fake server, a venue or a whole
node running against it, order builders and checks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import anyio

from fakes import eventually
from fakes.grvt_server import API_KEY, PRIVATE_KEY, FakeGrvtServer
from grvtmm.core.clock import LiveClock
from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    EngineMode,
    Event,
    OrderFilled,
    StartRequested,
    StopRequested,
)
from grvtmm.core.orders import CLIENT_ID_MIN
from grvtmm.core.types import Instrument, Side, TimeInForce
from grvtmm.engine.engine import Engine, EngineSettings
from grvtmm.node import Node
from grvtmm.strategy.factory import build_strategy
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.grvt.venue import GrvtConfig, GrvtVenue
from grvtmm.venues.sim.synthetic import SyntheticParams

INST = Instrument(
    symbol="BNB_USDT_Perp",
    tick_size=Decimal("0.01"),
    size_step=Decimal("0.01"),
    min_size=Decimal("0.01"),
    min_notional=Decimal("5"),
    base_decimals=9,
    asset_id="0x030b01",
)
FAST = SyntheticParams(
    book_update_hz=50.0, trade_rate_per_s=20.0, depth_levels=10, depth_top_lots=20.0
)


def grvt_config(server: FakeGrvtServer, **overrides: Any) -> GrvtConfig:
    url = server.base_url
    settings: dict[str, Any] = {
        "env": "testnet",
        "api_key": API_KEY,
        "api_secret": PRIVATE_KEY,
        "edge_url": url,
        "trades_url": url,
        "market_data_url": url,
        "trades_ws_url": server.ws_url,
        "market_data_ws_url": server.ws_url,
        "cod_heartbeat_s": 1.0,
        "account_poll_s": 0.2,
        "rest_poll_s": 0.1,
        "private_quiet_s": 1.0,
    }
    settings.update(overrides)
    return GrvtConfig(**settings)


class Collected:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@contextlib.asynccontextmanager
async def venue_on(
    server: FakeGrvtServer, **overrides: Any
) -> AsyncIterator[tuple[GrvtVenue, Collected]]:
    venue = GrvtVenue(grvt_config(server, **overrides), "bnb-usdt-perp", LiveClock())
    got = Collected()

    async def pump() -> None:
        async for event in venue.events():
            got.events.append(event)

    await venue.connect()
    task = asyncio.get_running_loop().create_task(pump())
    try:
        yield venue, got
    finally:
        await venue.close()
        with anyio.fail_after(5):
            await task


_cids = iter(range(CLIENT_ID_MIN + 1, CLIENT_ID_MIN + 10_000))


def taker(venue: GrvtVenue, server: FakeGrvtServer, through_ticks: int = 5) -> PlaceOrder:
    """A buy IOC priced `through_ticks` above the best ask."""
    ask = server.exchange.matching.book.best_ask
    cmd = quote(venue, server, Side.BUY, 0)
    return replace(cmd, price_ticks=ask + through_ticks, post_only=False, tif=TimeInForce.IOC)


def crossing(venue: GrvtVenue, server: FakeGrvtServer) -> PlaceOrder:
    """A post-only buy priced above the best ask."""
    return replace(taker(venue, server), post_only=True, tif=TimeInForce.GTT)


def quote(venue: GrvtVenue, server: FakeGrvtServer, side: Side, away_ticks: int) -> PlaceOrder:
    book = server.exchange.matching.book
    price = book.best_bid - away_ticks if side is Side.BUY else book.best_ask + away_ticks
    return PlaceOrder(
        ts_ns=0,
        client_order_id=next(_cids),
        symbol=venue.instrument.symbol,
        side=side,
        price_ticks=price,
        size_lots=10,
    )


class Recorder:
    """A sink keeping everything the node publishes."""

    name = "recorder"
    dropped = 0

    def __init__(self) -> None:
        self.items: list[Any] = []

    def publish(self, item: Any) -> None:
        self.items.append(item)

    def of(self, kind: type) -> list[Any]:
        return [i for i in self.items if isinstance(i, kind)]


QUICK = StrategyConfig(
    strategy="fixed-spread",
    symbol="BNB_USDT_Perp",
    half_spread_ticks=1.0,
    order_qty=0.1,
    step_ms=50,
    min_order_age_s=0.2,
    max_order_age_s=5.0,
    max_drawdown=0.5,
    max_inventory_ratio=0.9,
    one_sided_enter=0.6,
    one_sided_exit=0.3,
)


@contextlib.asynccontextmanager
async def node_on(
    server: FakeGrvtServer, settings: EngineSettings | None = None, **overrides: Any
) -> AsyncIterator[tuple[Node, GrvtVenue, Recorder]]:
    clock = LiveClock()
    budget = {"order_rate_per_s": 50.0, "order_burst": 20.0}
    venue = GrvtVenue(grvt_config(server, **budget, **overrides), "BNB_USDT_Perp", clock)
    inst = await venue.prepare()
    fees = venue.fees
    engine = Engine(
        instrument=inst,
        config=QUICK,
        strategy_factory=lambda cfg: build_strategy(cfg, inst, fees),
        fees=fees,
        settings=settings or EngineSettings(),
        start_ns=clock.now_ns(),
    )
    recorder = Recorder()
    node = Node(engine, venue, clock, sinks=[recorder], timer_interval_ns=50_000_000)
    task = asyncio.get_running_loop().create_task(node.run())
    try:
        yield node, venue, recorder
    finally:
        await node.close()
        with anyio.fail_after(5):
            await task


def mode(node: Node) -> EngineMode:
    return node.engine.mode


def quoting_both_sides(node: Node) -> bool:
    sides = {o.side for o in node.engine.orders.live() if o.status.value == "open"}
    return mode(node) is EngineMode.RUNNING and sides == {Side.BUY, Side.SELL}


async def start(node: Node) -> None:
    now = node.clock.now_ns()
    await node.submit(StartRequested(ts_ns=now, local_ns=now))
    await eventually(lambda: quoting_both_sides(node), 10)


async def stop_and_check_flat(node: Node, server: FakeGrvtServer) -> None:
    now = node.clock.now_ns()
    await node.submit(StopRequested(ts_ns=now, local_ns=now))
    await eventually(lambda: mode(node) is EngineMode.STOPPED, 15)
    await eventually(lambda: not server.exchange.open_orders())
    assert server.exchange.matching.position_lots == 0
    assert node.engine.position_lots == 0


def fills_once(recorder: Recorder, server: FakeGrvtServer) -> None:
    ids = [f.trade_id for f in recorder.of(OrderFilled)]
    assert len(ids) == len(set(ids)), "a fill was reported twice"
    assert sorted(ids) == sorted(f["trade_id"] for f in server.exchange.fills)
