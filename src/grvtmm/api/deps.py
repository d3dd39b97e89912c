"""What routes depend on: the services container and the auth checks, as typed aliases."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request, WebSocket, status

from grvtmm.api.auth import (
    COOKIE_NAME,
    CSRF_HEADER,
    CSRF_VALUE,
    LoginLimiter,
    PasswordFile,
    SessionStore,
)
from grvtmm.api.state import ConfigState
from grvtmm.core.clock import Clock
from grvtmm.monitor.venue_diagnostics import VenueDiagnostics
from grvtmm.node import Node

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SummaryProvider(Protocol):
    def summary(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]: ...


class SecretsLike(Protocol):
    def set(self, name: str, value: str) -> None: ...

    def get(self, name: str) -> str | None: ...

    def status(self) -> dict[str, int | None]: ...


@dataclass(slots=True)
class Services:
    """Everything the API may touch; built in the composition root."""

    node: Node
    clock: Clock
    mode: str
    passwords: PasswordFile
    sessions: SessionStore
    limiter: LoginLimiter
    config: ConfigState
    monitor: SummaryProvider
    secrets: SecretsLike | None = None
    store: Any = None
    series: Any = None
    metrics_renderer: Callable[[], bytes] | None = None
    stream: Any = None
    telegram_test: Callable[[], Any] | None = None
    jobs: Any = None
    """Backtest job runner (`grvtmm.backtest.jobs.JobRunner`); None: jobs disabled."""
    status_extra: Callable[[], dict[str, Any]] = field(default=lambda: {})
    venue_diagnostics: VenueDiagnostics | None = None
    """The venue's connection counters (retries, rate limits, reconnects, gaps, ...), shown in
    the status's `venue` section; None: the venue keeps none (demo)."""
    version: str = "0.1.0"


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def bearer_token(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def authenticate(request: Request) -> str:
    """The request's session token (cookie or bearer), or 401. Cookie-authenticated requests
    that change state must also carry the CSRF header."""
    services = get_services(request)
    token = bearer_token(request.headers.get("authorization"))
    via_cookie = False
    if token is None:
        token = request.cookies.get(COOKIE_NAME)
        via_cookie = token is not None
    if not token or not services.sessions.check(token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "login required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    csrf_ok = request.headers.get(CSRF_HEADER) == CSRF_VALUE
    if via_cookie and request.method not in SAFE_METHODS and not csrf_ok:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing {CSRF_HEADER} header")
    return token


AuthDep = Annotated[str, Depends(authenticate)]


def authenticate_ws(websocket: WebSocket) -> bool:
    services: Services = websocket.app.state.services
    token = bearer_token(websocket.headers.get("authorization")) or websocket.cookies.get(
        COOKIE_NAME
    )
    return bool(token) and services.sessions.check(token)  # type: ignore[arg-type]
