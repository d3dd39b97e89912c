"""Security suite: the real app under uvicorn on 127.0.0.1, attacked the way an outsider would.

Routes are enumerated from the app itself (a new route is covered without editing this file),
and the public ones are compared with a short hand-written allowlist.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from security_support import CSRF, PASSWORD, REMOTE, Secured, bearer_token, login
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from fakes import eventually
from grvtmm.api.app import create_app
from grvtmm.api.auth import COOKIE_NAME, LoginLimiter
from grvtmm.core.clock import NS_PER_S, LiveClock, SimClock
from grvtmm.core.events import EngineMode
from grvtmm.logs import JsonFormatter, TextFormatter, setup_logging
from grvtmm.serve import ServeError, Server
from grvtmm.settings import Settings, is_loopback

pytestmark = pytest.mark.anyio

# Everything an anonymous caller on another host may use. Anything else must refuse them.
PUBLIC = {
    ("GET", "/healthz"),
    ("POST", "/api/auth/login"),
    ("STATIC", "/"),  # the dashboard's index.html and its assets
}
SAFE = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Endpoint:
    method: str  # an HTTP method, "WS" or "STATIC"
    path: str
    route: Any = field(compare=False, hash=False, repr=False)


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every endpoint the app serves, found by walking its routes (included routers, websocket
    routes, mounts); an unknown kind of route fails the suite rather than escaping it."""
    found: list[Endpoint] = []
    pending: list[tuple[str, Any]] = [("", route) for route in app.routes]
    while pending:
        prefix, route = pending.pop()
        if isinstance(route, APIRoute | Route):
            for method in sorted(route.methods or ()):
                found.append(Endpoint(method, prefix + route.path, route))
        elif isinstance(route, APIWebSocketRoute | WebSocketRoute):
            found.append(Endpoint("WS", prefix + route.path, route))
        elif isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            found.append(Endpoint("STATIC", prefix + (route.path or "/"), route))
        elif isinstance(route, Mount):
            pending.extend((prefix + route.path, r) for r in route.routes)
        elif hasattr(route, "original_router"):
            inner = prefix + (getattr(route, "prefix", "") or "")
            pending.extend((inner, r) for r in route.original_router.routes)
        else:
            raise AssertionError(f"the suite does not know how to probe {route!r}")
    return sorted(found, key=lambda e: (e.path, e.method))


@dataclass
class Probe:
    """One plausible request: what a legitimate caller of the endpoint would send."""

    method: str
    url: str
    json: Any = None
    content: bytes | None = None


def plausible(endpoint: Endpoint, services: Any) -> Probe:
    """A well-formed request for `endpoint`, so that refusing it can only be the auth check."""
    values = {"action": "pause", "job_id": "1", "name": "upload.csv"}
    url = endpoint.path
    for name, value in values.items():
        url = url.replace("{" + name + "}", value)
    assert "{" not in url, f"no plausible value for a path parameter of {endpoint.path}"
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/auth/login"): {"password": "not-the-password"},
        ("POST", "/api/engine/{action}"): {"reason": "security suite"},
        ("PUT", "/api/config/strategy"): {"gamma": 0.3},
        ("PUT", "/api/config/goal"): services.config.goal().model_dump(mode="json"),
        ("PUT", "/api/config/exchange"): {"env": "testnet"},
        ("PUT", "/api/config/telegram"): services.config.telegram.model_dump(mode="json"),
        ("POST", "/api/backtest/jobs"): {"dataset": "missing.csv", "strategy": "avellaneda"},
    }
    key = (endpoint.method, endpoint.path)
    if key == ("POST", "/api/backtest/datasets/{name}"):
        return Probe(endpoint.method, url, content=b"ts,price\n1,100\n")
    route = endpoint.route
    if isinstance(route, APIRoute) and route.body_field is not None:
        assert key in bodies, f"add a plausible body for {key} to the security suite"
    return Probe(endpoint.method, url, json=bodies.get(key))


async def send(client: httpx.AsyncClient, probe: Probe, **headers: str) -> httpx.Response:
    return await client.request(
        probe.method, probe.url, json=probe.json, content=probe.content, headers=headers
    )


def refused_for_login(response: httpx.Response) -> bool:
    """The auth check's answer: 401 with a Bearer challenge and nothing else in the body."""
    return (
        response.status_code == 401
        and response.headers.get("www-authenticate") == "Bearer"
        and response.json() == {"detail": "login required"}
    )


def failed_validation(response: httpx.Response) -> bool:
    """FastAPI refused the request itself as malformed (its errors echo the `input`)."""
    if response.status_code != 422:
        return False
    detail = response.json().get("detail")
    return isinstance(detail, list) and any("input" in item for item in detail)


def ws_url(secured: Secured, query: str = "") -> str:
    return secured.base.replace("http", "ws", 1) + "/ws/stream" + query


def _ws_connect(url: str, headers: dict[str, str]) -> Any:
    """Connect to 127.0.0.1 whatever host the URL names (so the Host header is the URL's)."""
    port = urlsplit(url).port
    return websockets.connect(
        url, additional_headers=headers, open_timeout=10, host="127.0.0.1", port=port
    )


async def ws_refused(url: str, **headers: str) -> int:
    """The HTTP status the server answered the handshake with (it must not upgrade)."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with _ws_connect(url, headers):
            pass
    return refused.value.response.status_code


async def ws_hello(url: str, **headers: str) -> dict[str, Any]:
    async with _ws_connect(url, headers) as ws:
        with anyio.fail_after(10):
            hello: dict[str, Any] = json.loads(await ws.recv())
    return hello


async def test_every_route_refuses_anonymous_callers(secured: Secured) -> None:
    found = endpoints(secured.app)
    paths = {e.path for e in found}
    assert {"/ws/stream", "/metrics", "/api/openapi.json", "/"} <= paths
    assert len(found) >= 25
    token = await bearer_token(secured)
    datasets = secured.data_dir / "datasets"
    public: set[tuple[str, str]] = set()
    async with secured.client(headers=REMOTE) as anonymous, secured.client() as owner:
        for endpoint in found:
            if endpoint.method == "STATIC":
                for asset in ("/", "/index.html", "/assets/app.js"):
                    assert (await anonymous.get(asset)).status_code == 200, asset
                public.add(("STATIC", endpoint.path))
                continue
            if endpoint.method == "WS":
                assert await ws_refused(ws_url(secured), **REMOTE) == 403
                hello = await ws_hello(ws_url(secured), Authorization=f"Bearer {token}")
                assert hello["type"] == "hello"
                continue
            probe = plausible(endpoint, secured.services)
            response = await send(anonymous, probe)
            assert response.status_code != 403, (endpoint, response.text)
            if probe.content is not None:  # the refused upload stored nothing
                assert not list(datasets.iterdir()), endpoint
            if not refused_for_login(response):  # (a wrong password is a 401 too, but no refusal)
                public.add((endpoint.method, endpoint.path))
                continue
            # The same request from the logged-in operator is accepted as well-formed, so the
            # anonymous refusal was the auth check, not a 422 in disguise. (Logout revokes the
            # token it is called with, so it gets its own.)
            session = token
            if endpoint.path == "/api/auth/logout":
                session = (await login(owner)).json()["token"]
            control = await send(owner, probe, Authorization=f"Bearer {session}")
            assert control.status_code not in (401, 403), (endpoint, control.text)
            assert not failed_validation(control), (endpoint, control.text)
            assert control.status_code < 500, (endpoint, control.text)
    assert public == PUBLIC
    assert [p.name for p in datasets.iterdir()] == ["upload.csv"]  # the operator's upload


async def test_anonymous_refusal_is_not_a_validation_error_in_disguise(secured: Secured) -> None:
    """The discriminator above works: a malformed body from the operator is flagged, the same
    body from an anonymous caller still gets 401."""
    token = await bearer_token(secured)
    async with secured.client() as client:
        bad = {"api_key": 12, "nonsense": True}
        owner = await client.put(
            "/api/config/exchange", json=bad, headers={"Authorization": f"Bearer {token}"}
        )
        assert failed_validation(owner)
        anonymous = await client.put("/api/config/exchange", json=bad)
        assert refused_for_login(anonymous)


async def test_api_docs_and_schema_are_not_public(secured: Secured) -> None:
    async with secured.client(headers=REMOTE) as anonymous:
        for path in ("/docs", "/redoc", "/openapi.json", "/api/docs", "/docs/oauth2-redirect"):
            response = await anonymous.get(path)
            assert response.status_code == 404, path
            assert "openapi" not in response.text.lower()
        assert (await anonymous.get("/api/openapi.json")).status_code == 401
    token = await bearer_token(secured)
    async with secured.client(headers={"Authorization": f"Bearer {token}"}) as owner:
        schema = (await owner.get("/api/openapi.json")).json()
    listed = {p.replace("{", "").replace("}", "") for p in schema["paths"]}
    served = {e.path.replace("{", "").replace("}", "") for e in endpoints(secured.app)}
    assert listed <= served  # the schema documents nothing the suite did not probe


async def test_metrics_are_open_to_loopback_only(secured: Secured) -> None:
    async with secured.client() as local:
        assert (await local.get("/metrics")).status_code == 200  # a Prometheus on this host
        remote = await local.get("/metrics", headers=REMOTE)
        assert remote.status_code == 401
        assert "grvtmm_" not in remote.text
        rebound = await local.get("/metrics", headers={"Host": "rebind.evil.example"})
        assert rebound.status_code == 400 and "grvtmm_" not in rebound.text  # the Host check
        v6 = await local.get("/metrics", headers={"Host": "[::1]"})
        assert v6.status_code == 200
        token = (await login(local)).json()["token"]
        authorised = await local.get(
            "/metrics", headers={**REMOTE, "Authorization": f"Bearer {token}"}
        )
        assert authorised.status_code == 200 and "grvtmm_" in authorised.text


async def test_metrics_need_a_loopback_host_name_even_when_any_host_is_answered(
    secured: Secured,
) -> None:
    """Bound to every interface, the server answers to any Host; /metrics still stays closed
    to a page that re-pointed its own name at this machine."""
    app = create_app(secured.services)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/metrics")).status_code == 200
        rebound = await client.get("/metrics", headers={"Host": "rebind.evil.example"})
        assert rebound.status_code == 401 and "grvtmm_" not in rebound.text


async def test_login_brute_force_is_slowed_until_the_lockout_expires(secured: Secured) -> None:
    clock = SimClock(1_000 * NS_PER_S)
    secured.services.limiter = LoginLimiter(clock, attempts=5, window_s=60)
    attacker = {"X-Forwarded-For": "198.51.100.23"}
    async with secured.client(headers=attacker) as client:
        for i in range(5):
            wrong = await client.post("/api/auth/login", json={"password": f"guess-{i}-xxxx"})
            assert wrong.status_code == 401
        for password in ("guess-5-xxxx", PASSWORD):  # even the right password waits
            locked = await client.post("/api/auth/login", json={"password": password})
            assert locked.status_code == 429
            assert COOKIE_NAME not in locked.headers.get("set-cookie", "")
            assert "token" not in locked.text
            retry_after = int(locked.headers["retry-after"])
            assert 1 <= retry_after <= 61
        async with secured.client(headers={"X-Forwarded-For": "198.51.100.99"}) as other:
            assert (await login(other)).status_code == 200  # another client is not locked out
        clock.set(clock.now_ns() + (retry_after - 2) * NS_PER_S)
        early = await client.post("/api/auth/login", json={"password": PASSWORD})
        assert early.status_code == 429
        clock.set(clock.now_ns() + 2 * NS_PER_S)
        assert (await login(client)).status_code == 200
        # a success clears the record: the next failure is a plain 401, not a lockout
        again = await client.post("/api/auth/login", json={"password": "guess-6-xxxx"})
        assert again.status_code == 401


async def test_a_spray_of_claimed_addresses_gets_no_more_than_the_overall_cap(
    secured: Secured,
) -> None:
    """X-Forwarded-For can be claimed by whoever reaches the server directly: rotating it gains
    fresh per-client attempts, but never more than the overall cap per window; an existing
    session keeps working meanwhile, and the cap lifts when the failures age out."""
    clock = SimClock(1_000 * NS_PER_S)
    secured.services.limiter = LoginLimiter(clock, attempts=5, window_s=60, total_attempts=12)
    async with secured.client() as operator:
        assert (await login(operator)).status_code == 200
        async with secured.client() as sprayer:
            codes = []
            for i in range(20):
                spoofed = {"X-Forwarded-For": f"203.0.113.{i + 1}"}
                guess = await sprayer.post(
                    "/api/auth/login", json={"password": f"guess-{i}-xxxx"}, headers=spoofed
                )
                codes.append(guess.status_code)
            assert codes == [401] * 12 + [429] * 8
            fresh = {"X-Forwarded-For": "198.51.100.200"}
            locked = await sprayer.post(
                "/api/auth/login", json={"password": PASSWORD}, headers=fresh
            )
            assert locked.status_code == 429 and 1 <= int(locked.headers["retry-after"]) <= 61
        assert (await operator.get("/api/status")).status_code == 200
        clock.set(clock.now_ns() + 61 * NS_PER_S)
        assert (await login(operator, **{"X-Forwarded-For": "198.51.100.200"})).status_code == 200


async def test_rotating_ipv6_addresses_in_one_64_gains_no_attempts(secured: Secured) -> None:
    async with secured.client() as client:
        for i in range(5):
            wrong = await client.post(
                "/api/auth/login",
                json={"password": f"guess-{i}-xxxx"},
                headers={"X-Forwarded-For": f"2001:db8:7:7::{i + 1:x}"},
            )
            assert wrong.status_code == 401
        same_64 = {"X-Forwarded-For": "2001:db8:7:7:ffff:1:2:3"}
        locked = await client.post("/api/auth/login", json={"password": PASSWORD}, headers=same_64)
        assert locked.status_code == 429
        other_64 = {"X-Forwarded-For": "2001:db8:7:8::1"}
        assert (await login(client, **other_64)).status_code == 200


async def test_failed_logins_are_logged_with_the_client_not_the_password(
    secured: Secured, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="grvtmm.api.auth")
    guesses = [f"guessed-password-{i}" for i in range(5)]
    async with secured.client(headers={"X-Forwarded-For": "198.51.100.77"}) as client:
        for guess in guesses:
            await client.post("/api/auth/login", json={"password": guess})
    records = [r for r in caplog.records if r.name == "grvtmm.api.auth"]
    assert [r.getMessage() for r in records] == ["auth.login_failed"] * 4 + ["auth.login_locked"]
    assert all(getattr(r, "client", None) == "198.51.100.77" for r in records)
    assert records[-1].levelno == logging.WARNING
    assert not [g for g in guesses if g in caplog.text]


def cookie_attributes(set_cookie: str) -> tuple[str, dict[str, str]]:
    first, *attrs = (part.strip() for part in set_cookie.split(";"))
    name, _, value = first.partition("=")
    assert name == COOKIE_NAME
    parsed = {}
    for attr in attrs:
        key, _, val = attr.partition("=")
        parsed[key.lower()] = val
    return value, parsed


async def test_session_cookie_flags(secured: Secured) -> None:
    async with secured.client() as client:
        response = await login(client)
        value, attrs = cookie_attributes(response.headers["set-cookie"])
        assert "httponly" in attrs
        assert attrs["samesite"].lower() == "strict"
        assert attrs["path"] == "/"
        assert "secure" not in attrs  # plain http on loopback: a Secure cookie would be dropped
        assert "strict-transport-security" not in response.headers
        assert "domain" not in attrs  # host-only
        assert len(value) >= 64  # 256-bit random token
        assert value not in str(response.url) and "location" not in response.headers
    # behind the TLS-terminating proxy on this host (X-Forwarded-Proto from 127.0.0.1)
    async with secured.client() as client:
        response = await login(client, **{"X-Forwarded-Proto": "https", **REMOTE})
        _, attrs = cookie_attributes(response.headers["set-cookie"])
        assert "secure" in attrs and "httponly" in attrs
        assert response.headers["strict-transport-security"] == "max-age=31536000"


async def test_session_token_is_never_taken_from_or_put_in_a_url(secured: Secured) -> None:
    token = await bearer_token(secured)
    async with secured.client() as client:
        for query in (f"?token={token}", f"?access_token={token}", f"?{COOKIE_NAME}={token}"):
            assert (await client.get("/api/status" + query)).status_code == 401
            assert await ws_refused(ws_url(secured, query)) == 403
        async with secured.client(headers={"Authorization": f"Bearer {token}"}) as owner:
            bodies = [
                (await owner.get(e.path)).text
                for e in endpoints(secured.app)
                if e.method == "GET" and "{" not in e.path
            ]
        assert all(token not in body for body in bodies)


async def test_cookie_state_changes_need_the_csrf_header(secured: Secured) -> None:
    changing = [
        e
        for e in endpoints(secured.app)
        if e.method not in SAFE | {"WS", "STATIC"} and (e.method, e.path) not in PUBLIC
    ]
    assert len(changing) >= 10
    async with secured.client() as browser:
        await login(browser)
        for endpoint in changing:
            probe = plausible(endpoint, secured.services)
            forged = await send(browser, probe)
            assert forged.status_code == 403, (endpoint, forged.text)
            assert "x-grvtmm-csrf" in forged.text
            wrong = await send(browser, probe, **{"x-grvtmm-csrf": "0"})
            assert wrong.status_code == 403, endpoint
        assert (await browser.get("/api/status")).status_code == 200  # reads need no header
        pause = await browser.post("/api/engine/pause", headers=CSRF)
        assert pause.status_code == 200
        assert (await browser.put("/api/config/strategy", json={"gamma": 0.3})).status_code == 403
        # scripts with a bearer token send no cookie, so there is nothing for a forger to ride
        token = await bearer_token(secured)
        async with secured.client(headers={"Authorization": f"Bearer {token}"}) as script:
            assert (await script.post("/api/engine/resume")).status_code == 200


async def test_websocket_refuses_foreign_origins_and_anonymous_callers(secured: Secured) -> None:
    async with secured.client() as browser:
        await login(browser)
        cookie = f"{COOKIE_NAME}={browser.cookies[COOKIE_NAME]}"
    host = secured.base.removeprefix("http://")
    assert await ws_refused(ws_url(secured)) == 403
    assert await ws_refused(ws_url(secured), Cookie=f"{COOKIE_NAME}=forged") == 403
    # a page on another site opening the stream with the operator's cookie
    for origin in ("https://evil.example", "null", f"http://{host}.evil.example"):
        assert await ws_refused(ws_url(secured), Cookie=cookie, Origin=origin) == 403, origin
    hello = await ws_hello(ws_url(secured), Cookie=cookie, Origin=f"http://{host}")
    assert hello["type"] == "hello"  # the dashboard itself


async def raw_get(secured: Secured, path: str) -> tuple[str, str]:
    """GET `path` byte for byte over a plain socket: (status line, body)."""
    host, port = secured.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    with anyio.fail_after(10):
        reply = (await reader.read()).decode(errors="replace")
    writer.close()
    head, _, body = reply.partition("\r\n\r\n")
    return head.splitlines()[0], body


async def test_paths_cannot_escape_the_dashboard_or_the_datasets_folder(secured: Secured) -> None:
    (secured.data_dir.parent / "outside.txt").write_text("outside the static folder")
    token = await bearer_token(secured)
    async with secured.client(headers={"Authorization": f"Bearer {token}"}) as client:
        for raw in (
            "/../outside.txt",
            "/assets/../../outside.txt",
            "/%2e%2e/outside.txt",
            "/..%2foutside.txt",
            "/assets/..%2f..%2foutside.txt",
        ):
            response = await client.send(client.build_request("GET", raw))
            assert "outside the static folder" not in response.text, raw
            assert response.status_code in (400, 404), (raw, response.status_code)
        for raw in ("/../outside.txt", "/assets/../../outside.txt", "/assets/../../../etc/passwd"):
            head, body = await raw_get(secured, raw)  # sent as is, not normalised by a client
            assert "outside the static folder" not in body and "root:" not in body, raw
            assert head.split()[1] in ("400", "404"), (raw, head)
        datasets = secured.data_dir / "datasets"
        for name in ("..%2fescaped.csv", "%2e%2e", ".hidden.csv", "a%00b.csv"):
            request = client.build_request(
                "POST", f"/api/backtest/datasets/{name}", content=b"ts\n1\n"
            )
            assert request.headers["authorization"].startswith("Bearer ")
            upload = await client.send(request)
            # refused by name (422), or no route at all once `/` is decoded (404/405)
            assert upload.status_code in (404, 405, 422), (name, upload.status_code)
        assert not (secured.data_dir / "escaped.csv").exists()
        assert [p.name for p in datasets.iterdir()] == []


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """`app` under uvicorn on 127.0.0.1 (an ephemeral port); yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started or task.done(), timeout_s=10)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with anyio.fail_after(10):
            await task


async def test_dns_rebinding_is_refused_when_allowed_hosts_are_set(secured: Secured) -> None:
    """A page whose own name now resolves to 127.0.0.1 talks to the server as a same-origin
    page: it may add any header (X-Forwarded-For to dodge the login limiter) and reads
    loopback-only /metrics. Naming the allowed hosts closes that door."""
    app = create_app(secured.services, allowed_hosts=("127.0.0.1", "localhost"))
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        evil = {"Host": f"rebind.evil.example:{base.rsplit(':', 1)[1]}"}
        assert (await client.get("/metrics")).status_code == 200
        for method, path in (("GET", "/metrics"), ("GET", "/healthz"), ("POST", "/api/auth/login")):
            refused = await client.request(method, path, headers=evil, json={"password": "x" * 9})
            assert refused.status_code == 400, (path, refused.status_code)
            assert "grvtmm_" not in refused.text and "token" not in refused.text
            assert_security_headers(refused, api=True)
        local = await client.get("/healthz", headers={"Host": "localhost"})
        assert local.status_code == 200
        auth = f"Bearer {(await login(client)).json()['token']}"
        ws = base.replace("http", "ws", 1) + "/ws/stream"
        assert await ws_refused(f"ws://{evil['Host']}/ws/stream", Authorization=auth) == 400
        assert (await ws_hello(ws, Authorization=auth))["type"] == "hello"


async def test_cors_stays_closed(secured: Secured) -> None:
    async with secured.client() as client:
        preflight = await client.options(
            "/api/engine/stop",
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-grvtmm-csrf",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers
        plain = await client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in plain.headers


def assert_security_headers(response: httpx.Response, *, api: bool) -> None:
    headers = response.headers
    csp = {
        directive.split()[0]: directive.split()[1:]
        for directive in headers["content-security-policy"].split(";")
        if directive.strip()
    }
    script_src = csp.get("script-src", csp["default-src"])
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert not any(s.startswith("http") or s in ("*", "data:") for s in script_src)
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    if api:
        assert headers["cache-control"] == "no-store"


class FailingSeries:
    def query(self, *args: Any) -> dict[str, Any]:
        raise RuntimeError("series store exploded")


async def test_security_headers_on_html_json_and_error_responses(secured: Secured) -> None:
    token = await bearer_token(secured)
    auth = {"Authorization": f"Bearer {token}"}
    secured.services.series = FailingSeries()
    async with secured.client() as client:
        html = await client.get("/")
        assert html.headers["content-type"].startswith("text/html")
        assert_security_headers(html, api=False)
        assert_security_headers(await client.get("/assets/app.js"), api=False)
        responses = {
            200: await client.get("/api/status", headers=auth),
            401: await client.get("/api/status"),
            403: await client.post(  # cookie without the CSRF header
                "/api/engine/pause", headers={"Cookie": f"{COOKIE_NAME}={token}"}
            ),
            404: await client.get("/api/nothing-here", headers=auth),
            405: await client.delete("/api/status", headers=auth),
            422: await client.get("/api/monitor/orders?limit=0", headers=auth),
            500: await client.get("/api/monitor/series", headers=auth),
        }
        secured.services.limiter = LoginLimiter(SimClock(0), attempts=1, window_s=60)
        await client.post("/api/auth/login", json={"password": "wrong-password"})
        responses[429] = await client.post("/api/auth/login", json={"password": "wrong-pw"})
    for code, response in responses.items():
        assert response.status_code == code, (code, response)
        assert_security_headers(response, api=True)
    assert "exploded" not in responses[500].text  # no internals in the error body


@contextmanager
def production_logging(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Logging as `grvt-mm serve --log-json` sets it up, at DEBUG, into a buffer (and caplog)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    noisy = {n: logging.getLogger(n).level for n in ("uvicorn.error", "uvicorn.access", "httpx")}
    buffer = io.StringIO()
    setup_logging(json_lines=True, level=logging.DEBUG)
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    assert isinstance(handler.formatter, JsonFormatter)
    handler.setStream(buffer)
    root.addHandler(caplog.handler)
    try:
        yield buffer
    finally:
        root.handlers[:], root.level = saved
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)


async def test_secrets_never_in_logs_responses_or_html(
    secured: Secured, caplog: pytest.LogCaptureFixture
) -> None:
    api_key = "SECSUITE-apikey-5b7e2d91c4"
    api_secret = "0x" + "5ec2e7" * 10
    bot_token = "987654321:SECSUITE-telegram-token-q8w7e6"
    secrets = (api_key, api_secret, bot_token, PASSWORD)
    with production_logging(caplog) as json_log:
        async with secured.client() as client:
            await login(client)
            assert (await client.post("/api/engine/stop", headers=CSRF)).status_code == 200
            await eventually(lambda: secured.engine.mode is EngineMode.STOPPED, timeout_s=30)
            exchange = await client.put(
                "/api/config/exchange",
                json={
                    "api_key": api_key,
                    "api_secret": api_secret,
                    "trading_account_id": "4242",
                    "env": "testnet",
                },
                headers=CSRF,
            )
            telegram = await client.put(
                "/api/config/telegram", json={"bot_token": bot_token}, headers=CSRF
            )
            assert exchange.status_code == 200 and telegram.status_code == 200
            # the fake Telegram knows another token: the test message fails with 401
            test = await client.post("/api/alerts/telegram/test", headers=CSRF)
            assert test.status_code == 200 and test.json()["ok"] is False
            texts = [exchange.text, telegram.text, test.text]
            for endpoint in endpoints(secured.app):
                if endpoint.method == "GET":
                    texts.append((await client.get(plausible(endpoint, secured.services).url)).text)
            texts.append((await client.get("/")).text)  # the dashboard HTML
            cookie = f"{COOKIE_NAME}={client.cookies[COOKIE_NAME]}"
        async with websockets.connect(ws_url(secured), additional_headers={"Cookie": cookie}) as ws:
            with anyio.fail_after(10):
                texts += [str(await ws.recv()), str(await ws.recv())]  # hello, snapshot
    assert len(texts) >= 20
    for secret in secrets:
        assert not [t for t in texts if secret in t], secret
        assert secret not in json_log.getvalue(), secret
        assert secret not in caplog.text, secret
        assert not [r for r in caplog.records if secret in TextFormatter().format(r)], secret
    assert json_log.getvalue().count("\n") >= 5  # the capture really saw the session's logs
    for line in json_log.getvalue().splitlines():
        json.loads(line)
    # what the configuration shows: that a secret is set, never the value
    async with secured.client() as client:
        await login(client)
        status = (await client.get("/api/config/secrets/status")).json()["secrets"]
        tg = (await client.get("/api/config/telegram")).json()
    for name in (
        "grvt.api_key",
        "grvt.api_secret",
        "grvt.trading_account_id",
        "telegram.bot_token",
    ):
        assert status[name]["set"] is True, name
    assert all(set(entry) == {"set", "updated_at_ns"} for entry in status.values())
    assert tg["bot_token_set"] is True and "bot_token" not in tg
    raw = b"".join(p.read_bytes() for p in secured.data_dir.rglob("*") if p.is_file())
    for secret in secrets:
        assert secret.encode() not in raw  # encrypted (or hashed) at rest


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "grvt-mm.example"])
async def test_non_loopback_bind_without_password_is_refused(host: str, tmp_path: Path) -> None:
    server = Server(Settings(host=host, port=0, data_dir=tmp_path), LiveClock())
    with pytest.raises(ServeError, match="without an operator password"):
        await server.setup()
    assert server.store is None  # refused before anything was opened


def test_loopback_detection() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.1", "localhost.example", "127.0.0.1.example", ""):
        assert not is_loopback(host), host


def test_serve_command_refuses_a_public_bind_without_password(tmp_path: Path) -> None:
    command = ["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path / "data")]
    result = subprocess.run(
        [sys.executable, "-m", "grvtmm", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=False,
    )
    assert result.returncode != 0
    assert "without an operator password" in result.stdout + result.stderr
    assert not (tmp_path / "data" / "grvtmm.db").exists()


def test_login_limiter_client_keys() -> None:
    key = LoginLimiter.client_key
    assert key("198.51.100.7") == "198.51.100.7"
    assert key("::ffff:198.51.100.7") == "198.51.100.7"  # IPv4 through a dual-stack socket
    assert key("2001:db8:1:2:3:4:5:6") == key("2001:db8:1:2::9") == "2001:db8:1:2::/64"
    assert key("2001:db8:1:3::9") != key("2001:db8:1:2::9")
    assert key("?") == "?"
    limiter = LoginLimiter(SimClock(0), attempts=2, window_s=60)
    limiter.retry_after_s("203.0.113.1")
    assert limiter._failures == {}  # asking does not store anything per caller
