"""Telegram Bot API client on plain httpx: `sendMessage` paced and retried, `getUpdates` polled.

Why httpx and not python-telegram-bot or aiogram: we call two methods and need our own policy
around each — about one message a second per chat, bursts coalesced by the caller while it
waits for its turn, bounded retries honouring `retry_after`, one clear report when a second
process polls the same token (409) — and a token that never reaches a logged URL. Both
libraries bring an application framework (dispatcher, handlers, their own polling loop and
retry policy) we would have to work around, plus a dependency; httpx is already used by the
venue client, and the two calls take a few dozen lines.

The token is part of the Bot API URL path by Telegram's design. Requests are built with a
placeholder in its place and `_TokenTransport` substitutes the token only when handing the
request to the network, so no URL that httpx logs, an exception carries or a response refers
to contains it; error texts are scrubbed as well.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from grvtmm.core.clock import NS_PER_S, perf_ns

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.telegram.org"
TOKEN_PATTERN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
"""A bot token as BotFather issues it: `<bot id>:<secret>`."""
_SLOT = "~token~"


class TelegramError(Exception):
    """A Bot API call failed: `status` is Telegram's error code (0: no answer at all)."""

    def __init__(self, description: str, *, status: int = 0, retry_after_s: float | None = None):
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        """Rate limited, a server error or no answer: worth trying again later."""
        return self.status in (0, 429) or self.status >= 500

    def describe(self) -> str:
        if self.status:
            return f"Telegram answered {self.status}: {self.description}"
        return f"cannot reach Telegram: {self.description}"


class TelegramConflict(TelegramError):
    """409: another getUpdates consumer (a second process with this token, or a webhook)."""


@dataclass(frozen=True, slots=True)
class TelegramLimits:
    """Pacing, retry and polling bounds (seconds)."""

    min_interval_s: float = 1.05
    """Between two messages: Telegram allows about one message a second per chat."""
    group_min_interval_s: float = 3.0
    """Between two messages to a group (negative chat id): at most 20 a minute there."""
    max_attempts: int = 5
    """Tries per message before it is given up (and its alerts counted as dropped)."""
    base_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    request_timeout_s: float = 10.0
    poll_timeout_s: int = 30
    """Long-poll duration of one getUpdates call."""
    conflict_backoff_s: float = 30.0
    max_conflict_backoff_s: float = 300.0
    test_timeout_s: float = 15.0
    """The whole "send test message" action, retries included."""

    def backoff_s(self, attempt: int) -> float:
        """Delay after failed attempt number `attempt` (1-based) without a retry_after."""
        return float(min(self.base_backoff_s * 2 ** min(attempt - 1, 30), self.max_backoff_s))


class _TokenTransport(httpx.AsyncBaseTransport):
    """Puts the token into the path only on the way to the network."""

    def __init__(self, token: str, inner: httpx.AsyncBaseTransport) -> None:
        self._token = token
        self._slot = f"/bot{_SLOT}/".encode()
        self._real = f"/bot{token}/".encode()
        self._inner = inner

    def __repr__(self) -> str:
        return "_TokenTransport()"

    def scrub(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        outgoing = httpx.Request(
            request.method,
            url.copy_with(raw_path=url.raw_path.replace(self._slot, self._real, 1)),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self._inner.handle_async_request(outgoing)

    async def aclose(self) -> None:
        await self._inner.aclose()


def check_token(token: str) -> str | None:
    """Why `token` cannot be a bot token, or None (the token itself is never repeated)."""
    if not token:
        return "bot token not set"
    if not TOKEN_PATTERN.match(token):
        return "bot token is malformed (expected <bot id>:<secret> as issued by BotFather)"
    return None


class BotApi:
    """One bot's Bot API calls. Sends are serialised and paced; see `TelegramLimits`."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_API_BASE_URL,
        limits: TelegramLimits | None = None,
    ) -> None:
        problem = check_token(token)
        if problem is not None:
            raise ValueError(problem)
        self.limits = limits or TelegramLimits()
        self.base_url = base_url.rstrip("/")
        self._transport = _TokenTransport(token, httpx.AsyncHTTPTransport())
        self._http = httpx.AsyncClient(
            transport=self._transport, timeout=self.limits.request_timeout_s
        )
        self._prefix = f"{self.base_url}/bot{_SLOT}/"
        self._send_lock = asyncio.Lock()
        self._next_send_ns = 0
        self.retries = 0

    def __repr__(self) -> str:
        return f"BotApi(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, payload: Mapping[str, Any], *, timeout_s: float) -> Any:
        """One request; the `result` on success, else raises `TelegramError`."""
        try:
            response = await self._http.post(self._prefix + method, json=payload, timeout=timeout_s)
        except httpx.HTTPError as exc:
            detail = self._transport.scrub(f"{type(exc).__name__}: {exc}")
            raise TelegramError(detail[:300]) from None
        return self._result(response)

    def _result(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code == 200 and body.get("ok") is True:
            return body.get("result")
        status = body.get("error_code") or response.status_code
        description = self._transport.scrub(str(body.get("description") or f"HTTP {status}"))
        parameters = body.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        kind = TelegramConflict if status == 409 else TelegramError
        raise kind(
            description[:300],
            status=int(status),
            retry_after_s=float(retry_after) if isinstance(retry_after, int | float) else None,
        )

    async def wait_turn(self) -> None:
        """Return when the next message may go (the pacing interval or a retry_after)."""
        delay_ns = self._next_send_ns - perf_ns()
        if delay_ns > 0:
            await asyncio.sleep(delay_ns / NS_PER_S)

    def _hold_ns(self, delay_s: float) -> None:
        self._next_send_ns = max(self._next_send_ns, perf_ns() + int(delay_s * NS_PER_S))

    async def send_message(
        self, chat_id: str, text: str, *, silent: bool = False, max_attempts: int | None = None
    ) -> None:
        """Send `text`, retrying 429 (after `retry_after`), 5xx and network failures with backoff;
        raises the last `TelegramError` when it gives up or the error is permanent."""
        limits = self.limits
        attempts = max_attempts or limits.max_attempts
        interval_s = (
            limits.group_min_interval_s if chat_id.startswith("-") else limits.min_interval_s
        )
        payload = {"chat_id": chat_id, "text": text, "disable_notification": silent}
        async with self._send_lock:
            for attempt in range(1, attempts + 1):
                await self.wait_turn()
                try:
                    await self.call("sendMessage", payload, timeout_s=limits.request_timeout_s)
                    return
                except TelegramError as exc:
                    if not exc.retryable or attempt == attempts:
                        raise
                    delay_s = exc.retry_after_s
                    if delay_s is None:
                        delay_s = limits.backoff_s(attempt)
                    self._hold_ns(delay_s)
                    self.retries += 1
                    log.warning(
                        "telegram.send_retry",
                        extra={"status": exc.status, "attempt": attempt, "delay_s": delay_s},
                    )
                finally:
                    # counted from the answer, so arrivals at Telegram are never closer
                    self._hold_ns(interval_s)

    async def get_updates(self, offset: int | None, timeout_s: int) -> list[dict[str, Any]]:
        """Messages after `offset` (which confirms the earlier ones), waiting up to `timeout_s`."""
        payload: dict[str, Any] = {"timeout": timeout_s, "allowed_updates": ["message"]}
        if offset is not None:
            payload["offset"] = offset
        result = await self.call(
            "getUpdates", payload, timeout_s=timeout_s + self.limits.request_timeout_s
        )
        if not isinstance(result, list):
            return []
        return [update for update in result if isinstance(update, dict)]
