"""Shared by the security suite: `Server` in demo mode under real uvicorn on 127.0.0.1, serving a
small dashboard build and sending Telegram to a loopback fake, with helpers to log in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

import grvtmm.serve as serve_module
from fakes.telegram_server import CHAT_ID, TOKEN, FakeTelegramServer
from grvtmm.api.auth import CSRF_HEADER, CSRF_VALUE
from grvtmm.api.deps import Services
from grvtmm.core.clock import LiveClock
from grvtmm.serve import Server
from grvtmm.settings import Settings, TelegramSettings

PASSWORD = "security-suite-operator-pw"
CSRF = {CSRF_HEADER: CSRF_VALUE}
# A client on another host reaching the app through a reverse proxy on this machine (uvicorn
# trusts X-Forwarded-* from 127.0.0.1, so the app sees this address as the client).
REMOTE = {"X-Forwarded-For": "203.0.113.7"}
INDEX_HTML = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <title>grvt-mm</title>
    <script type="module" crossorigin src="/assets/app.js"></script>
  </head>
  <body><div id="root"></div></body>
</html>
"""


@dataclass
class Secured:
    server: Server
    base: str
    data_dir: Path
    telegram: FakeTelegramServer

    @property
    def app(self) -> FastAPI:
        assert self.server.app is not None
        return self.server.app

    @property
    def services(self) -> Services:
        assert self.server.services is not None
        return self.server.services

    @property
    def engine(self) -> Any:
        assert self.server.node is not None
        return self.server.node.engine

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=10, **kwargs)


@pytest.fixture
async def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Secured]:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text(INDEX_HTML)
    (static / "assets" / "app.js").write_text("document.title = 'grvt-mm';\n")
    monkeypatch.setattr(serve_module, "STATIC_DIR", static)
    async with FakeTelegramServer(TOKEN) as telegram:
        settings = Settings(
            host="127.0.0.1",
            port=0,
            data_dir=tmp_path / "data",
            admin_password=PASSWORD,  # type: ignore[arg-type]
            demo_speed=20.0,
            telegram=TelegramSettings(api_base_url=telegram.base_url, chat_id=CHAT_ID),
        )
        server = Server(settings, LiveClock())
        await server.setup()
        task = asyncio.create_task(server.run())
        with anyio.fail_after(20):
            await server.started.wait()
        try:
            yield Secured(server, f"http://127.0.0.1:{server.port}", tmp_path / "data", telegram)
        finally:
            server.request_exit()
            with anyio.fail_after(90):
                await task


async def login(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    """Log in with the operator password; the client keeps the session cookie."""
    response = await client.post("/api/auth/login", json={"password": PASSWORD}, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def bearer_token(secured: Secured) -> str:
    async with secured.client() as client:
        token: str = (await login(client)).json()["token"]
        return token
