"""`create_app(services)`: the FastAPI application (OpenAPI at /api/openapi.json).

Every response carries the security headers below, errors included (an unexpected exception
becomes a bare 500 here, logged, so the headers still apply). The live stream accepts only
authenticated clients whose `Origin`, when a browser sends one, names the host they connected
to: a page on another site cannot open the stream with the operator's cookie. With
`allowed_hosts` set, requests naming any other host are refused (DNS rebinding).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from grvtmm.api.deps import AuthDep, Services, authenticate_ws
from grvtmm.api.routes import alerts, backtest, config, engine, monitor, system

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
HSTS = "max-age=31536000"
"""Strict-Transport-Security, sent on requests that arrived over HTTPS (directly, or through a
trusted proxy's X-Forwarded-Proto, see uvicorn's `forwarded_allow_ips`)."""
WS_POLICY_VIOLATION = 4403

log = logging.getLogger(__name__)


def same_origin(websocket: WebSocket) -> bool:
    """True unless a browser sent an `Origin` whose host differs from the `Host` it connected
    to (ports are not compared, so a proxy that rewrites the port still works). Clients that
    send no Origin (scripts with a bearer token) pass; `Origin: null` does not."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    scheme, authority = urlsplit(origin)[:2]
    origin_host = _hostname(authority) if scheme in ("http", "https") else None
    return origin_host is not None and origin_host == _hostname(websocket.headers.get("host", ""))


def _hostname(authority: str) -> str | None:
    """The host of `host[:port]`, or None when the port is not a number (`a:1.evil.example`)."""
    parts = urlsplit("//" + authority)
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        return None
    return parts.hostname


def create_app(
    services: Services, static_dir: Path | None = None, allowed_hosts: Sequence[str] = ()
) -> FastAPI:
    """The API around `services`; CORS stays closed (no cross-origin access).

    `allowed_hosts`: the host names the API answers to (a `Host` header naming any other gets
    400) — the defence against DNS rebinding, where a web page re-points its own name at
    127.0.0.1 to reach a loopback-bound server from the operator's browser. Empty: any host."""
    app = FastAPI(
        title="grvt-mm",
        version=services.version,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    if allowed_hosts:  # inside the headers middleware, so its 400 carries them too
        app.add_middleware(
            TrustedHostMiddleware, allowed_hosts=list(allowed_hosts), www_redirect=False
        )

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        try:
            response = await call_next(request)
        except Exception:
            log.exception("api.unhandled_error", extra={"path": request.url.path})
            response = JSONResponse({"detail": "internal error"}, status_code=500)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    for module in (system, engine, config, monitor, alerts, backtest):
        app.include_router(module.router)

    @app.get("/api/openapi.json", tags=["system"], include_in_schema=False)
    def openapi_schema(_: AuthDep) -> dict[str, Any]:
        """The OpenAPI schema (login required, like every route but /healthz)."""
        return app.openapi()

    @app.websocket("/ws/stream")
    async def stream(websocket: WebSocket) -> None:
        """Live stream: hello, snapshot, then ticks and events (cookie or bearer auth)."""
        if not same_origin(websocket):
            await websocket.close(code=WS_POLICY_VIOLATION, reason="cross-origin stream refused")
            return
        if not authenticate_ws(websocket):
            await websocket.close(code=4401, reason="login required")
            return
        await websocket.accept()
        hub = services.stream
        if hub is None:
            await websocket.close(code=1011, reason="stream unavailable")
            return
        await hub.serve(websocket)

    if static_dir is not None and (static_dir / "index.html").is_file():
        app.mount("/", StaticFiles(directory=static_dir, html=True), name="dashboard")
    return app


def http_routes(app: FastAPI) -> list[APIRoute]:
    """Every HTTP route of the app, including those of included routers."""
    found: list[APIRoute] = []
    pending: list[Any] = list(app.routes)
    while pending:
        route = pending.pop()
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            pending.extend(route.original_router.routes)
    return found
