"""The GRVT venue's connection counters reach the operator: a rate-limit answer and a dropped
WebSocket raise them in the venue's provider, in `/metrics` and in `/api/status`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fakes import eventually
from fakes.grvt_helpers import FAST, INST, QUICK, node_on
from fakes.grvt_server import FakeGrvtServer
from grvtmm.api.app import create_app
from grvtmm.api.auth import LoginLimiter, PasswordFile, SessionStore
from grvtmm.api.deps import Services
from grvtmm.api.state import ConfigState
from grvtmm.core.clock import LiveClock
from grvtmm.monitor.metrics import Monitor
from grvtmm.monitor.prometheus import build_registry, render
from grvtmm.monitor.venue_diagnostics import VenueDiagnostics

pytestmark = pytest.mark.anyio


class Api:
    """The real app over ASGI, as a loopback client sees it."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.auth = {"Authorization": f"Bearer {token}"}

    async def venue(self) -> dict[str, Any]:
        answer = await self.client.get("/api/status", headers=self.auth)
        assert answer.status_code == 200
        section: dict[str, Any] = answer.json()["venue"]
        return section

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        answer = await self.client.get("/metrics")
        assert answer.status_code == 200
        out = {}
        for family in text_string_to_metric_families(answer.text):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out


def services_for(node: Any, provider: VenueDiagnostics | None, tmp_path: Path) -> Services:
    clock = LiveClock()
    monitor = Monitor(INST, clock)
    registry = build_registry(monitor, venue_diagnostics=provider)
    return Services(
        node=node,
        clock=clock,
        mode="live",
        passwords=PasswordFile(tmp_path / "admin_password.argon2"),
        sessions=SessionStore(clock),
        limiter=LoginLimiter(clock),
        config=ConfigState(QUICK),
        monitor=monitor,
        metrics_renderer=lambda: render(registry),
        venue_diagnostics=provider,
    )


def http_count(raw: Mapping[str, Any], name: str) -> int:
    value: int = getattr(raw["http"], name)
    return value


def stream_count(raw: Mapping[str, Any], stream: str, name: str) -> int:
    value: int = getattr(raw[stream], name)
    return value


MARKET = (("stream", "market"),)
PRIVATE = (("stream", "private"),)


async def test_rate_limit_and_stream_drop_raise_the_counters_everywhere(tmp_path: Path) -> None:
    with anyio.fail_after(40):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server) as (node, venue, _rec),
        ):
            services = services_for(node, venue.diagnostics, tmp_path)
            transport = httpx.ASGITransport(app=create_app(services))
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                api = Api(c, services.sessions.issue())
                await eventually(lambda: venue.private is not None and venue.market is not None)
                await eventually(
                    lambda: stream_count(venue.diagnostics(), "private", "connects") >= 1
                )
                before = await api.venue()
                metrics_before = await api.metrics()
                assert before["http"]["rate_limited"] == 0
                assert before["streams"]["market"]["connects"] == 1
                assert metrics_before[("grvtmm_venue_http_rate_limited_total", ())] == 0

                # a burst of 429 / 1006 on the venue's private REST calls (its account polls)
                server.exchange.faults.rest_script = [(429, 1006)] * 2
                await eventually(lambda: http_count(venue.diagnostics(), "rate_limited") >= 2, 10)
                # every stream drops (a gateway restart) and reconnects
                await server.drop_streams()
                await eventually(
                    lambda: stream_count(venue.diagnostics(), "market", "connects") >= 2, 10
                )
                await eventually(
                    lambda: stream_count(venue.diagnostics(), "private", "connects") >= 2, 10
                )

                after = await api.venue()
                metrics = await api.metrics()
            http = after["http"]
            assert http["rate_limited"] == 2
            assert http["retries"] >= before["http"]["retries"] + 2
            assert http["codes"]["1006"] == 2
            assert http["requests"] > before["http"]["requests"]
            for stream in ("market", "private"):
                counts = after["streams"][stream]
                assert counts["disconnects"] >= 1 and counts["connects"] >= 2
            assert metrics[("grvtmm_venue_http_rate_limited_total", ())] == 2
            assert metrics[("grvtmm_venue_http_retries_total", ())] >= http["retries"]
            assert metrics[("grvtmm_venue_http_error_codes_total", (("code", "1006"),))] == 2
            assert metrics[("grvtmm_venue_stream_disconnects_total", MARKET)] >= 1
            assert metrics[("grvtmm_venue_stream_connects_total", MARKET)] >= 2
            assert metrics[("grvtmm_venue_stream_disconnects_total", PRIVATE)] >= 1
            assert metrics[("grvtmm_venue_stream_connects_total", PRIVATE)] >= 2
            assert metrics_before[("grvtmm_venue_stream_disconnects_total", MARKET)] == 0
            assert ("grvtmm_venue_book_ok", ()) in metrics


async def test_a_venue_without_counters_shows_no_venue_section(tmp_path: Path) -> None:
    with anyio.fail_after(40):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server) as (node, _venue, _rec),
        ):
            services = services_for(node, None, tmp_path)
            transport = httpx.ASGITransport(app=create_app(services))
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                api = Api(c, services.sessions.issue())
                assert await api.venue() is None
                names = {name for name, _ in await api.metrics()}
            assert not [n for n in names if n.startswith("grvtmm_venue_http")]
            assert "grvtmm_fills_total" in names
