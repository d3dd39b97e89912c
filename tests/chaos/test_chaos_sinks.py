"""Chaos: the node's side channels failing — the SQLite store locked by another connection, and
Telegram answering 5xx or refusing connections. Neither may hold up the engine; nothing the
store must keep is lost once it is writable again; alerts are delivered after recovery or
counted as dropped, with bounded retries."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from chaos.chaos_kit import Row, rig
from fakes import eventually
from fakes.grvt_helpers import quoting_both_sides
from fakes.telegram_server import CHAT_ID, TOKEN, FakeTelegramServer
from grvtmm.alerts.notifier import Alert, AlertSettings
from grvtmm.alerts.service import TelegramAlerts
from grvtmm.alerts.telegram import TelegramLimits
from grvtmm.core.clock import NS_PER_S, LiveClock, perf_ns
from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import EngineMode, PauseRequested, ResumeRequested
from grvtmm.core.sinks import Published
from grvtmm.store.writer import WriterSettings

pytestmark = pytest.mark.anyio


@pytest.mark.chaos(
    "sqlite_locked",
    "SQLite write lock held by another connection for ≥ 1.5 s while trading (busy timeout 100 ms)",
    "the engine keeps quoting and processing events; the writer retries with backoff and "
    "reports the failure; once released every fill is stored exactly once",
)
async def test_sqlite_locked(tmp_path: Path, chaos_row: Row) -> None:
    failures: list[str] = []
    writer_settings = WriterSettings(retry_base_s=0.05, retry_max_s=0.2)
    with anyio.fail_after(60):
        async with rig(
            tmp_path,
            busy_timeout_ms=100,
            writer_settings=writer_settings,
            on_store_failure=failures.append,
        ) as r:
            await r.start()
            await r.fills_happen(1)
            writer = r.writer
            assert writer is not None and r.db_path is not None
            await asyncio.to_thread(writer.flush, 5.0)
            holder = sqlite3.connect(r.db_path, isolation_level=None, check_same_thread=False)
            try:
                holder.execute("BEGIN IMMEDIATE")  # the write lock, held until rollback
                locked_at = perf_ns()
                processed = r.node.events_processed
                placed = len(r.recorder.of(PlaceOrder))
                await r.fills_happen(2)  # fills keep coming while the store is locked
                await eventually(lambda: writer.failures >= 2 and bool(failures), 10)
                await eventually(lambda: perf_ns() - locked_at > 1.5 * NS_PER_S, 5)
                assert r.node.events_processed > processed + 50
                assert len(r.recorder.of(PlaceOrder)) > placed  # still requoting
                assert r.node.engine.mode is EngineMode.RUNNING
                assert writer.pending_fills >= 2
                chaos_row.notes.update(
                    write_failures=writer.failures,
                    fills_waiting=writer.pending_fills,
                    events_while_locked=r.node.events_processed - processed,
                )
            finally:
                holder.rollback()
                holder.close()
            r.watch.start()
            chaos_row.recover_s = await r.recover(
                lambda: (
                    writer.pending_fills == 0
                    and set(r.fake_trade_ids()) <= set(r.store_trade_ids())
                ),
                15,
            )
            await r.finish(chaos_row)
            assert not writer.unsaved_fills and writer.poisoned == 0
            assert "store write failed" in failures[0]
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0
    assert chaos_row.notes["duplicate_fills"] == 0


class TelegramOnPort(FakeTelegramServer):
    """The fake Bot API on a fixed loopback port, so it can go away and come back."""

    def __init__(self, token: str, port: int) -> None:
        super().__init__(token)
        self.fixed_port = port

    async def __aenter__(self) -> TelegramOnPort:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.fixed_port))
        self.port = self.fixed_port
        app = Starlette(routes=[Route("/bot{token}/{method}", self._call, methods=["POST"])])
        config = uvicorn.Config(
            app, log_level="critical", lifespan="off", access_log=False, timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.005)
        return self


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TimedSink:
    """Wraps a sink and keeps the longest `publish` call (what the engine waits for)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = f"timed-{inner.name}"
        self.max_publish_ns = 0

    @property
    def dropped(self) -> int:
        return int(self.inner.dropped)

    def publish(self, item: Published) -> None:
        t0 = perf_ns()
        self.inner.publish(item)
        self.max_publish_ns = max(self.max_publish_ns, perf_ns() - t0)


LIMITS = TelegramLimits(
    min_interval_s=0.05,
    base_backoff_s=0.05,
    max_backoff_s=0.2,
    max_attempts=3,
    request_timeout_s=1.0,
    poll_timeout_s=1,
    conflict_backoff_s=0.2,
)


@pytest.mark.chaos(
    "telegram_down",
    "Telegram unreachable (connection refused), then answering 500 to every send, then back",
    "the engine is never held up (alert publish stays O(1)); each message is tried at most 3 "
    "times then counted as dropped; alerts raised after recovery are delivered; every alert "
    "is either delivered or counted",
)
async def test_telegram_down(tmp_path: Path, chaos_row: Row) -> None:
    port = _free_port()
    clock = LiveClock()
    with anyio.fail_after(60):
        async with rig(tmp_path, store=False) as r:
            alerts = TelegramAlerts(
                r.node.engine.instrument,
                clock,
                control=r.node,
                summary=dict,
                settings=AlertSettings(chat_id=CHAT_ID, heartbeat_s=0),
                token=TOKEN,
                api_base_url=f"http://127.0.0.1:{port}",
                limits=LIMITS,
            )
            raised: list[Alert] = []
            notify = alerts.notify

            def counting(alert: Alert) -> None:
                raised.append(alert)
                notify(alert)

            alerts.notify = counting  # type: ignore[method-assign]
            timed = TimedSink(alerts)
            r.node.add_sink(timed)
            alerts.start()
            try:
                # phase 1: nothing listens on the port (connection refused)
                def settled() -> bool:  # every alert raised so far delivered or dropped
                    return alerts.sent_alerts + alerts.dropped == len(raised)

                await r.start()
                await eventually(lambda: alerts.failed_messages >= 1, 10)
                await _pause_resume(r, clock)
                await eventually(settled, 10)
                refused_failures = alerts.failed_messages
                assert alerts.sent_alerts == 0
                telegram = TelegramOnPort(TOKEN, port)
                telegram.fail_sends(500, count=1000)
                async with telegram:
                    # phase 2: Telegram answers 500 to every send
                    await _pause_resume(r, clock)
                    await eventually(lambda: len(telegram.send_attempts_ns) >= 3, 10)
                    await eventually(settled, 10)
                    assert not telegram.messages
                    # phase 3: Telegram is back
                    telegram._faults.clear()
                    r.watch.start()
                    await _pause_resume(r, clock)
                    chaos_row.recover_s = await r.recover(
                        lambda: any("Paused" in t or "paused" in t for t in telegram.texts()), 15
                    )
                    await eventually(settled, 10)
                    failed = alerts.failed_messages
                    assert refused_failures >= 1 and failed > refused_failures
                    # bounded: no message tried more than max_attempts times
                    sends = alerts.sent_messages + failed - refused_failures
                    assert len(telegram.send_attempts_ns) <= LIMITS.max_attempts * sends
                    assert alerts.sent_alerts >= 1
                    assert alerts.sent_alerts + alerts.dropped == len(raised)
                    chaos_row.notes.update(
                        alerts=len(raised),
                        delivered=alerts.sent_alerts,
                        dropped=alerts.dropped,
                        failed_messages=failed,
                        retries=alerts.status()["retries"],
                        max_publish_ms=round(timed.max_publish_ns / 1e6, 3),
                    )
                    assert timed.max_publish_ns < 0.05 * NS_PER_S
                    await eventually(lambda: quoting_both_sides(r.node), 10)
            finally:
                await alerts.close(flush_timeout_s=1.0)
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


async def _pause_resume(r: Any, clock: LiveClock) -> None:
    now = clock.now_ns()
    await r.node.submit(PauseRequested(ts_ns=now, local_ns=now, reason="chaos"))
    await eventually(lambda: r.node.engine.mode is EngineMode.PAUSED, 5)
    now = clock.now_ns()
    await r.node.submit(ResumeRequested(ts_ns=now, local_ns=now, reason="chaos"))
    await eventually(lambda: quoting_both_sides(r.node), 10)
