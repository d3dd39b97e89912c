"""Operator sessions and a real `Server` (demo mode, uvicorn on 127.0.0.1): a restart keeps the
dashboard cookie and script bearer tokens working; logout and `grvt-mm set-password` end them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
import websockets
from typer.testing import CliRunner

from grvtmm.__main__ import app
from grvtmm.api.auth import COOKIE_NAME, CSRF_HEADER, SESSIONS_FILE_NAME, PasswordFile
from grvtmm.core.clock import LiveClock
from grvtmm.serve import Server
from grvtmm.settings import Settings

PASSWORD = "operator-password-1"
NEW_PASSWORD = "operator-password-2"


@asynccontextmanager
async def serving(data_dir: Path) -> AsyncIterator[str]:
    """A running server on `data_dir`; yields its base URL and stops it cleanly on exit."""
    settings = Settings(
        host="127.0.0.1",
        port=0,
        data_dir=data_dir,
        admin_password=PASSWORD,  # type: ignore[arg-type]  # only applied while none is set
        demo_speed=20.0,
    )
    server = Server(settings, LiveClock())
    await server.setup()
    task = asyncio.create_task(server.run())
    try:
        with anyio.fail_after(20):
            await server.started.wait()
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.request_exit()
        with anyio.fail_after(90):
            await task


async def status_code(base: str, *, bearer: str | None = None, cookie: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    cookies = {COOKIE_NAME: cookie} if cookie else {}
    async with httpx.AsyncClient(base_url=base, headers=headers, cookies=cookies) as client:
        return (await client.get("/api/status")).status_code


async def log_in(base: str, password: str) -> tuple[str, str]:
    """(bearer token, cookie value) of a fresh session."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post("/api/auth/login", json={"password": password})
        assert response.status_code == 200, response.text
        cookie = client.cookies.get(COOKIE_NAME)
        assert cookie
        token: str = response.json()["token"]
        return token, cookie


def set_password(data_dir: Path, password: str) -> None:
    result = CliRunner().invoke(
        app, ["set-password", "--data-dir", str(data_dir)], input=f"{password}\n{password}\n"
    )
    assert result.exit_code == 0, result.output
    assert password not in result.output


@pytest.mark.anyio
async def test_sessions_survive_restart_and_end_on_logout_and_password_change(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    async with serving(data_dir) as base:
        bearer, _ = await log_in(base, PASSWORD)
        _, cookie = await log_in(base, PASSWORD)
        logged_out, _ = await log_in(base, PASSWORD)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {logged_out}"}
        ) as client:
            assert (await client.post("/api/auth/logout")).status_code == 200
        assert await status_code(base, bearer=bearer) == 200
    on_disk = (data_dir / SESSIONS_FILE_NAME).read_text()
    assert len(json.loads(on_disk)["sessions"]) == 2
    assert bearer not in on_disk and cookie not in on_disk and logged_out not in on_disk

    async with serving(data_dir) as base:  # a restart (upgrade, crash recovery) keeps sessions
        assert await status_code(base, bearer=bearer) == 200
        assert await status_code(base, cookie=cookie) == 200
        async with httpx.AsyncClient(base_url=base, cookies={COOKIE_NAME: cookie}) as browser:
            paused = await browser.post("/api/engine/pause", headers={CSRF_HEADER: "1"})
            assert paused.status_code == 200
        ws_url = base.replace("http://", "ws://") + "/ws/stream"
        auth = {"Authorization": f"Bearer {bearer}"}
        async with websockets.connect(ws_url, additional_headers=auth) as ws:
            with anyio.fail_after(10):
                assert json.loads(await ws.recv())["type"] == "hello"
        assert await status_code(base, bearer=logged_out) == 401  # logout outlived the restart

        set_password(data_dir, NEW_PASSWORD)  # while the server runs
        assert await status_code(base, bearer=bearer) == 401
        assert await status_code(base, cookie=cookie) == 401
        async with httpx.AsyncClient(base_url=base) as client:
            old = await client.post("/api/auth/login", json={"password": PASSWORD})
            assert old.status_code == 401
        fresh, _ = await log_in(base, NEW_PASSWORD)
        assert await status_code(base, bearer=fresh) == 200

    async with serving(data_dir) as base:
        assert await status_code(base, bearer=fresh) == 200
        assert await status_code(base, bearer=bearer) == 401
        assert await status_code(base, cookie=cookie) == 401


@pytest.mark.anyio
async def test_password_hash_replaced_while_stopped_ends_sessions_at_start(tmp_path: Path) -> None:
    """The hash file changed behind the server's back (restored from a backup, copied from
    another machine): the stored sessions were issued under another password and are refused."""
    data_dir = tmp_path / "data"
    async with serving(data_dir) as base:
        bearer, cookie = await log_in(base, PASSWORD)
    PasswordFile(data_dir / "admin_password.argon2").set(NEW_PASSWORD)
    assert (data_dir / SESSIONS_FILE_NAME).is_file()
    async with serving(data_dir) as base:
        assert await status_code(base, bearer=bearer) == 401
        assert await status_code(base, cookie=cookie) == 401
        fresh, _ = await log_in(base, NEW_PASSWORD)
        assert await status_code(base, bearer=fresh) == 200
    assert len(json.loads((data_dir / SESSIONS_FILE_NAME).read_text())["sessions"]) == 1
