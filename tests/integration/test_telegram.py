"""Telegram alerts and control around a real node (engine + simulated venue) and the fake Bot
API on loopback: start alert, /status, /stop with confirmation, stop alerts; all logs captured
and the bot token never among them."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import anyio
import pytest

from fakes import eventually
from fakes.telegram_server import CHAT_ID, TOKEN, FakeTelegramServer, token_leaks
from grvtmm.alerts.notifier import AlertSettings
from grvtmm.alerts.service import TelegramAlerts
from grvtmm.alerts.telegram import TelegramLimits
from grvtmm.core.clock import LiveClock
from grvtmm.core.events import EngineMode, StartRequested, StopRequested
from grvtmm.engine.engine import Engine
from grvtmm.monitor.metrics import Monitor, engine_view
from grvtmm.node import Node
from grvtmm.serve import demo_stack
from grvtmm.settings import Settings
from grvtmm.strategy.factory import build_strategy
from grvtmm.strategy.params import StrategyConfig

pytestmark = pytest.mark.anyio

LIMITS = TelegramLimits(min_interval_s=0.05, base_backoff_s=0.01, poll_timeout_s=1)


def build_node(clock: LiveClock) -> tuple[Node, Monitor]:
    stack = demo_stack(Settings(demo_speed=20.0), clock, 200.0, 3.0)
    instrument, fees = stack.instrument, stack.fees
    config = StrategyConfig().model_copy(update={"symbol": instrument.symbol})
    engine = Engine(
        instrument=instrument,
        config=config,
        strategy_factory=lambda cfg: build_strategy(cfg, instrument, fees),
        fees=fees,
        start_ns=clock.now_ns(),
    )
    monitor = Monitor(instrument, clock, snapshot_provider=lambda: engine_view(engine.snapshot()))
    return Node(engine, stack.venue, clock, sinks=[monitor]), monitor


def texts_with(server: FakeTelegramServer, needle: str) -> list[str]:
    return [t for t in server.texts() if needle in t]


async def test_full_flow_start_status_stop_with_confirmation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = LiveClock()
    async with FakeTelegramServer(TOKEN) as server:
        node, monitor = build_node(clock)
        alerts = TelegramAlerts(
            node.engine.instrument,
            clock,
            control=node,
            summary=monitor.summary,
            settings=AlertSettings(chat_id=CHAT_ID, heartbeat_s=0),
            token=TOKEN,
            api_base_url=server.base_url,
            limits=LIMITS,
        )
        node.add_sink(alerts)
        node_task = asyncio.create_task(node.run())
        alerts.start()
        try:
            await eventually(lambda: server.poll_calls >= 2, timeout_s=10)
            now = clock.now_ns()
            await node.submit(StartRequested(ts_ns=now, local_ns=now, reason="integration"))
            await eventually(lambda: bool(texts_with(server, "Engine started")), timeout_s=20)

            server.push_message(CHAT_ID, "/status")
            await eventually(lambda: bool(texts_with(server, "📊 Status")), timeout_s=10)
            assert "Mode: running" in texts_with(server, "📊 Status")[0]

            server.push_message(CHAT_ID, "/stop")
            await eventually(lambda: bool(texts_with(server, "/stop confirm")), timeout_s=10)
            assert node.engine.mode is EngineMode.RUNNING  # asking is not stopping
            server.push_message(CHAT_ID, "/stop confirm")
            await eventually(lambda: node.engine.mode is EngineMode.STOPPED, timeout_s=30)
            await eventually(lambda: bool(texts_with(server, "Engine stopped")), timeout_s=10)
            assert texts_with(server, "Flatten done")  # critical: always sent
            assert "Reason: telegram" in texts_with(server, "Mode changed")[0]
        finally:
            with anyio.fail_after(30):
                if node.engine.mode not in (EngineMode.STOPPED, EngineMode.IDLE):
                    now = clock.now_ns()
                    await node.submit(StopRequested(ts_ns=now, local_ns=now, reason="teardown"))
                await node.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await node_task
                await alerts.close()
    assert {m.chat_id for m in server.messages} == {CHAT_ID}
    assert alerts.dropped == 0
    loggers = {r.name for r in caplog.records}
    assert {"httpx", "grvtmm.alerts.service"} <= loggers  # request URLs and commands were logged
    assert token_leaks(caplog.records, TOKEN) == []
