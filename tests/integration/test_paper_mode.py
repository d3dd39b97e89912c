"""Paper mode end to end: `grvt-mm serve --mode paper` against the fake GRVT with NO keys —
public instrument list and market streams from the fake, quotes and fills only in the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from fakes import eventually
from fakes.grvt_helpers import FAST, INST, QUICK, Recorder
from fakes.grvt_server import API_KEY, PRIVATE_KEY, FakeGrvtServer
from grvtmm.api.auth import CSRF_HEADER
from grvtmm.core.clock import NS_PER_S, LiveClock
from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    BookDelta,
    BookSnapshot,
    EngineMode,
    EngineWarning,
    Event,
    HaltRequested,
    OrderAccepted,
    OrderFilled,
    Ticker,
    Trade,
    VenueError,
    VenueStatus,
)
from grvtmm.core.orders import CLIENT_ID_MIN
from grvtmm.core.types import Side
from grvtmm.paper import paper_venue, public_config
from grvtmm.serve import ServeError, Server
from grvtmm.settings import GrvtSettings, Settings
from grvtmm.venues.sim.venue import SimVenue

pytestmark = pytest.mark.anyio

PASSWORD = "paper-operator-password"
CSRF = {CSRF_HEADER: "1"}
STRATEGY = QUICK.model_dump(mode="json")
PUBLIC_PATHS = {"full/v1/all_instruments"}


def public_urls(fake: FakeGrvtServer, **keys: Any) -> GrvtSettings:
    """Every GRVT host on the fake: a stray private call would show up in `fake.requests`."""
    url = fake.base_url
    return GrvtSettings(
        **keys,
        env="testnet",
        edge_url=url,
        trades_url=url,
        market_data_url=url,
        trades_ws_url=fake.ws_url,
        market_data_ws_url=fake.ws_url,
    )


def assert_nothing_sent_to_grvt(fake: FakeGrvtServer) -> None:
    assert set(fake.requests) <= PUBLIC_PATHS, fake.requests
    assert fake.logins == 0
    assert fake.exchange.records == {} and fake.exchange.fills == []
    assert not any(conn.private for conn in fake.conns)


async def login(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", json={"password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["Authorization"] = f"Bearer {response.json()['token']}"


async def status(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def configure_and_start(client: httpx.AsyncClient) -> None:
    put = await client.put("/api/config/strategy", json=STRATEGY, headers=CSRF)
    assert put.status_code == 200, put.text
    started = await client.post("/api/engine/start", headers=CSRF)
    assert started.status_code == 200, started.text


@contextlib.asynccontextmanager
async def paper_server(
    fake: FakeGrvtServer, tmp_path: Path, **keys: Any
) -> AsyncIterator[tuple[Server, Recorder, httpx.AsyncClient]]:
    settings = Settings(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "data",
        admin_password=PASSWORD,
        mode="paper",
        grvt=public_urls(fake, **keys),
    )
    server = Server(settings, LiveClock())
    await server.setup()
    assert server.node is not None
    recorder = Recorder()
    server.node.add_sink(recorder)
    task = asyncio.get_running_loop().create_task(server.run())
    try:
        with anyio.fail_after(20):
            await server.started.wait()
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await login(client)
            yield server, recorder, client
    finally:
        server.request_exit()
        with anyio.fail_after(60):
            await task


def quoting_both_sides(server: Server) -> bool:
    assert server.node is not None
    engine = server.node.engine
    sides = {o.side for o in engine.orders.live() if o.status.value == "open"}
    return engine.mode is EngineMode.RUNNING and sides == {Side.BUY, Side.SELL}


async def test_paper_quotes_and_fills_in_the_simulator_on_grvt_public_data(
    tmp_path: Path,
) -> None:
    with anyio.fail_after(90):
        async with (
            FakeGrvtServer(INST, params=FAST) as fake,
            # valid keys for the fake are configured, and paper mode must still never use them
            paper_server(fake, tmp_path, api_key=API_KEY, api_secret=PRIVATE_KEY) as (
                server,
                rec,
                client,
            ),
        ):
            assert server.node is not None
            venue = server.node.venue
            assert isinstance(venue, SimVenue) and venue.name == "paper"
            # the instrument is GRVT's listing (fake), fees are GRVT's schedule, not demo's
            assert venue.instrument == INST
            assert venue.fees.maker_rate > 0 and venue.fees.taker_rate > venue.fees.maker_rate
            body = await status(client)
            assert body["mode"] == "paper"
            assert any("Paper mode" in n for n in body["notices"])
            assert body["engine"]["mode"] == EngineMode.IDLE.value  # paper waits for the operator
            assert body["venue"] is not None and "market" in body["venue"]["streams"]

            await configure_and_start(client)
            await eventually(lambda: quoting_both_sides(server), 20)
            # the simulator's book is the fake's market: quotes rest inside it
            book = fake.exchange.matching.book
            for order in server.node.engine.orders.live():
                assert order.price_ticks < book.best_ask + 50 and order.price_ticks > 0
            await eventually(lambda: len(rec.of(OrderFilled)) >= 2, 30)
            fills = rec.of(OrderFilled)
            assert all(f.trade_id.startswith("paper-") for f in fills)
            assert all(f.is_maker for f in fills if f.client_order_id in _quote_ids(rec))
            stored = await client.get("/api/monitor/fills")
            assert stored.status_code == 200 and stored.json()["total"] >= 1
            assert (await status(client))["mode"] == "paper"
            assert_nothing_sent_to_grvt(fake)
            stop = await client.post("/api/engine/stop", headers=CSRF)
            assert stop.status_code == 200, stop.text
            engine = server.node.engine
            await eventually(lambda: engine.mode is EngineMode.STOPPED, 20)
            assert engine.position_lots == 0
            assert_nothing_sent_to_grvt(fake)


def _quote_ids(rec: Recorder) -> set[int]:
    return {p.client_order_id for p in rec.of(PlaceOrder) if p.post_only}


async def test_paper_feed_drop_is_seen_by_the_engine_and_recovers(tmp_path: Path) -> None:
    with anyio.fail_after(90):
        async with (
            FakeGrvtServer(INST, params=FAST) as fake,
            paper_server(fake, tmp_path) as (server, rec, client),
        ):
            assert server.node is not None
            engine = server.node.engine
            await configure_and_start(client)
            await eventually(lambda: quoting_both_sides(server), 20)
            snapshots = len(rec.of(BookSnapshot))
            accepted = len(rec.of(OrderAccepted))

            await fake.drop_streams()
            await eventually(lambda: any(not s.connected for s in rec.of(VenueStatus)), 10)
            down = next(s for s in rec.of(VenueStatus) if not s.connected)
            assert down.detail.startswith("market ")
            # reconnected: connected again, a fresh snapshot, the book valid and quoting again
            await eventually(lambda: len(rec.of(BookSnapshot)) > snapshots, 15)
            statuses = rec.of(VenueStatus)
            assert statuses[-1].connected and engine.connected
            await eventually(lambda: engine.book.valid and quoting_both_sides(server), 15)
            await eventually(lambda: len(rec.of(OrderAccepted)) > accepted, 15)
            assert engine.mode is EngineMode.RUNNING
            body = await status(client)
            assert body["mode"] == "paper" and body["engine"]["mode"] == "running"
            assert_nothing_sent_to_grvt(fake)


async def test_paper_book_gap_resubscribes_while_quoting_continues(tmp_path: Path) -> None:
    with anyio.fail_after(90):
        async with (
            FakeGrvtServer(INST, params=FAST) as fake,
            paper_server(fake, tmp_path) as (server, rec, client),
        ):
            assert server.node is not None
            engine = server.node.engine
            await configure_and_start(client)
            await eventually(lambda: quoting_both_sides(server), 20)
            snapshots = len(rec.of(BookSnapshot))
            fake.exchange.faults.gap_next_book = 1
            await eventually(lambda: "book_gap" in [w.code for w in rec.of(EngineWarning)], 10)
            await eventually(lambda: len(rec.of(BookSnapshot)) > snapshots, 10)
            await eventually(lambda: engine.book.valid and quoting_both_sides(server), 15)
            assert_nothing_sent_to_grvt(fake)


async def test_paper_without_grvt_market_data_refuses_to_start(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "data",
        admin_password=PASSWORD,
        mode="paper",
        grvt=GrvtSettings(env="testnet", market_data_url=dead, market_data_ws_url=dead),
    )
    server = Server(settings, LiveClock())
    with anyio.fail_after(60), pytest.raises(ServeError, match="public market data"):
        await server.setup()
    if server.store is not None:
        server.store.close()


# ---- the venue on its own ---------------------------------------------------------------------
class SkewedClock:
    """Our clock running `offset_ns` behind GRVT's (the fake stamps events with real time)."""

    def __init__(self, offset_ns: int) -> None:
        self._live = LiveClock()
        self.offset_ns = offset_ns

    def now_ns(self) -> int:
        return self._live.now_ns() - self.offset_ns


@contextlib.asynccontextmanager
async def paper_on(
    fake: FakeGrvtServer, clock: Any, **config: Any
) -> AsyncIterator[tuple[SimVenue, list[Event]]]:
    settings = public_urls(fake)
    cfg = dataclasses.replace(public_config(settings), **config)
    venue = await paper_venue(cfg, "bnb-usdt-perp", clock, equity=500.0, leverage=10.0)
    got: list[Event] = []

    async def pump() -> None:
        async for event in venue.events():
            got.append(event)

    task = asyncio.get_running_loop().create_task(pump())
    try:
        yield venue, got
    finally:
        await venue.close()
        with anyio.fail_after(5):
            await task


async def test_grvt_clock_ahead_of_ours_does_not_delay_simulated_acks() -> None:
    skew_ns = 5 * NS_PER_S
    clock = SkewedClock(skew_ns)
    with anyio.fail_after(30):
        async with (
            FakeGrvtServer(INST, params=FAST) as fake,
            paper_on(fake, clock) as (venue, got),
        ):
            assert venue.instrument.symbol == "BNB_USDT_Perp"
            await eventually(lambda: any(isinstance(e, BookSnapshot) for e in got), 10)
            market = [e for e in got if isinstance(e, BookSnapshot | BookDelta | Trade | Ticker)]
            # GRVT's stamps are 5 s in our future: the simulator sees them at our receive time
            assert market and all(e.ts_ns == e.local_ns for e in market)
            book = fake.exchange.matching.book
            order = PlaceOrder(
                ts_ns=clock.now_ns(),
                client_order_id=CLIENT_ID_MIN + 1,
                symbol=INST.symbol,
                side=Side.BUY,
                price_ticks=book.best_bid - 20,
                size_lots=10,
            )
            sent = clock.now_ns()
            await venue.execute(order)
            await eventually(lambda: any(isinstance(e, OrderAccepted) for e in got), 4)
            ack = next(e for e in got if isinstance(e, OrderAccepted))
            assert ack.local_ns - sent < NS_PER_S  # 25 ms + 25 ms simulated, not 5 s of skew
            assert_nothing_sent_to_grvt(fake)


async def test_book_stream_failure_falls_back_to_ticker_and_is_retried() -> None:
    with anyio.fail_after(30):
        async with FakeGrvtServer(INST, params=FAST) as fake:
            fake.exchange.faults.book_subscribe_error = True
            async with paper_on(fake, LiveClock(), book_silence_s=0.3, rest_poll_s=0.05) as (
                _venue,
                got,
            ):

                def statuses() -> list[VenueStatus]:
                    return [e for e in got if isinstance(e, VenueStatus)]

                await eventually(lambda: any(not s.book_ok for s in statuses()), 10)
                # ticker-only quoting inputs keep flowing while the book is down
                await eventually(lambda: any(isinstance(e, Ticker) for e in got), 10)
                assert not any(isinstance(e, BookSnapshot) for e in got)
                fake.exchange.faults.book_subscribe_error = False
                await eventually(lambda: any(isinstance(e, BookSnapshot) for e in got), 10)
                await eventually(lambda: statuses()[-1].book_ok, 5)
                assert_nothing_sent_to_grvt(fake)


async def test_a_changed_listing_halts_paper_trading_with_the_reason() -> None:
    coarse = dataclasses.replace(INST, tick_size=Decimal("0.1"))
    with anyio.fail_after(30):
        async with (
            FakeGrvtServer(INST, params=FAST) as fake,
            paper_on(fake, LiveClock(), instruments_refresh_s=0.05) as (venue, got),
        ):
            await eventually(lambda: any(isinstance(e, BookSnapshot) for e in got), 10)
            fake.relist(INST)  # the same listing again: nothing to say
            refreshes = fake.requests.count("full/v1/all_instruments")
            await eventually(lambda: fake.requests.count("full/v1/all_instruments") > refreshes)
            assert not venue.listing_problem
            assert not any(isinstance(e, HaltRequested) for e in got)

            fake.relist(coarse)
            await eventually(lambda: any(isinstance(e, HaltRequested) for e in got), 10)
            problem = venue.listing_problem
            assert "tick size 0.01 -> 0.1" in problem and "paper trading halts" in problem
            halts = [e for e in got if isinstance(e, HaltRequested)]
            assert [h.reason for h in halts] == [problem]
            errors = [e.detail for e in got if isinstance(e, VenueError)]
            assert f"instruments: {problem}" in errors
            refreshes = fake.requests.count("full/v1/all_instruments")
            await eventually(lambda: fake.requests.count("full/v1/all_instruments") > refreshes + 2)
            assert len([e for e in got if isinstance(e, HaltRequested)]) == 1  # said once
            assert_nothing_sent_to_grvt(fake)


# ---- the command line -----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_cli_serve_mode_paper_reports_paper_and_starts_over_the_api(tmp_path: Path) -> None:
    port = _free_port()
    with anyio.fail_after(120):
        async with FakeGrvtServer(INST, params=FAST) as fake:
            env = {k: v for k, v in os.environ.items() if not k.startswith("GRVTMM_")}
            env |= {
                "GRVTMM_ADMIN_PASSWORD": PASSWORD,
                "GRVTMM_GRVT__ENV": "testnet",
                "GRVTMM_GRVT__EDGE_URL": fake.base_url,
                "GRVTMM_GRVT__TRADES_URL": fake.base_url,
                "GRVTMM_GRVT__MARKET_DATA_URL": fake.base_url,
                "GRVTMM_GRVT__TRADES_WS_URL": fake.ws_url,
                "GRVTMM_GRVT__MARKET_DATA_WS_URL": fake.ws_url,
            }
            log_path = tmp_path / "serve.log"
            with log_path.open("wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "grvtmm",
                    "serve",
                    "--mode",
                    "paper",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(tmp_path / "data"),
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            try:
                base = f"http://127.0.0.1:{port}"
                async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                    await _wait_healthy(client, proc, log_path)
                    await login(client)
                    assert (await status(client))["mode"] == "paper"
                    await configure_and_start(client)

                    async def running_with_quotes() -> bool:
                        body = await status(client)
                        opened = await client.get("/api/monitor/orders")
                        return body["engine"]["mode"] == "running" and bool(opened.json()["open"])

                    with anyio.fail_after(30):
                        while not await running_with_quotes():
                            await asyncio.sleep(0.1)
                    assert (await status(client))["mode"] == "paper"
                    assert_nothing_sent_to_grvt(fake)
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                with anyio.fail_after(60):
                    code = await proc.wait()
            # SIGTERM: the engine stopped and flattened the simulated position, then a clean exit
            assert code == 0, log_path.read_text()
            assert_nothing_sent_to_grvt(fake)
            assert "Traceback" not in log_path.read_text()
            assert PASSWORD not in log_path.read_text()


async def _wait_healthy(
    client: httpx.AsyncClient, proc: asyncio.subprocess.Process, log_path: Path
) -> None:
    with anyio.fail_after(45):
        while True:
            if proc.returncode is not None:
                raise AssertionError(f"serve exited: {log_path.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


def test_public_config_takes_env_and_hosts_from_settings_and_no_credentials() -> None:
    grvt = GrvtSettings(
        env="prod",
        api_key="k-should-not-travel",
        api_secret="0x" + "11" * 32,
        trading_account_id="123",
        market_data_url="http://127.0.0.1:9/md/",
        market_data_ws_url="ws://127.0.0.1:9/ws/full",
    )
    config = public_config(grvt)
    assert config.env == "prod" and config.api_key == "" and config.api_secret == ""
    assert config.trading_account_id == ""
    endpoints = config.endpoints()
    assert endpoints.market_data_url == "http://127.0.0.1:9/md"
    assert endpoints.market_data_ws_url == "ws://127.0.0.1:9/ws/full"
    assert endpoints.edge_url.startswith("https://")  # GRVT's own host where not overridden
    # the environment stored with keys set over the API wins, as in live mode
    assert public_config(grvt, "testnet").env == "testnet"
    assert public_config(grvt, "testnet").endpoints().edge_url != endpoints.edge_url
