"""`TelegramAlerts` against the fake Bot API: coalescing, critical-always, commands, conflicts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest

from fakes import eventually
from fakes.telegram_server import CHAT_ID, TOKEN, FakeControl, FakeTelegramServer, token_leaks
from grvtmm.alerts.notifier import EVENT_DEFAULTS, AlertSettings
from grvtmm.alerts.service import TelegramAlerts
from grvtmm.alerts.telegram import TelegramLimits
from grvtmm.core import events as ev
from grvtmm.core.clock import NS_PER_S, LiveClock, perf_ns
from grvtmm.core.events import EngineMode
from grvtmm.core.types import Side
from grvtmm.venues.sim.synthetic import default_instrument

pytestmark = pytest.mark.anyio

LIMITS = TelegramLimits(
    min_interval_s=0.05,
    max_attempts=3,
    base_backoff_s=0.01,
    max_backoff_s=0.05,
    request_timeout_s=5,
    poll_timeout_s=1,
    conflict_backoff_s=0.05,
    max_conflict_backoff_s=0.2,
)
SUMMARY = {"mode": "running", "session": {"id": 1}, "equity": 1000.0, "fills": 3, "pnl_total": 1.5}
NOW = LiveClock().now_ns


def build(
    server: FakeTelegramServer,
    *,
    control: FakeControl | None = None,
    summary: Callable[[], Mapping[str, Any]] = lambda: SUMMARY,
    token: str | None = TOKEN,
    limits: TelegramLimits = LIMITS,
    capacity: int = 256,
    **settings: Any,
) -> TelegramAlerts:
    config = {"chat_id": CHAT_ID, "heartbeat_s": 0.0, **settings}
    return TelegramAlerts(
        default_instrument(),
        LiveClock(),
        control=control or FakeControl(),
        summary=summary,
        settings=AlertSettings(**config),
        token=token,
        api_base_url=server.base_url,
        limits=limits,
        capacity=capacity,
    )


@contextlib.asynccontextmanager
async def started(alerts: TelegramAlerts) -> AsyncIterator[TelegramAlerts]:
    alerts.start()
    try:
        yield alerts
    finally:
        with anyio.fail_after(10):
            await alerts.close()


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(TOKEN) as fake:
        yield fake


async def polling(server: FakeTelegramServer) -> None:
    """The backlog has been skipped and a long poll is under way."""
    await eventually(lambda: server.poll_calls >= 2)


def fill(i: int) -> ev.OrderFilled:
    t = NOW()
    return ev.OrderFilled(
        ts_ns=t,
        local_ns=t,
        client_order_id=i,
        trade_id=f"t{i}",
        symbol="BNB_USDT_Perp",
        side=Side.SELL,
        price_ticks=60_000,
        size_lots=500,
        fee=Decimal(0),
        is_maker=True,
    )


def mode(old: EngineMode, new: EngineMode) -> ev.ModeChanged:
    t = NOW()
    return ev.ModeChanged(ts_ns=t, local_ns=t, old=old, new=new, reason="test")


def breaker() -> ev.BreakerTripped:
    t = NOW()
    return ev.BreakerTripped(
        ts_ns=t, local_ns=t, breaker="drawdown", detail="-12%", value=0.12, limit=0.1
    )


async def test_a_burst_of_twenty_alerts_becomes_a_few_messages(server: FakeTelegramServer) -> None:
    limits = TelegramLimits(min_interval_s=0.3, poll_timeout_s=1)
    async with started(build(server, limits=limits)) as alerts:
        for i in range(20):
            alerts.publish(fill(i))
            await asyncio.sleep(0)  # let the sender run between events
        await eventually(lambda: alerts.sent_alerts == 20, timeout_s=10)
    assert 1 <= len(server.messages) <= 3
    assert sum(text.count("Large fill") for text in server.texts()) == 20
    assert alerts.status()["sent_messages"] == len(server.messages)
    times = [m.received_ns for m in server.messages]
    assert all(b - a >= 0.29 * NS_PER_S for a, b in itertools.pairwise(times))


async def test_critical_alerts_are_sent_even_when_their_type_is_off(
    server: FakeTelegramServer,
) -> None:
    off = {key: "off" for key in EVENT_DEFAULTS}
    async with started(build(server, events=off)) as alerts:
        alerts.publish(mode(EngineMode.RUNNING, EngineMode.PAUSED))  # info: off
        alerts.publish(breaker())
        await eventually(lambda: alerts.sent_alerts == 1)
    [message] = server.messages
    assert "Breaker tripped" in message.text and "Mode changed" not in message.text
    assert not message.silent


async def test_silent_alerts_are_delivered_without_sound(server: FakeTelegramServer) -> None:
    async with started(build(server, events={"mode": "silent"})) as alerts:
        alerts.publish(mode(EngineMode.RUNNING, EngineMode.PAUSED))
        await eventually(lambda: alerts.sent_alerts == 1)
    assert server.messages[0].silent


async def test_chinese_alerts(server: FakeTelegramServer) -> None:
    async with started(build(server, language="zh")) as alerts:
        alerts.publish(breaker())
        await eventually(lambda: alerts.sent_alerts == 1)
    assert server.texts()[0].startswith("🚨 严重 · 熔断触发")


async def test_commands_from_a_foreign_chat_are_ignored(
    server: FakeTelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    control = FakeControl()
    async with started(build(server, control=control)) as alerts:
        await polling(server)
        server.push_message(999, "/stop")
        server.push_message(999, "/halt confirm")
        server.push_message(CHAT_ID, "/status")
        await eventually(lambda: len(server.messages) == 1)
    assert control.submitted == []
    assert alerts.status()["rejected_commands"] == 2
    assert [m.chat_id for m in server.messages] == [CHAT_ID]
    assert server.messages[0].text.startswith("📊 Status")
    logged = " ".join(repr(vars(r)) for r in caplog.records)
    assert "/halt confirm" not in logged  # the foreign content is not echoed


async def test_stop_asks_for_confirmation_then_submits_a_stop_request(
    server: FakeTelegramServer,
) -> None:
    control = FakeControl()
    async with started(build(server, control=control)):
        await polling(server)
        server.push_message(CHAT_ID, "/stop")
        await eventually(lambda: len(server.messages) == 1)
        assert "/stop confirm" in server.messages[0].text
        assert control.submitted == []
        server.push_message(CHAT_ID, "/stop confirm")
        await eventually(lambda: len(server.messages) == 2)
    [request] = control.submitted
    assert isinstance(request, ev.StopRequested) and request.reason == "telegram"
    assert server.messages[1].text.startswith("Stop requested")


async def test_pause_resume_and_pnl(server: FakeTelegramServer) -> None:
    control = FakeControl()
    async with started(build(server, control=control)):
        await polling(server)
        for command in ("/pause", "/resume", "/pnl"):
            server.push_message(CHAT_ID, command)
        await eventually(lambda: len(server.messages) == 3)
    assert [type(e) for e in control.submitted] == [ev.PauseRequested, ev.ResumeRequested]
    assert server.messages[2].text.startswith("📊 PnL")
    assert "PnL (session): 1.50" in server.messages[2].text


async def test_messages_waiting_before_start_are_skipped_unread(server: FakeTelegramServer) -> None:
    control = FakeControl()
    server.push_message(CHAT_ID, "/pause")
    server.push_message(CHAT_ID, "/halt")
    async with started(build(server, control=control)):
        await polling(server)
        server.push_message(CHAT_ID, "confirm")  # the old /halt prompt never happened
        await eventually(lambda: len(server.messages) == 1)
    assert control.submitted == []
    assert server.messages[0].text.startswith("Nothing to confirm")


async def test_a_second_poller_is_reported_once_and_backed_off(
    server: FakeTelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def rival() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                await client.post(f"{server.base_url}/bot{TOKEN}/getUpdates", json={"timeout": 1})

    async with started(build(server)) as alerts:
        await polling(server)
        task = asyncio.create_task(rival())
        t0 = perf_ns()
        await eventually(lambda: alerts.poller.conflicts >= 4, timeout_s=10)
        elapsed_s = (perf_ns() - t0) / NS_PER_S
        assert alerts.status()["poll_conflict"] is True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await eventually(lambda: not alerts.poller.conflict, timeout_s=10)
    assert elapsed_s >= 0.05 + 0.1 + 0.2  # three growing back-offs between four conflicts
    reports = [
        r
        for r in caplog.records
        if r.name == "grvtmm.alerts.poller" and r.levelno >= logging.WARNING
    ]
    assert len(reports) == 1


async def test_store_failures_reported_from_another_thread(server: FakeTelegramServer) -> None:
    async with started(build(server)) as alerts:
        thread = threading.Thread(target=alerts.store_failure, args=("database is locked",))
        thread.start()
        thread.join()
        await eventually(lambda: alerts.sent_alerts == 1)
    assert "Store write failed" in server.texts()[0]
    assert "database is locked" in server.texts()[0]


async def test_a_full_outbox_drops_the_oldest_non_critical_alerts(
    server: FakeTelegramServer,
) -> None:
    alerts = build(server, capacity=4)
    for i in range(4):
        alerts.publish(fill(i))
    alerts.publish(breaker())
    alerts.publish(fill(99))
    assert alerts.status()["queued"] == 4
    assert alerts.dropped == 2
    async with started(alerts):
        await eventually(lambda: alerts.sent_alerts == 4)
    text = "\n".join(server.texts())
    assert "Breaker tripped" in text
    assert text.count("Large fill") == 3


async def test_give_up_after_the_bound_counts_the_dropped_alerts(
    server: FakeTelegramServer,
) -> None:
    server.fail_sends(503, count=LIMITS.max_attempts)
    async with started(build(server)) as alerts:
        alerts.publish(breaker())
        await eventually(lambda: alerts.status()["failed_messages"] == 1)
        assert alerts.dropped == 1
        assert alerts.status()["last_error"] == "Telegram answered 503: Internal Server Error"
        alerts.publish(breaker())
        await eventually(lambda: alerts.sent_alerts == 1)
    assert len(server.messages) == 1


async def test_heartbeat_every_interval(server: FakeTelegramServer) -> None:
    fills = iter(range(0, 1000, 5))
    summary = lambda: {**SUMMARY, "fills": next(fills)}  # noqa: E731
    async with started(build(server, summary=summary, heartbeat_s=0.1, events={"heartbeat": "on"})):
        await eventually(lambda: len(server.messages) >= 2)
    first, second = server.texts()[:2]
    assert first.startswith("ℹ️ INFO · Heartbeat") and "Fills (this period): 0" in first
    assert "Fills (this period): 5" in second
    assert "Equity: 1,000.00" in first


async def test_send_test_reports_success_and_failures(server: FakeTelegramServer) -> None:
    alerts = build(server)
    async with started(alerts):
        with anyio.fail_after(10):
            assert await alerts.send_test() is None
            server.fail_sends(400)
            assert await alerts.send_test() == "Telegram answered 400: Bad Request"
    assert "Test message" in server.texts()[0]
    async with started(build(server, chat_id="")) as no_chat:
        assert await no_chat.send_test() == "chat id not set"
    async with started(build(server, token="12:bad")) as bad:
        problem = await bad.send_test()
        assert problem is not None and problem.startswith("bot token is malformed")


async def test_configure_enables_sending_and_polling(server: FakeTelegramServer) -> None:
    control = FakeControl()
    async with started(build(server, control=control, token=None)) as alerts:
        assert alerts.status()["problem"] == "bot token not set"
        alerts.publish(breaker())
        assert alerts.status()["queued"] == 0
        alerts.configure(AlertSettings(chat_id=CHAT_ID, heartbeat_s=0), TOKEN)
        assert alerts.enabled
        await polling(server)
        server.push_message(CHAT_ID, "/pause")
        await eventually(lambda: len(control.submitted) == 1)
        alerts.publish(breaker())
        await eventually(lambda: alerts.sent_alerts == 1)


async def test_the_token_never_reaches_the_logs(
    server: FakeTelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.fail_sends(429, retry_after=0)
    server.fail_sends(500, count=LIMITS.max_attempts)
    async with started(build(server)) as alerts:
        alerts.publish(breaker())
        await eventually(lambda: alerts.status()["failed_messages"] == 1)
        alerts.configure(AlertSettings(chat_id=CHAT_ID), "111:" + "x" * 30)  # a wrong token: 401s
        alerts.publish(breaker())
        await eventually(lambda: alerts.status()["failed_messages"] == 2)
        await eventually(lambda: alerts.status()["poll_error"] != "")
    assert caplog.records  # the flow did log (httpx requests, retries, failures)
    assert token_leaks(caplog.records, TOKEN) == []
    assert token_leaks(caplog.records, "111:" + "x" * 30) == []
    assert TOKEN not in repr(alerts) and TOKEN not in str(alerts.status())
