"""GrvtVenue against the fake GRVT server on loopback: the venue alone, then engine + node."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import anyio
import pytest

from fakes import eventually
from fakes.grvt_server import API_KEY, PRIVATE_KEY, FakeGrvtServer
from grvtmm.core.clock import LiveClock
from grvtmm.core.commands import CancelAll, CancelOrder, PlaceOrder, Reconcile
from grvtmm.core.events import (
    AccountUpdate,
    BookSnapshot,
    BreakerTripped,
    EngineMode,
    EngineWarning,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    ReconcileSnapshot,
    StartRequested,
    StopRequested,
    Ticker,
    VenueError,
    VenueErrorKind,
    VenueStatus,
)
from grvtmm.core.orders import CLIENT_ID_MIN
from grvtmm.core.types import Instrument, Side, TimeInForce
from grvtmm.engine.engine import Engine, EngineSettings
from grvtmm.node import Node
from grvtmm.strategy.factory import build_strategy
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.grvt.check import run_check
from grvtmm.venues.grvt.errors import InstrumentConstraintsMissing
from grvtmm.venues.grvt.venue import GrvtConfig, GrvtVenue
from grvtmm.venues.sim.synthetic import SyntheticParams

pytestmark = pytest.mark.anyio

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


async def test_connect_streams_book_and_account() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            assert venue.instrument.symbol == "BNB_USDT_Perp"
            assert venue.instrument.asset_id == "0x030b01"
            assert venue.rest.sub_account_id  # learnt from the login response
            await eventually(lambda: bool(got.of(BookSnapshot)) and bool(got.of(AccountUpdate)))
            status = got.of(VenueStatus)[0]
            assert status.connected and status.book_ok
            assert got.of(AccountUpdate)[0].equity == pytest.approx(1000.0)
            await eventually(lambda: server.exchange.cod_deadline_ns > 0)


async def test_post_only_quote_is_accepted_then_cancelled_by_client_id() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            cmd = quote(venue, server, Side.BUY, 30)
            await venue.execute(cmd)
            await eventually(lambda: bool(got.of(OrderAccepted)))
            accepted = got.of(OrderAccepted)[0]
            assert accepted.client_order_id == cmd.client_order_id
            assert accepted.venue_order_id.startswith("0x") and accepted.venue_order_id != "0x00"
            await venue.execute(
                CancelOrder(ts_ns=0, client_order_id=cmd.client_order_id, symbol=cmd.symbol)
            )
            await eventually(lambda: bool(got.of(OrderCanceled)))
            assert got.of(OrderCanceled)[0].reason == "client_cancel"


async def test_crossing_post_only_and_async_rejects_become_order_rejected() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            crossing_order = crossing(venue, server)
            await venue.execute(crossing_order)
            await eventually(lambda: len(got.of(OrderRejected)) == 1)
            server.exchange.faults.async_post_only_rejects = 1
            passive = quote(venue, server, Side.SELL, 40)
            await venue.execute(passive)
            await eventually(lambda: len(got.of(OrderRejected)) == 2)
            reasons = {e.client_order_id: e.reason for e in got.of(OrderRejected)}
            assert reasons == {
                crossing_order.client_order_id: "FAIL_POST_ONLY",
                passive.client_order_id: "FAIL_POST_ONLY",
            }
            assert not got.of(OrderAccepted)


async def test_synchronous_reject_carries_the_exchange_code() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            tiny = quote(venue, server, Side.BUY, 30)
            tiny = replace(tiny, price_ticks=100)  # 1 USDT × 0.01 BNB: below the 5 USDT minimum
            await venue.execute(tiny)
            await eventually(lambda: bool(got.of(OrderRejected)))
            rejected = got.of(OrderRejected)[0]
            assert (rejected.reason, rejected.code) == ("notional_below_min", 2066)
            assert not got.of(VenueError)  # a refusal is not a venue failure


async def test_missing_instrument_constraints_block_placement() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server:
            venue = GrvtVenue(grvt_config(server), "ODD_USDT_Perp", LiveClock())
            with pytest.raises(InstrumentConstraintsMissing) as info:
                await venue.prepare()
            assert info.value.reason == "instrument_constraints_missing"
            with pytest.raises(InstrumentConstraintsMissing):
                _ = venue.instrument
            await venue.close()


async def test_rate_limit_storm_backs_off_and_recovers() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            server.exchange.faults.rest_script = [(429, 1006)] * 3
            cmd = quote(venue, server, Side.SELL, 30)
            await venue.execute(cmd)
            await eventually(lambda: bool(got.of(OrderAccepted)))
            assert venue.http.stats.rate_limited == 3
            assert venue.http.stats.retries >= 3
            assert not got.of(OrderRejected)


async def test_expired_session_logs_in_again() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            logins = server.logins
            server.expire_sessions()
            await venue.execute(quote(venue, server, Side.BUY, 30))
            await eventually(lambda: bool(got.of(OrderAccepted)))
            assert server.logins == logins + 1
            assert venue.http.stats.relogins == 1


async def test_cancel_on_disconnect_firing_cancels_resting_quotes() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            await venue.execute(quote(venue, server, Side.BUY, 30))
            await eventually(lambda: bool(got.of(OrderAccepted)))
            server.fire_cancel_on_disconnect()
            await eventually(lambda: bool(got.of(OrderCanceled)))
            assert got.of(OrderCanceled)[0].reason == "client_cancel_on_disconnect_triggered"
            assert server.exchange.cod_fired == 1
            await eventually(lambda: server.exchange.cod_deadline_ns > 0)  # re-armed


async def test_book_stream_failure_falls_back_to_ticker_then_recovers() -> None:
    with anyio.fail_after(20):
        async with FakeGrvtServer(INST, params=FAST) as server:
            server.exchange.faults.book_subscribe_error = True
            async with venue_on(server, book_silence_s=0.3) as (_venue, got):
                await eventually(lambda: any(not s.book_ok for s in got.of(VenueStatus)))
                await eventually(lambda: len(got.of(Ticker)) >= 3)
                assert not got.of(BookSnapshot)
                server.exchange.faults.book_subscribe_error = False
                await eventually(lambda: bool(got.of(BookSnapshot)))
                assert got.of(VenueStatus)[-1].book_ok


async def test_reconcile_reports_orders_position_and_account() -> None:
    with anyio.fail_after(20):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            resting = quote(venue, server, Side.SELL, 40)
            ioc = taker(venue, server)
            await venue.execute(resting)
            await venue.execute(ioc)
            await eventually(lambda: bool(got.of(OrderFilled)) and bool(got.of(OrderAccepted)))
            await venue.execute(Reconcile(ts_ns=0, symbol=venue.instrument.symbol))
            await eventually(lambda: bool(got.of(ReconcileSnapshot)))
            snap = got.of(ReconcileSnapshot)[0]
            assert [o.client_order_id for o in snap.open_orders] == [resting.client_order_id]
            assert snap.open_orders[0].leaves_lots == 10
            filled = sum(f.size_lots for f in got.of(OrderFilled))
            assert snap.position_lots == server.exchange.matching.position_lots == filled > 0
            assert snap.equity > 0
            await venue.execute(CancelAll(ts_ns=0, symbol=venue.instrument.symbol))
            await eventually(
                lambda: (
                    resting.client_order_id in {e.client_order_id for e in got.of(OrderCanceled)}
                )
            )
            assert not server.exchange.open_orders()


# ---- engine + node + GRVT venue + fake server ----------------------------------------------
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


async def test_quotes_fill_requote_and_stop_flattens_to_zero() -> None:
    with anyio.fail_after(40):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server) as (
                node,
                _venue,
                rec,
            ),
        ):
            await start(node)
            await eventually(lambda: len(rec.of(OrderFilled)) >= 2, 20)
            placed_before = len(rec.of(PlaceOrder))
            await eventually(lambda: len(rec.of(PlaceOrder)) > placed_before + 2, 10)
            await eventually(lambda: quoting_both_sides(node), 10)
            assert all(p.post_only and p.tif is TimeInForce.GTT for p in rec.of(PlaceOrder))
            await stop_and_check_flat(node, server)
            flatten = [p for p in rec.of(PlaceOrder) if p.reduce_only]
            if server.exchange.fills and any(not f["is_taker"] for f in server.exchange.fills):
                assert all(p.tif is TimeInForce.IOC for p in flatten)
            fills_once(rec, server)


async def test_stream_drop_reconnects_without_duplicate_fills_and_relogs_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(40):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server) as (
                node,
                venue,
                rec,
            ),
        ):
            await start(node)
            await eventually(lambda: len(rec.of(OrderFilled)) >= 1, 20)
            assert venue.market is not None and venue.private is not None
            server.expire_sessions()  # the private stream must log in again to reconnect
            await server.drop_streams()
            await eventually(lambda: venue.market.stream.stats.connects >= 2, 10)  # type: ignore[union-attr]
            await eventually(lambda: venue.private.stream.stats.connects >= 2, 10)  # type: ignore[union-attr]
            assert any(not s.connected for s in rec.of(VenueStatus))
            fills = len(rec.of(OrderFilled))
            await eventually(lambda: len(rec.of(OrderFilled)) > fills, 20)
            await eventually(lambda: quoting_both_sides(node), 10)
            await stop_and_check_flat(node, server)
            fills_once(rec, server)
            assert venue.http.stats.relogins + venue.http.stats.logins >= 2
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert logged  # the run did log (at DEBUG, including the libraries)
    for secret in (API_KEY, PRIVATE_KEY[2:], "gravity=session", *server.sessions):
        assert secret not in logged


async def test_book_gap_resubscribes_while_quoting_continues() -> None:
    with anyio.fail_after(30):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server) as (
                node,
                venue,
                rec,
            ),
        ):
            await start(node)
            server.exchange.faults.gap_next_book = 1
            assert venue.market is not None
            await eventually(lambda: venue.market.stream.stats.gaps == 1)  # type: ignore[union-attr]
            await eventually(lambda: len(rec.of(BookSnapshot)) >= 2)
            warnings = [w.code for w in rec.of(EngineWarning)]
            assert "book_gap" in warnings
            assert node.engine.book.valid
            await eventually(lambda: quoting_both_sides(node), 10)
            await stop_and_check_flat(node, server)


async def test_post_only_rejects_are_counted_by_the_storm_breaker() -> None:
    settings = EngineSettings(post_only_storm_count=4, post_only_storm_ratio=0.5)
    with anyio.fail_after(30):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server, settings) as (
                node,
                _venue,
                rec,
            ),
        ):
            await start(node)
            server.exchange.faults.async_post_only_rejects = 1000
            await eventually(lambda: bool(rec.of(BreakerTripped)), 20)
            assert rec.of(BreakerTripped)[0].breaker == "reject_storm"
            rejects = [r.reason for r in rec.of(OrderRejected)]
            assert len(rejects) >= 4 and set(rejects) == {"FAIL_POST_ONLY"}
            await eventually(lambda: mode(node) is EngineMode.HALTED, 15)
            assert server.exchange.matching.position_lots == 0


async def test_restart_cancels_unknown_orders_and_adopts_the_position() -> None:
    with anyio.fail_after(40):
        async with FakeGrvtServer(INST, params=FAST) as server:
            async with venue_on(server) as (venue, got):
                await eventually(lambda: bool(got.of(BookSnapshot)))
                left = quote(venue, server, Side.SELL, 40)
                ioc = taker(venue, server)
                await venue.execute(left)
                await venue.execute(ioc)
                await eventually(lambda: bool(got.of(OrderFilled)) and bool(got.of(OrderAccepted)))
            position = server.exchange.matching.position_lots
            assert position > 0 and server.exchange.open_orders()
            async with node_on(server) as (node, _venue, rec):
                now = node.clock.now_ns()
                await node.submit(StartRequested(ts_ns=now, local_ns=now))
                await eventually(lambda: mode(node) is EngineMode.RUNNING, 10)
                cancels = [c.client_order_id for c in rec.of(CancelOrder)]
                assert left.client_order_id in cancels
                await eventually(
                    lambda: (
                        left.client_order_id
                        not in {
                            int(o["metadata"]["client_order_id"])
                            for o in server.exchange.open_orders()
                        }
                    )
                )
                snap = rec.of(ReconcileSnapshot)[0]
                assert snap.position_lots == position
                assert node.engine.position_lots == server.exchange.matching.position_lots
                assert not [
                    f
                    for f in rec.of(OrderFilled)
                    if f.trade_id in {e.trade_id for e in got.of(OrderFilled)}
                ]
                await stop_and_check_flat(node, server)


# ---- grvt-mm check ------------------------------------------------------------------------------
async def test_check_reports_login_equity_constraints_and_dead_man_switch() -> None:
    with anyio.fail_after(20):
        async with FakeGrvtServer(INST, params=FAST) as server:
            lines = await run_check(
                grvt_config(server), ["bnb-usdt-perp", "ODD_USDT_Perp"], LiveClock()
            )
            text = "\n".join(lines)
            assert [line[:4] for line in lines].count("FAIL") == 1, text
            assert any(line.startswith("ok   login: trading account") for line in lines)
            assert any("equity 1000.00 USDT" in line for line in lines)
            assert any("BNB_USDT_Perp: tick 0.01, size step 0.01" in line for line in lines)
            odd = next(line for line in lines if "ODD_USDT_Perp" in line)
            assert odd.startswith("FAIL") and "min_notional" in odd and "blocked" in odd
            assert any("market stream" in line and line.startswith("ok") for line in lines)
            assert any("cancel-on-disconnect: armed (15 s) and disarmed" in line for line in lines)
            assert server.exchange.cod_deadline_ns == 0  # left disarmed
            assert API_KEY not in text and PRIVATE_KEY[2:] not in text


async def test_check_explains_a_refused_key_in_one_line() -> None:
    with anyio.fail_after(20):
        async with FakeGrvtServer(INST, params=FAST) as server:
            config = replace(grvt_config(server), api_key="not-the-key")
            lines = await run_check(config, ["BNB_USDT_Perp"], LiveClock())
            login = next(line for line in lines if "login" in line)
            assert login.startswith("FAIL login: the API key was refused")
            assert "not-the-key" not in "\n".join(lines)
            assert not any("cancel-on-disconnect" in line for line in lines)


async def test_slow_answers_time_out_are_retried_and_a_lost_create_is_cancelled() -> None:
    with anyio.fail_after(30):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            venue_on(server, http_timeout_s=0.2) as (venue, got),
        ):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            server.exchange.faults.slow_rest_s = 0.4
            cmd = quote(venue, server, Side.BUY, 30)
            await venue.execute(cmd)
            await eventually(lambda: bool(got.of(OrderRejected)), 15)
            rejected = got.of(OrderRejected)[0]
            assert (rejected.client_order_id, rejected.reason) == (
                cmd.client_order_id,
                "timeout",
            )
            assert any(e.kind is VenueErrorKind.RETRYABLE for e in got.of(VenueError))
            assert venue.http.stats.timeouts >= 4 and venue.http.stats.retries >= 3
            server.exchange.faults.slow_rest_s = 0.0
            # the exchange did take the order in the end: the TTL cancel removed it
            await eventually(lambda: not server.exchange.open_orders(), 10)
            assert cmd.client_order_id in server.exchange.records


async def test_bulk_cancel_replace_and_initial_leverage() -> None:
    with anyio.fail_after(20):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            venue_on(server, leverage=10) as (venue, got),
        ):
            assert "full/v1/set_initial_leverage" in server.requests
            await eventually(lambda: bool(got.of(BookSnapshot)))
            old = quote(venue, server, Side.BUY, 30)
            await venue.execute(old)
            await eventually(lambda: bool(got.of(OrderAccepted)))
            assert venue.desk is not None
            new = quote(venue, server, Side.BUY, 25)
            venue.desk.tracker.placed(new, 0)
            answer = await venue.rest.bulk_orders(
                [venue.desk.signed(new)], cancel_client_order_ids=[old.client_order_id]
            )
            assert [o["order_id"] for o in answer["orders"]] == ["0x00"]
            assert answer["cancel_acks"] == [{"ack": True}]
            await eventually(lambda: len(got.of(OrderAccepted)) == 2)
            assert got.of(OrderCanceled)[0].client_order_id == old.client_order_id
            live = {int(o["metadata"]["client_order_id"]) for o in server.exchange.open_orders()}
            assert live == {new.client_order_id}
