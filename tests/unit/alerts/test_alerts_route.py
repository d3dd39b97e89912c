"""POST /api/alerts/telegram/test: login required; ok, or Telegram's error for the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from fakes.telegram_server import CHAT_ID, TOKEN, FakeControl, FakeTelegramServer
from grvtmm.alerts.notifier import AlertSettings
from grvtmm.alerts.service import TelegramAlerts
from grvtmm.alerts.telegram import TelegramLimits
from grvtmm.api.app import create_app
from grvtmm.api.auth import LoginLimiter, PasswordFile, SessionStore
from grvtmm.api.deps import Services
from grvtmm.api.routes import alerts as alerts_routes
from grvtmm.api.state import ConfigState
from grvtmm.core.clock import LiveClock
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.sim.synthetic import default_instrument

pytestmark = pytest.mark.anyio
URL = "/api/alerts/telegram/test"


def app_with(tmp_path: Path, telegram_test: Callable[[], Any] | None) -> tuple[FastAPI, str]:
    clock = LiveClock()
    sessions = SessionStore(clock)
    services = Services(
        node=None,  # type: ignore[arg-type]  # the route never touches the node
        clock=clock,
        mode="demo",
        passwords=PasswordFile(tmp_path / "admin_password.argon2"),
        sessions=sessions,
        limiter=LoginLimiter(clock),
        config=ConfigState(StrategyConfig()),
        monitor=None,  # type: ignore[arg-type]
        telegram_test=telegram_test,
    )
    app = create_app(services)
    app.include_router(alerts_routes.router)
    return app, sessions.issue()


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(TOKEN) as fake:
        yield fake


async def post(app: FastAPI, bearer: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with anyio.fail_after(20):
            return await client.post(URL, headers=headers)


async def test_sends_the_test_message_or_returns_the_error(
    tmp_path: Path, server: FakeTelegramServer
) -> None:
    alerts = TelegramAlerts(
        default_instrument(),
        LiveClock(),
        control=FakeControl(),
        summary=dict,
        settings=AlertSettings(chat_id=CHAT_ID, heartbeat_s=0),
        token=TOKEN,
        api_base_url=server.base_url,
        limits=TelegramLimits(min_interval_s=0.01),
    )
    app, bearer = app_with(tmp_path, alerts.send_test)
    ok = await post(app, bearer)
    assert ok.status_code == 200 and ok.json() == {"ok": True, "error": None}
    assert len(server.messages) == 1
    server.fail_sends(400)
    failed = await post(app, bearer)
    assert failed.json() == {"ok": False, "error": "Telegram answered 400: Bad Request"}
    await alerts.close()


async def test_login_required_and_unavailable_without_alerts(tmp_path: Path) -> None:
    app, bearer = app_with(tmp_path, None)
    assert (await post(app, None)).status_code == 401
    assert (await post(app, bearer)).status_code == 503
