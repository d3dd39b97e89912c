"""Health, metrics, login/logout and status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from grvtmm.api.auth import COOKIE_NAME
from grvtmm.api.deps import AuthDep, ServicesDep, authenticate, get_services
from grvtmm.api.views import engine_view
from grvtmm.monitor.venue_diagnostics import venue_section
from grvtmm.settings import is_loopback

router = APIRouter()


class LoginBody(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


class LoginResult(BaseModel):
    ok: bool
    token: str = Field(description="bearer token for scripts; browsers use the session cookie")


@router.get("/healthz", tags=["system"])
def healthz() -> dict[str, bool]:
    """Liveness probe; no authentication."""
    return {"ok": True}


@router.get("/metrics", tags=["system"], response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics: open to loopback clients that also name a loopback host, otherwise
    login required (a web page whose name re-resolves to 127.0.0.1 sends its own Host)."""
    services = get_services(request)
    client = request.client.host if request.client else ""
    host = (request.url.hostname or "").strip("[]")
    if not (is_loopback(client) and is_loopback(host)):
        authenticate(request)
    if services.metrics_renderer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "metrics are not enabled")
    return Response(services.metrics_renderer(), media_type="text/plain; version=0.0.4")


@router.post("/api/auth/login", tags=["auth"])
def login(
    body: LoginBody, request: Request, response: Response, services: ServicesDep
) -> LoginResult:
    """Exchange the operator password for a session (cookie + bearer token)."""
    client = request.client.host if request.client else "?"
    wait_s = services.limiter.retry_after_s(client)
    if wait_s:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed logins; try again later",
            headers={"Retry-After": str(wait_s)},
        )
    if not services.passwords.is_set:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no operator password set: run `grvt-mm set-password` or set GRVTMM_ADMIN_PASSWORD",
        )
    if not services.passwords.verify(body.password):
        services.limiter.failed(client)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong password")
    services.limiter.succeeded(client)
    token = services.sessions.issue()
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=services.sessions.ttl_ns // 1_000_000_000,
        path="/",
    )
    return LoginResult(ok=True, token=token)


@router.post("/api/auth/logout", tags=["auth"])
def logout(token: AuthDep, response: Response, services: ServicesDep) -> dict[str, bool]:
    services.sessions.revoke(token)
    response.delete_cookie(COOKIE_NAME, path="/")
    return {"ok": True}


def pending_symbol(services: Any) -> str:
    """Why the stored strategy cannot run in this process: its symbol differs from the
    instrument this process was started for ("" when they agree). The venue, instrument and
    market data are set up for one symbol at start, so a new symbol takes a restart."""
    wanted = services.config.strategy.symbol
    trading = services.node.engine.instrument.symbol
    if wanted == trading:
        return ""
    return (
        f"The strategy symbol was changed to {wanted}, but this process trades {trading}: "
        f"restart grvt-mm to switch to {wanted} (starting is blocked until then)."
    )


def status_body(services: Any) -> dict[str, Any]:
    node = services.node
    snap = node.snapshot()
    view = engine_view(snap, node.engine.instrument)
    notices: list[str] = []
    if services.mode == "demo":
        notices.append(
            "Demo mode: a built-in synthetic market with simulated fills. No real orders are "
            "sent. Configure GRVT keys and restart with --mode live to trade."
        )
    if services.mode == "paper":
        notices.append("Paper mode: GRVT public market data, simulated fills, no real orders.")
    extra = services.status_extra()
    notices.extend(extra.pop("notices", []))
    pending = pending_symbol(services)
    if pending:
        notices.append(pending)
        extra["start_blocker"] = extra.get("start_blocker") or pending
    return {
        "mode": services.mode,
        "version": services.version,
        "engine": view,
        "notices": notices,
        "venue": venue_section(getattr(services, "venue_diagnostics", None)),
        **extra,
    }


@router.get("/api/status", tags=["system"])
def get_status(_: AuthDep, services: ServicesDep) -> dict[str, Any]:
    """Trading mode (demo/paper/live), engine state, connectivity and plain-language notices.

    `venue` holds the venue connection's counters (REST requests, retries, rate-limit answers,
    logins; per WebSocket stream reconnects, gaps, resubscribes; book usable or ticker-only),
    or null when the venue keeps none (demo)."""
    return status_body(services)
