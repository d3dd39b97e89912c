"""GRVT REST over httpx: API-key session, rate limiting, retries with backoff, typed errors.

Every call is a POST with a JSON body. Private calls carry the `gravity` session cookie and the
`X-Grvt-Account-Id` header from the API-key login; the session is renewed well before the
cookie's expiry (read as UTC) and again at once when the exchange answers 401 / code 1000.
Requests pass a per-endpoint-group token bucket; 429 / 5xx / timeouts are retried with
exponential backoff and jitter from a seeded RNG, and every retry is counted in `stats`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from http.cookies import CookieError, SimpleCookie
from typing import Any, Final, Literal

import httpx
import orjson

from grvtmm.core.clock import NS_PER_S, Clock, perf_ns
from grvtmm.venues.grvt.errors import (
    AuthError,
    Disconnected,
    RateLimited,
    Retryable,
    Timeout,
    VenueError,
    from_body,
)
from grvtmm.venues.grvt.limits import RateLimits, RetryPolicy

log = logging.getLogger(__name__)
# httpcore traces every request's and response's headers at DEBUG, the session cookie
# included; keep that library logger above DEBUG whatever the application's level is.
logging.getLogger("httpcore").setLevel(logging.INFO)

Env = Literal["prod", "testnet"]
Group = Literal["order", "cancel_all", "query", "account", "market", "auth", "cod"]
Sleep = Callable[[float], Awaitable[None]]

_HOSTS: Final[Mapping[str, tuple[str, str, str, str, str]]] = {
    "prod": (
        "https://edge.grvt.io",
        "https://trades.grvt.io",
        "https://market-data.grvt.io",
        "wss://trades.grvt.io/ws/full",
        "wss://market-data.grvt.io/ws/full",
    ),
    "testnet": (
        "https://edge.testnet.grvt.io",
        "https://trades.testnet.grvt.io",
        "https://market-data.testnet.grvt.io",
        "wss://trades.testnet.grvt.io/ws/full",
        "wss://market-data.testnet.grvt.io/ws/full",
    ),
}


class Secret:
    """A credential that never appears in repr, str, logs or exception text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Base URLs of the three REST hosts and the two `/ws/full` stream URLs."""

    edge_url: str
    trades_url: str
    market_data_url: str
    trades_ws_url: str
    market_data_ws_url: str

    @classmethod
    def for_env(cls, env: Env, **overrides: str | None) -> Endpoints:
        """GRVT's hosts for `env`, with any non-empty override replacing its default."""
        try:
            defaults = _HOSTS[env]
        except KeyError:
            raise ValueError(f"unknown GRVT environment {env!r}") from None
        names = ("edge_url", "trades_url", "market_data_url", "trades_ws_url", "market_data_ws_url")
        values = {
            n: (overrides.get(n) or d).rstrip("/") for n, d in zip(names, defaults, strict=True)
        }
        return cls(**values)


@dataclass(slots=True)
class HttpStats:
    """Counters for the dashboard and tests: every retry and its cause is visible."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    timeouts: int = 0
    disconnects: int = 0
    logins: int = 0
    relogins: int = 0
    failures: int = 0
    codes: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Session:
    """An API-key session: cookie value, account header, expiry (unix ns, UTC)."""

    cookie: Secret
    account_id: str
    expires_ns: int
    sub_account_id: str = ""
    issued_ns: int = 0

    def renew_at_ns(self, refresh_before_ns: int) -> int:
        """When to log in again: `refresh_before_ns` ahead of expiry, or at half the lifetime."""
        lifetime = max(0, self.expires_ns - self.issued_ns)
        return self.expires_ns - min(refresh_before_ns, lifetime // 2)


def cookie_expiry_ns(set_cookie: str, now_ns: int, default_ns: int) -> int:
    """Unix ns expiry of a Set-Cookie line: Max-Age first, then Expires read as UTC."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(set_cookie)
    except CookieError:
        return now_ns + default_ns
    morsel = jar.get("gravity")
    if morsel is None:
        return now_ns + default_ns
    max_age = morsel["max-age"]
    if max_age and str(max_age).lstrip("-").isdigit():
        return now_ns + int(max_age) * NS_PER_S
    expires = morsel["expires"]
    if expires:
        try:
            when = parsedate_to_datetime(expires)
        except (TypeError, ValueError):
            return now_ns + default_ns
        # RFC 1123 dates are GMT; a missing zone must not be read as local time.
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp()) * NS_PER_S
    return now_ns + default_ns


def _gravity_cookie(response: httpx.Response) -> tuple[str, str] | None:
    for line in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(line)
        except CookieError:
            continue
        morsel = jar.get("gravity")
        if morsel is not None and morsel.value:
            return morsel.value, line
    return None


class GrvtHttp:
    """Async GRVT REST client for one API key and one trading sub-account."""

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        api_key: Secret,
        clock: Clock,
        rng: random.Random,
        client: httpx.AsyncClient | None = None,
        limits: RateLimits | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        timeout_s: float = 5.0,
        refresh_before_ns: int = 3600 * NS_PER_S,
        default_session_ns: int = 12 * 3600 * NS_PER_S,
    ) -> None:
        self.endpoints = endpoints
        self._api_key = api_key
        self._clock = clock
        self._rng = rng
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._own_client = client is None
        self.limits = limits or RateLimits(now_ns=perf_ns)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._refresh_before_ns = refresh_before_ns
        self._default_session_ns = default_session_ns
        self._session: Session | None = None
        self._login_lock = asyncio.Lock()
        self.stats = HttpStats()

    @property
    def session(self) -> Session | None:
        return self._session

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    # ---- session -----------------------------------------------------------------------
    async def login(self) -> Session:
        """API-key login: the `gravity` cookie, `X-Grvt-Account-Id` and the sub-account id."""
        async with self._login_lock:
            return await self._login()

    async def _login(self) -> Session:
        if not self._api_key:
            raise AuthError("api_key_missing", "no API key configured")
        url = f"{self.endpoints.edge_url}/auth/api_key/login"
        body = {"api_key": self._api_key.reveal()}
        response = await self._send(url, body, headers={"Cookie": "rm=true"}, group="auth")
        payload = _json(response)
        err = from_body(payload, response.status_code)
        if err is not None:
            raise err
        cookie = _gravity_cookie(response)
        account_id = response.headers.get("x-grvt-account-id", "")
        if cookie is None or not account_id:
            raise AuthError("login_incomplete", "login answered without session cookie or account")
        now = self._clock.now_ns()
        expires = cookie_expiry_ns(cookie[1], now, self._default_session_ns)
        sub = payload.get("sub_account_id") if isinstance(payload, dict) else None
        self._session = Session(Secret(cookie[0]), account_id, expires, str(sub or ""), now)
        self.stats.logins += 1
        log.info("grvt.login", extra={"expires_in_s": (expires - now) // NS_PER_S})
        return self._session

    async def _ensure_session(self) -> Session:
        session = self._session
        now = self._clock.now_ns()
        if session is not None and now < session.renew_at_ns(self._refresh_before_ns):
            return session
        async with self._login_lock:
            if self._session is not session and self._session is not None:
                return self._session
            return await self._login()

    async def _relogin(self, stale: Session | None) -> None:
        async with self._login_lock:
            if self._session is stale:
                self.stats.relogins += 1
                await self._login()

    def auth_headers(self) -> dict[str, str]:
        """Headers for a private WebSocket handshake (requires a session)."""
        session = self._session
        if session is None:
            raise AuthError("not_logged_in", "log in before opening private streams")
        return {
            "Cookie": f"gravity={session.cookie.reveal()}",
            "X-Grvt-Account-Id": session.account_id,
        }

    async def ensure_auth_headers(self) -> dict[str, str]:
        """Headers for a private WebSocket handshake, logging in or renewing first if due."""
        await self._ensure_session()
        return self.auth_headers()

    # ---- transport ---------------------------------------------------------------------
    async def _send(
        self, url: str, body: Mapping[str, Any], *, headers: dict[str, str], group: Group
    ) -> httpx.Response:
        await self.limits.acquire(group, self._sleep)
        self.stats.requests += 1
        try:
            response = await self._client.post(
                url,
                content=orjson.dumps(body),
                headers={"Content-Type": "application/json", **headers},
            )
        except httpx.TimeoutException:
            raise Timeout("timeout", f"no answer from {_path(url)}") from None
        except httpx.TransportError as exc:
            raise Disconnected("disconnected", f"{_path(url)}: {type(exc).__name__}") from None
        finally:
            self._client.cookies.clear()  # the session cookie is sent explicitly, never jarred
        return response

    async def call(
        self, base_url: str, path: str, body: Mapping[str, Any], *, group: Group, private: bool
    ) -> Any:
        """POST `body` to `base_url/path`; the decoded JSON on success, else a VenueError."""
        url = f"{base_url}/{path}"
        attempt = 0
        relogged = False
        session: Session | None = None
        while True:
            attempt += 1
            try:
                # a due renewal that fails is handled like a failed attempt of the call
                session = await self._ensure_session() if private else None
                headers = self.auth_headers() if private else {}
                response = await self._send(url, body, headers=headers, group=group)
                payload = _json(response)
                err = from_body(payload, response.status_code)
            except VenueError as exc:
                err, response = exc, None
            if err is None:
                return payload
            self._count(err)
            if isinstance(err, AuthError) and err.needs_login and private and not relogged:
                relogged = True
                try:
                    await self._relogin(session)
                    continue
                except VenueError as login_err:
                    # the login itself failed: a transient failure is retried like the call's
                    # own (the next 401 logs in again), anything else ends the call
                    self._count(login_err)
                    err, response = login_err, None
                    relogged = not isinstance(login_err, Retryable)
            if isinstance(err, Retryable) and attempt < self.retry.max_attempts:
                self.stats.retries += 1
                delay_s = self.retry.delay_s(attempt, self._rng, _retry_after(response))
                log.warning(
                    "grvt.retry",
                    extra={"path": path, "reason": err.reason, "attempt": attempt},
                )
                await self._sleep(delay_s)
                continue
            err.attempts = attempt
            self.stats.failures += 1
            raise err

    def _count(self, err: VenueError) -> None:
        stats = self.stats
        if err.code is not None:
            stats.codes[err.code] = stats.codes.get(err.code, 0) + 1
        if isinstance(err, RateLimited):
            stats.rate_limited += 1
        elif isinstance(err, Timeout):
            stats.timeouts += 1
        elif isinstance(err, Disconnected):
            stats.disconnects += 1
        elif isinstance(err, Retryable):
            stats.server_errors += 1


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after", "")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _path(url: str) -> str:
    return httpx.URL(url).path
