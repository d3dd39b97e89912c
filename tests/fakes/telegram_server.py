"""A fake Telegram Bot API on loopback: `sendMessage`, `getUpdates` (long poll with offsets).

Faults: `fail_sends` answers the next sendMessage calls with an error (429 with `retry_after`,
5xx, ...). As on Telegram, a getUpdates that arrives while another one is waiting ends the
waiting one with 409 Conflict (two processes polling one token). Every accepted message is
recorded with its arrival time; requests with another token get 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
from collections import deque
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from grvtmm.core.clock import LiveClock
from grvtmm.core.events import Event

CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
TOKEN = "123456789:AAH-fake_secret_for_tests_0123456789"
CHAT_ID = "424242"


class FakeControl:
    """Stands in for the node: records the operator events submitted to it."""

    def __init__(self) -> None:
        self.submitted: list[Event] = []

    async def submit(self, event: Event) -> None:
        self.submitted.append(event)


@dataclass(frozen=True)
class SentMessage:
    chat_id: str
    text: str
    silent: bool
    received_ns: int


def _error(status: int, description: str, retry_after: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=status)


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


class FakeTelegramServer:
    """Start with `async with FakeTelegramServer(token) as server:`; `base_url` is loopback."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.clock = LiveClock()
        self.messages: list[SentMessage] = []
        self.send_attempts_ns: list[int] = []
        self.poll_calls = 0
        self.conflicts_served = 0
        self.unauthorized = 0
        self._faults: deque[tuple[int, int | None]] = deque()
        self._updates: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._waiting: asyncio.Future[str] | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def texts(self) -> list[str]:
        return [m.text for m in self.messages]

    # ---- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> FakeTelegramServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/bot{token}/{method}", self._call, methods=["POST"])])
        config = uvicorn.Config(
            app,
            log_level="critical",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._wake("closing")
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    # ---- test controls -----------------------------------------------------------------------
    def push_message(self, chat_id: int | str, text: str) -> int:
        """A user sends `text` in chat `chat_id`; returns the update id."""
        update_id = next(self._ids)
        message_id = next(self._message_ids)
        chat = int(chat_id)
        self._updates.append(
            {
                "update_id": update_id,
                "message": {
                    "message_id": message_id,
                    "date": self.clock.now_ns() // 1_000_000_000,
                    "chat": {"id": chat, "type": "private" if chat > 0 else "group"},
                    "from": {"id": abs(chat), "is_bot": False, "first_name": "Operator"},
                    "text": text,
                },
            }
        )
        self._wake("update")
        return update_id

    def fail_sends(self, status: int, *, retry_after: int | None = None, count: int = 1) -> None:
        """Answer the next `count` sendMessage calls with `status` (and `retry_after`)."""
        for _ in range(count):
            self._faults.append((status, retry_after))

    def _wake(self, outcome: str) -> None:
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            waiting.set_result(outcome)

    # ---- Bot API -----------------------------------------------------------------------------
    async def _call(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            self.unauthorized += 1
            return _error(401, "Unauthorized")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return _error(400, "Bad Request: invalid JSON")
        method = request.path_params["method"]
        if method == "sendMessage":
            return self._send_message(body)
        if method == "getUpdates":
            return await self._get_updates(body)
        return _error(404, "Not Found")

    def _send_message(self, body: dict[str, Any]) -> JSONResponse:
        now = self.clock.now_ns()
        self.send_attempts_ns.append(now)
        if self._faults:
            status, retry_after = self._faults.popleft()
            if status == 429:
                return _error(429, f"Too Many Requests: retry after {retry_after}", retry_after)
            return _error(status, "Internal Server Error" if status >= 500 else "Bad Request")
        text = body.get("text")
        if "chat_id" not in body:
            return _error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        silent = bool(body.get("disable_notification", False))
        self.messages.append(SentMessage(str(body["chat_id"]), text, silent, now))
        return _ok({"message_id": len(self.messages), "text": text})

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        if offset < 0:
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

    async def _get_updates(self, body: dict[str, Any]) -> JSONResponse:
        self.poll_calls += 1
        self._wake("conflict")  # a waiting poll is terminated by this newer one
        offset = body.get("offset")
        timeout_s = float(body.get("timeout", 0))
        self._confirm(offset)
        if not self._updates and timeout_s > 0:
            waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._waiting = waiter
            try:
                outcome = await asyncio.wait_for(waiter, timeout_s)
            except TimeoutError:
                outcome = "timeout"
            finally:
                if self._waiting is waiter:
                    self._waiting = None
            if outcome == "conflict":
                self.conflicts_served += 1
                return _error(409, CONFLICT)
        return _ok(list(self._updates[:100]))


def token_leaks(records: list[logging.LogRecord], token: str) -> list[str]:
    """Every captured log line (message, arguments, extra fields, traceback) showing the token
    or its secret half."""
    secret = token.split(":", 1)[-1]
    formatter = logging.Formatter()
    leaks = []
    for record in records:
        parts = [record.getMessage(), repr(record.args), repr(vars(record))]
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
        line = " ".join(parts)
        if token in line or secret in line:
            leaks.append(line[:300])
    return leaks
