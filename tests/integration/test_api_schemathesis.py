"""Property-based API testing: schemathesis generates requests from the OpenAPI schema and an
authenticated client sends them to the real server; no response may be a 5xx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from grvtmm.core.clock import LiveClock
from grvtmm.serve import Server
from grvtmm.settings import Settings

PASSWORD = "schemathesis-password"


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Server]]:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis") / "data"
    settings_ = Settings(
        host="127.0.0.1",
        port=0,
        data_dir=data_dir,
        admin_password=PASSWORD,
        demo_speed=20.0,  # type: ignore[arg-type]
    )
    server = Server(settings_, LiveClock())
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def main() -> None:
        await server.setup()
        await server.run(on_ready=lambda _port: ready.set())

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30), "server did not start"
    yield f"http://127.0.0.1:{server.port}", server
    loop.call_soon_threadsafe(server.request_exit)
    thread.join(90)
    loop.close()


def test_no_request_from_the_schema_causes_a_server_error(server_url: tuple[str, Server]) -> None:
    base, server = server_url
    assert server.app is not None
    token = httpx.post(f"{base}/api/auth/login", json={"password": PASSWORD}).json()["token"]
    schema = schemathesis.openapi.from_dict(server.app.openapi())
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []

    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/api/engine/") or operation.path == "/api/auth/logout":
            continue  # state changes that would stop the demo or end our session

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,  # the same requests in every run: CI stays reproducible
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=base, headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

        check()
        checked += 1
    assert checked >= 10
    assert not failures, failures
