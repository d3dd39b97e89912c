"""`grvt-mm serve` as a real child process on loopback: start it, log in over HTTP, signal it,
`kill -9` it, wait for its exit and read its JSON log lines. For the shutdown and crash-recovery
tests; the fakes it talks to (GRVT, Telegram) run in the test process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx

from fakes import eventually
from fakes.grvt_helpers import taker, venue_on
from fakes.grvt_server import API_KEY, PRIVATE_KEY, FakeGrvtServer
from grvtmm.api.auth import CSRF_HEADER
from grvtmm.core.events import BookSnapshot, OrderFilled
from grvtmm.store.repository import Store

PASSWORD = "operator-password-1"
CSRF = {CSRF_HEADER: "1"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def live_env(server: FakeGrvtServer) -> dict[str, str]:
    """Environment pointing `serve --mode live` at the fake GRVT server."""
    return {
        "GRVTMM_GRVT__ENV": "testnet",
        "GRVTMM_GRVT__API_KEY": API_KEY,
        "GRVTMM_GRVT__API_SECRET": PRIVATE_KEY,
        "GRVTMM_GRVT__EDGE_URL": server.base_url,
        "GRVTMM_GRVT__TRADES_URL": server.base_url,
        "GRVTMM_GRVT__MARKET_DATA_URL": server.base_url,
        "GRVTMM_GRVT__TRADES_WS_URL": server.ws_url,
        "GRVTMM_GRVT__MARKET_DATA_WS_URL": server.ws_url,
    }


async def trade_from_another_client(server: FakeGrvtServer) -> str:
    """A taker buy on the fake account by another client (not the serve process); returns its
    trade id."""
    async with venue_on(server) as (venue, got):
        await eventually(lambda: bool(got.of(BookSnapshot)))
        await venue.execute(taker(venue, server))
        await eventually(lambda: bool(got.of(OrderFilled)))
    trade_id: str = got.of(OrderFilled)[0].trade_id
    return trade_id


async def wait_for(
    predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.05
) -> None:
    """Poll a synchronous or asynchronous predicate until it holds; fail after `timeout_s`."""
    try:
        with anyio.fail_after(timeout_s):
            while True:
                result = predicate()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(interval_s)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}") from None


class ServeProcess:
    """One `python -m grvtmm serve` child with its own data dir and port."""

    def __init__(
        self, data_dir: Path, *, mode: str, env: Mapping[str, str] | None = None, port: int = 0
    ) -> None:
        self.data_dir = data_dir
        self.mode = mode
        self.port = port or free_port()
        self.env = dict(env or {})
        self.proc: asyncio.subprocess.Process | None = None
        self.client = httpx.AsyncClient(base_url=self.base_url, timeout=5)
        self.stderr_path = data_dir.parent / f"serve-{self.port}.log"
        self.returncode: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout_s: float = 30.0) -> None:
        """Spawn, wait for /healthz and log in."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("GRVTMM_") and k != "PYTHONPATH"
        }
        env.update(
            {
                "GRVTMM_ADMIN_PASSWORD": PASSWORD,
                "GRVTMM_LOG_JSON": "true",
                **self.env,
            }
        )
        stderr = self.stderr_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "grvtmm",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--mode",
            self.mode,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
        stderr.close()
        await wait_for(self._healthy, timeout_s, f"/healthz of serve on {self.port}")
        response = await self.client.post("/api/auth/login", json={"password": PASSWORD})
        assert response.status_code == 200, response.text
        self.client.headers["authorization"] = f"Bearer {response.json()['token']}"

    async def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.returncode is not None:
            raise AssertionError(f"serve exited early ({self.proc.returncode}):\n{self.log()}")
        try:
            response = await self.client.get("/healthz")
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def status(self) -> dict[str, Any]:
        response = await self.client.get("/api/status")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def engine(self) -> dict[str, Any]:
        engine: dict[str, Any] = (await self.status())["engine"]
        return engine

    async def control(self, action: str) -> dict[str, Any]:
        response = await self.client.post(f"/api/engine/{action}", headers=CSRF, json={})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """`kill -9`: no shutdown code runs."""
        self.signal(signal.SIGKILL)

    async def wait_exit(self, timeout_s: float) -> int:
        """The exit status; fails (after killing the child) if it does not exit in time."""
        assert self.proc is not None
        try:
            with anyio.fail_after(timeout_s):
                code = await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(
                f"serve did not exit within {timeout_s:g} s:\n{self.log()}"
            ) from None
        self.returncode = code
        return code

    async def close(self) -> None:
        """Make sure the child is gone (tests end it themselves; this is the safety net)."""
        await self.client.aclose()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def log_lines(self) -> list[dict[str, Any]]:
        """The child's JSON log lines (other lines, e.g. tracebacks, are skipped)."""
        lines = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return lines

    def store(self) -> Store:
        return Store(f"sqlite:///{(self.data_dir / 'grvtmm.db').resolve()}", migrate=False)
