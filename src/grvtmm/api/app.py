"""`create_app(services)`: the FastAPI application (OpenAPI at /api/openapi.json)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from grvtmm.api.deps import AuthDep, Services, authenticate_ws
from grvtmm.api.routes import alerts, backtest, config, engine, monitor, system

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_app(services: Services, static_dir: Path | None = None) -> FastAPI:
    """The API around `services`; CORS stays closed (no cross-origin access)."""
    app = FastAPI(
        title="grvt-mm",
        version=services.version,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
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
