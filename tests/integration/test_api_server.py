"""The server for real: `Server` (demo mode) with uvicorn on 127.0.0.1, driven over HTTP and WS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import websockets

from fakes import eventually
from grvtmm.api.app import http_routes
from grvtmm.api.auth import COOKIE_NAME, CSRF_HEADER, PasswordFile
from grvtmm.core.clock import LiveClock
from grvtmm.core.events import EngineMode
from grvtmm.core.types import FeeSchedule
from grvtmm.serve import ServeError, Server, TradingStack
from grvtmm.settings import Settings
from grvtmm.venues.sim.synthetic import default_instrument

PASSWORD = "operator-password-1"
API_KEY = "test-api-key-7f3a9c1e5b"
API_SECRET = "0x" + "ab12" * 16
CSRF = {CSRF_HEADER: "1"}


@dataclass
class Running:
    server: Server
    base: str
    client: httpx.AsyncClient
    data_dir: Path

    @property
    def engine(self) -> Any:
        assert self.server.node is not None
        return self.server.node.engine


def demo_settings(data_dir: Path, **overrides: Any) -> Settings:
    """A demo server on a free loopback port with the operator password set."""
    fields: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "data_dir": data_dir,
        "admin_password": PASSWORD,
        "demo_speed": 20.0,
        **overrides,
    }
    return Settings(**fields)


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Running]:
    """The real server (uvicorn on 127.0.0.1) with a client, stopped on the way out."""
    server = Server(settings, LiveClock())
    await server.setup()
    task = asyncio.create_task(server.run())
    with anyio.fail_after(20):
        await server.started.wait()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Running(server, base, client, settings.data_dir)
    finally:
        server.request_exit()
        with anyio.fail_after(90):
            await task


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with serving(demo_settings(tmp_path / "data")) as r:
        yield r


async def login(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/auth/login", json={"password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


@pytest.mark.anyio
async def test_every_route_refuses_anonymous_calls(running: Running) -> None:
    assert running.server.services is not None
    assert running.server.app is not None
    app_routes = http_routes(running.server.app)
    anonymous = httpx.AsyncClient(base_url=running.base, timeout=10)
    checked = 0
    async with anonymous:
        for route in app_routes:
            if route.path in ("/healthz", "/metrics", "/api/auth/login"):
                continue
            path = route.path.replace("{action}", "start")
            for method in route.methods:
                response = await anonymous.request(method, path, json={})
                assert response.status_code == 401, (method, path, response.status_code)
                checked += 1
        assert checked >= 15
        assert (await anonymous.get("/healthz")).json() == {"ok": True}
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(running.base.replace("http", "ws") + "/ws/stream"):
                pass


@pytest.mark.anyio
async def test_login_cookie_flags_bearer_and_csrf(running: Running) -> None:
    client = running.client
    wrong = await client.post("/api/auth/login", json={"password": "nope-nope-nope"})
    assert wrong.status_code == 401
    response = await client.post("/api/auth/login", json={"password": PASSWORD})
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE_NAME}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    token = response.json()["token"]
    assert token not in str(response.url)
    # cookie-authenticated state change without the CSRF header is refused
    assert (await client.post("/api/engine/pause")).status_code == 403
    assert (await client.post("/api/engine/pause", headers=CSRF)).status_code == 200
    # scripts use the bearer token and need no CSRF header
    bearer = httpx.AsyncClient(base_url=running.base, headers={"Authorization": f"Bearer {token}"})
    async with bearer:
        status = (await bearer.post("/api/engine/resume")).json()
        assert status["engine"]["mode"] == "running"
        assert (await bearer.post("/api/auth/logout")).status_code == 200
        assert (await bearer.get("/api/status")).status_code == 401
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.anyio
async def test_a_loopback_server_answers_only_to_loopback_host_names(running: Running) -> None:
    """DNS rebinding: a page whose own name now resolves to 127.0.0.1 sends its own Host."""
    client = running.client
    assert (await client.get("/healthz", headers={"Host": "localhost"})).status_code == 200
    rebound = await client.get("/healthz", headers={"Host": "rebind.evil.example"})
    assert rebound.status_code == 400
    login = await client.post(
        "/api/auth/login", json={"password": PASSWORD}, headers={"Host": "rebind.evil.example"}
    )
    assert login.status_code == 400 and "token" not in login.text


@pytest.mark.anyio
async def test_login_is_rate_limited(running: Running) -> None:
    codes = [
        (
            await running.client.post("/api/auth/login", json={"password": f"bad-{i}-xxxx"})
        ).status_code
        for i in range(7)
    ]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]


@pytest.mark.anyio
async def test_strategy_config_validation_and_live_update(running: Running) -> None:
    client = running.client
    await login(client)
    bad = await client.put("/api/config/strategy", json={"gamma": -1}, headers=CSRF)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "gamma"]
    unknown = await client.put("/api/config/strategy", json={"gamma_typo": 1}, headers=CSRF)
    assert unknown.status_code == 422 and "gamma_typo" in unknown.text
    ok = await client.put("/api/config/strategy", json={"gamma": 0.3}, headers=CSRF)
    assert ok.status_code == 200 and ok.json()["gamma"] == 0.3
    assert running.engine.config.gamma == 0.3
    assert (await client.get("/api/config/strategy")).json()["gamma"] == 0.3
    symbol = await client.put("/api/config/strategy", json={"symbol": "XRP-PERP"}, headers=CSRF)
    assert symbol.status_code == 409
    goal = (await client.get("/api/config/goal")).json()
    assert set(goal) >= {"principal_usdt", "target_hourly_volume", "risk_profile"}


@pytest.mark.anyio
async def test_goal_principal_limits_the_engine_quotes(running: Running) -> None:
    """Goal principal 100 USDT on the 200 USDT demo account at the fixed 50x: one order is
    10 % of 100 × 50 = 500 USDT (not 1,000 from the whole account) and the position stays
    within the inventory limit on the principal."""
    client = running.client
    await login(client)
    engine = running.engine
    await eventually(lambda: len(list(engine.orders.live())) >= 2, timeout_s=30)
    earlier = {o.client_order_id for o in engine.orders.live()}
    body = {"principal_usdt": 100, "target_hourly_volume": 5000, "risk_profile": "balanced"}
    response = await client.put("/api/config/goal", json=body, headers=CSRF)
    assert response.status_code == 200, response.text
    mapped = response.json()
    assert mapped["capital_usdt"] == 100 and mapped["effective_leverage"] == 50
    assert engine.config.capital_usdt == 100.0 and engine.risk.limits.capital == 100.0
    goal = (await client.get("/api/config/goal")).json()
    assert goal["principal_usdt"] == 100 and goal["risk_profile"] == "balanced"
    capacity = 100.0 * 50
    max_order = mapped["order_size_fraction"] * capacity
    max_inventory = mapped["max_inventory_ratio"] * capacity
    assert max_order == pytest.approx(500.0) and max_inventory >= 1.8 * max_order
    inst = engine.instrument

    def new_quotes() -> list[Any]:
        live = engine.orders.live()
        return [o for o in live if not o.reduce_only and o.client_order_id not in earlier]

    # the resting quotes are replaced by quotes sized on the principal, on both sides
    await eventually(lambda: len({o.side for o in new_quotes()}) == 2, timeout_s=30)
    lot = inst.notional(engine.mark_ticks(), 1)  # sizes round to whole lots
    for order in new_quotes():
        assert abs(inst.notional(order.price_ticks, order.size_lots) - max_order) <= lot, order
    assert inst.notional(engine.mark_ticks(), abs(engine.position_lots)) <= max_inventory


@pytest.mark.anyio
async def test_symbol_change_while_stopped_waits_for_a_restart(running: Running) -> None:
    """A new symbol set while stopped is stored for the next start; this process never trades
    the old instrument with the new symbol's settings: start is refused until a restart."""
    client = running.client
    await login(client)
    assert (await client.post("/api/engine/stop", headers=CSRF)).status_code == 200
    await eventually(lambda: running.engine.mode is EngineMode.STOPPED, timeout_s=30)
    trading = running.engine.instrument.symbol
    changed = await client.put(
        "/api/config/strategy", json={"symbol": "XRP-PERP", "gamma": 0.4}, headers=CSRF
    )
    assert changed.status_code == 200 and changed.json()["symbol"] == "XRP_USDT_Perp"
    assert (await client.get("/api/config/strategy")).json()["symbol"] == "XRP_USDT_Perp"
    assert running.engine.config.symbol == trading  # the engine keeps its instrument's config
    status = (await client.get("/api/status")).json()
    assert any("restart grvt-mm" in n and "XRP_USDT_Perp" in n for n in status["notices"])
    assert "XRP_USDT_Perp" in status["start_blocker"]
    refused = await client.post("/api/engine/start", headers=CSRF)
    assert refused.status_code == 409 and "restart" in refused.json()["detail"]
    assert running.engine.mode is EngineMode.STOPPED
    back = await client.put("/api/config/strategy", json={"symbol": trading}, headers=CSRF)
    assert back.status_code == 200
    assert running.engine.config.gamma == 0.4  # the rest of the change now reaches the engine
    status = (await client.get("/api/status")).json()
    assert not status["start_blocker"]
    assert (await client.post("/api/engine/start", headers=CSRF)).status_code == 200
    await eventually(lambda: running.engine.mode is EngineMode.RUNNING, timeout_s=30)


@pytest.mark.anyio
async def test_exchange_keys_write_only_and_refused_while_running(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = running.client
    await login(client)
    body = {
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "trading_account_id": "123456",
        "env": "testnet",
    }
    assert (await client.put("/api/config/exchange", json=body, headers=CSRF)).status_code == 409
    stopped = await client.post("/api/engine/stop", headers=CSRF)
    assert stopped.status_code == 200
    await eventually(lambda: running.engine.mode is EngineMode.STOPPED, timeout_s=30)
    assert running.engine.position_lots == 0
    response = await client.put("/api/config/exchange", json=body, headers=CSRF)
    assert response.status_code == 200
    status = (await client.get("/api/config/secrets/status")).json()
    assert all(status["secrets"][n]["set"] for n in ("grvt.api_key", "grvt.api_secret"))
    texts = [response.text, json.dumps(status)]
    for path in (
        "/api/status",
        "/api/config/strategy",
        "/api/config/telegram",
        "/api/monitor/summary",
    ):
        texts.append((await client.get(path)).text)
    for text in texts:
        assert API_KEY not in text and API_SECRET not in text
    token = "123456:telegram-token-abcdefghij"
    telegram = await client.put("/api/config/telegram", json={"bot_token": token}, headers=CSRF)
    assert telegram.status_code == 200 and token not in telegram.text
    assert telegram.json()["bot_token_set"] is True
    texts.append((await client.get("/metrics")).text)
    raw = b"".join(p.read_bytes() for p in running.data_dir.rglob("*") if p.is_file())
    for secret in (API_KEY, API_SECRET, token, PASSWORD):
        assert secret.encode() not in raw
        assert all(secret not in text for text in texts)
        assert secret not in caplog.text  # every log line of the session, DEBUG included


@pytest.mark.anyio
async def test_stream_hello_snapshot_then_updates(running: Running) -> None:
    token = await login(running.client)
    url = running.base.replace("http", "ws") + "/ws/stream"
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        with anyio.fail_after(20):
            hello = json.loads(await ws.recv())
            snapshot = json.loads(await ws.recv())
            assert hello["type"] == "hello" and hello["mode"] == "demo"
            assert snapshot["type"] == "snapshot" and "summary" in snapshot["data"]
            kinds: set[str] = set()
            while not {"tick", "event"} <= kinds:
                kinds.add(json.loads(await ws.recv())["type"])
            await ws.send(json.dumps({"type": "subscribe", "types": ["tick"]}))
            while json.loads(await ws.recv())["type"] != "subscribed":
                pass


@pytest.mark.anyio
async def test_monitor_endpoints_report_demo_activity(running: Running) -> None:
    client = running.client
    await login(client)

    async def has_fills() -> bool:
        return bool((await client.get("/api/monitor/summary")).json()["fills"] > 0)

    await eventually_async(has_fills, 60)
    summary = (await client.get("/api/monitor/summary")).json()
    assert summary["session_volume"] > 0 and "wear_per_10k" in summary
    orders = (await client.get("/api/monitor/orders", params={"limit": 5})).json()
    assert orders["open"]
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and b"grvtmm_fills_total" in metrics.content
    assert (await client.get("/api/monitor/orders", params={"limit": 0})).status_code == 422


async def eventually_async(probe: Any, timeout_s: float) -> None:
    with anyio.fail_after(timeout_s):
        while not await probe():
            await asyncio.sleep(0.05)


@pytest.mark.anyio
async def test_non_loopback_bind_without_password_is_refused(tmp_path: Path) -> None:
    server = Server(Settings(host="0.0.0.0", port=0, data_dir=tmp_path), LiveClock())
    with pytest.raises(ServeError, match="without an operator password"):
        await server.setup()


@pytest.mark.anyio
async def test_restart_keeps_history_and_sessions(tmp_path: Path) -> None:
    settings = Settings(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "data",
        admin_password=PASSWORD,  # type: ignore[arg-type]
        demo_speed=20.0,
    )
    stored_before = 0
    for run in range(2):
        server = Server(settings, LiveClock())
        await server.setup()
        task = asyncio.create_task(server.run())
        with anyio.fail_after(20):
            await server.started.wait()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}", timeout=10
        ) as client:
            await login(client)

            async def stored_fills(client: httpx.AsyncClient = client) -> int:
                return int(
                    (await client.get("/api/monitor/fills", params={"limit": 5})).json()["total"]
                )

            if run == 0:
                await eventually_async(lambda: _more_than(stored_fills, 0), 60)
                page = (await client.get("/api/monitor/fills", params={"limit": 5})).json()
                fill = page["items"][0]
                assert fill["fee_side"] in ("rebate", "cost") and fill["trade_id"].startswith(
                    "demo-"
                )
            else:
                assert await stored_fills() >= stored_before  # history survived the restart
        server.request_exit()
        with anyio.fail_after(90):
            await task
        assert server.store is not None and server.writer is not None
        assert server.writer.unsaved_fills == []
        if run == 0:
            stored_before = server.store.fill_count()
            assert stored_before > 0
        else:
            assert server.store.fill_count() >= stored_before
            assert server.store.sessions(limit=10).total >= 2


async def _more_than(probe: Any, n: int) -> bool:
    return bool(await probe() > n)


@pytest.mark.anyio
async def test_flatten_on_start_setting_reaches_the_engine(tmp_path: Path) -> None:
    for flatten in (False, True):
        settings = demo_settings(tmp_path / f"data-{flatten}", flatten_on_start=flatten)
        async with serving(settings) as r:
            assert r.server.node is not None
            assert r.server.node.engine.settings.flatten_on_start is flatten


def test_a_changed_listing_is_a_notice_and_blocks_start(tmp_path: Path) -> None:
    """GRVT relisted the symbol with other constraints: the venue halted trading; the status
    says why in words and Start stays refused until a restart picks up the new listing."""

    class RelistedVenue:
        listing_problem = "GRVT changed the BNB_USDT_Perp listing (tick size 0.01 -> 0.05)."

    server = Server(Settings(data_dir=tmp_path), LiveClock())
    stack = TradingStack(
        "live",
        default_instrument(),
        FeeSchedule(Decimal(0), Decimal(0)),
        RelistedVenue(),  # type: ignore[arg-type]
    )
    passwords = PasswordFile(tmp_path / "admin_password.argon2")
    extra = server._status_extra(stack, passwords)
    assert RelistedVenue.listing_problem in extra["notices"]
    assert extra["start_blocker"] == RelistedVenue.listing_problem
    stack.venue = object()  # type: ignore[assignment]
    assert server._status_extra(stack, passwords)["start_blocker"] == ""
