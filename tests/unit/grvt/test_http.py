"""REST client against httpx.MockTransport: session, renewal, re-login, limits, backoff."""

from __future__ import annotations

import calendar
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from grvtmm.core.clock import NS_PER_S, SimClock
from grvtmm.venues.grvt import errors as e
from grvtmm.venues.grvt.http import Endpoints, GrvtHttp, Secret, cookie_expiry_ns
from grvtmm.venues.grvt.limits import RateLimits, RetryPolicy, TokenBucket
from grvtmm.venues.grvt.rest import GrvtRest

pytestmark = pytest.mark.anyio

API_KEY = "key-id-that-must-stay-secret"
T0 = 1_790_000_000 * NS_PER_S
EP = Endpoints.for_env(
    "testnet",
    edge_url="http://edge.test",
    trades_url="http://trades.test",
    market_data_url="http://md.test",
)

Responder = Callable[[httpx.Request], httpx.Response | None]


@dataclass
class FakeRest:
    """Minimal GRVT REST: login issues numbered cookies; scripted answers for other paths."""

    clock: SimClock
    lifetime_s: int = 24 * 3600
    logins: int = 0
    valid_cookie: str = ""
    script: list[Responder] = field(default_factory=list)
    seen: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.url.path == "/auth/api_key/login":
            assert json.loads(request.content) == {"api_key": API_KEY}
            self.logins += 1
            self.valid_cookie = f"c{self.logins}"
            expires = formatdate(self.clock.now_ns() / NS_PER_S + self.lifetime_s, usegmt=True)
            return httpx.Response(
                200,
                json={"status": "success", "sub_account_id": "42"},
                headers={
                    "Set-Cookie": f"gravity={self.valid_cookie}; Path=/; Expires={expires}",
                    "X-Grvt-Account-Id": "acct-7",
                },
            )
        if request.headers.get("cookie") != f"gravity={self.valid_cookie}":
            return httpx.Response(401, json={"code": 1000, "message": "auth", "status": 401})
        if self.script:
            answer = self.script.pop(0)(request)
            if answer is not None:
                return answer
        return httpx.Response(200, json={"result": {"ack": True}})


def make(fake: FakeRest, **kw: Any) -> tuple[GrvtHttp, list[float]]:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    http = GrvtHttp(
        EP,
        api_key=Secret(API_KEY),
        clock=fake.clock,
        rng=random.Random(1),
        client=httpx.AsyncClient(transport=httpx.MockTransport(fake)),
        sleep=sleep,
        limits=RateLimits(now_ns=lambda: 0, budgets={}),
        **kw,
    )
    return http, sleeps


def status(code: int, grvt_code: int | None = None) -> Responder:
    body = {"code": grvt_code, "message": "scripted", "status": code} if grvt_code else None
    return lambda _r: httpx.Response(code, json=body) if body else httpx.Response(code)


async def test_login_then_private_call_carries_cookie_and_account_header() -> None:
    fake = FakeRest(SimClock(T0))
    http, _ = make(fake)
    session = await http.login()
    assert session.sub_account_id == "42"
    assert session.account_id == "acct-7"
    await GrvtRest(http, "42").cancel_order(2**63 + 5, ttl_ms=900)
    request = fake.seen[-1]
    assert request.headers["cookie"] == "gravity=c1"
    assert request.headers["x-grvt-account-id"] == "acct-7"
    assert json.loads(request.content) == {
        "sub_account_id": "42",
        "client_order_id": str(2**63 + 5),
        "time_to_live_ms": "900",
    }


async def test_session_is_renewed_before_expiry() -> None:
    clock = SimClock(T0)
    fake = FakeRest(clock, lifetime_s=2 * 3600)
    http, _ = make(fake, refresh_before_ns=3600 * NS_PER_S)
    rest = GrvtRest(http, "42")
    await rest.account_summary()
    clock.advance(1800 * NS_PER_S)
    await rest.account_summary()
    assert fake.logins == 1
    clock.advance(1900 * NS_PER_S)  # 55 min left: inside the renewal margin
    await rest.account_summary()
    assert fake.logins == 2
    assert http.stats.relogins == 0


async def test_expired_cookie_answered_401_triggers_one_relogin() -> None:
    fake = FakeRest(SimClock(T0))
    http, _ = make(fake)
    rest = GrvtRest(http, "42")
    await http.login()
    fake.valid_cookie = "rotated-by-server"
    await rest.account_summary()
    assert fake.logins == 2
    assert http.stats.relogins == 1
    assert http.stats.codes[1000] == 1


def test_cookie_expiry_is_read_as_utc() -> None:
    line = "gravity=abc; Path=/; Expires=Tue, 24 Nov 2026 21:00:00 GMT; HttpOnly"
    want = calendar.timegm((2026, 11, 24, 21, 0, 0)) * NS_PER_S
    assert cookie_expiry_ns(line, 0, 1) == want
    assert cookie_expiry_ns("gravity=abc; Max-Age=60", 5, 1) == 5 + 60 * NS_PER_S
    assert cookie_expiry_ns("other=1", 5, 7) == 12


async def test_429_is_retried_with_growing_jittered_backoff_and_counted() -> None:
    fake = FakeRest(SimClock(T0))
    fake.script = [status(429, 1006), status(429, 1006), status(503)]
    http, sleeps = make(fake, retry=RetryPolicy(max_attempts=5, base_delay_s=0.1))
    await GrvtRest(http, "42").account_summary()
    assert http.stats.retries == 3
    assert http.stats.rate_limited == 2
    assert http.stats.server_errors == 1
    assert len(sleeps) == 3
    for n, delay in enumerate(sleeps, start=1):
        ceiling = 0.1 * 2 ** (n - 1)
        assert ceiling / 2 <= delay <= ceiling


async def test_retries_exhausted_raise_with_attempt_count() -> None:
    fake = FakeRest(SimClock(T0))
    fake.script = [status(500, 1002)] * 3
    http, sleeps = make(fake, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(e.ServerError) as info:
        await GrvtRest(http, "42").account_summary()
    assert info.value.attempts == 3
    assert len(sleeps) == 2
    assert http.stats.failures == 1


async def test_order_rejects_are_not_retried() -> None:
    fake = FakeRest(SimClock(T0))
    fake.script = [status(429, 2090)]
    http, sleeps = make(fake)
    with pytest.raises(e.InvalidOrder) as info:
        await GrvtRest(http, "42").create_order({"legs": []})
    assert info.value.reason == "max_open_orders"
    assert sleeps == []


async def test_timeouts_and_disconnects_are_retryable() -> None:
    fake = FakeRest(SimClock(T0))

    def boom(exc: Exception) -> Responder:
        def raise_(_r: httpx.Request) -> httpx.Response:
            raise exc

        return raise_

    fake.script = [boom(httpx.ReadTimeout("slow")), boom(httpx.ConnectError("refused"))]
    http, _ = make(fake)
    await GrvtRest(http, "42").account_summary()
    assert (http.stats.timeouts, http.stats.disconnects, http.stats.retries) == (1, 1, 2)


def test_token_bucket_allows_burst_then_paces() -> None:
    now = [0]
    bucket = TokenBucket(rate_per_s=10.0, burst=3.0, now_ns=lambda: now[0])
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0]
    assert bucket.reserve() == pytest.approx(NS_PER_S / 10, rel=1e-6)
    assert bucket.reserve() == pytest.approx(2 * NS_PER_S / 10, rel=1e-6)
    now[0] = 10 * NS_PER_S
    assert bucket.reserve() == 0


async def test_rate_limits_make_callers_wait() -> None:
    fake = FakeRest(SimClock(T0))
    http, sleeps = make(fake)
    http.limits = RateLimits(now_ns=lambda: 0, budgets={"query": (2.0, 1.0)})
    rest = GrvtRest(http, "42")
    for _ in range(3):
        await rest.open_orders("BNB", "USDT")
    assert sleeps == pytest.approx([0.5, 1.0])


async def test_fill_history_follows_cursors() -> None:
    fake = FakeRest(SimClock(T0))
    pages = [
        {"result": [{"trade_id": "3"}, {"trade_id": "2"}], "next": "p2"},
        {"result": [{"trade_id": "1"}], "next": ""},
    ]
    fake.script = [lambda _r, p=p: httpx.Response(200, json=p) for p in pages]  # type: ignore[misc]
    http, _ = make(fake)
    fills = await GrvtRest(http, "42").fill_history("BNB", "USDT", start_ns=5, limit=2)
    assert [f["trade_id"] for f in fills] == ["3", "2", "1"]
    second = json.loads(fake.seen[-1].content)
    assert second["cursor"] == "p2" and second["start_time"] == "5"


async def test_secrets_stay_out_of_text() -> None:
    fake = FakeRest(SimClock(T0))
    http, _ = make(fake)
    session = await http.login()
    assert API_KEY not in repr(http.__dict__)
    assert "c1" not in repr(session)
    assert "c1" not in str(session.cookie)

    def deny(_r: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"code": 1001, "message": "no"})

    denied = GrvtHttp(
        EP,
        api_key=Secret(API_KEY),
        clock=fake.clock,
        rng=random.Random(1),
        client=httpx.AsyncClient(transport=httpx.MockTransport(deny)),
    )
    with pytest.raises(e.AuthError) as info:
        await denied.login()
    assert API_KEY not in str(info.value)


def test_endpoints_for_env_and_overrides() -> None:
    prod = Endpoints.for_env("prod")
    assert prod.trades_url == "https://trades.grvt.io"
    assert prod.market_data_ws_url == "wss://market-data.grvt.io/ws/full"
    assert EP.edge_url == "http://edge.test"
    assert EP.trades_ws_url == "wss://trades.testnet.grvt.io/ws/full"
    with pytest.raises(ValueError):
        Endpoints.for_env("mainnet")  # type: ignore[arg-type]
