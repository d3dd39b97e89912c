"""Graceful shutdown of the real `grvt-mm serve` process: SIGTERM/SIGINT stops quoting, cancels,
flattens within the bound, persists and exits 0; a second signal exits after one cancel-all; a
flatten that cannot finish within the bound leaves a CRITICAL log line, a stored engine event
naming what is open and a Telegram alert, and the process still exits (status 3)."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fakes.grvt_exchange import ApiError
from fakes.grvt_helpers import FAST, INST
from fakes.grvt_server import FakeGrvtServer
from fakes.serve_process import CSRF, ServeProcess, live_env, trade_from_another_client, wait_for
from fakes.telegram_server import CHAT_ID, TOKEN, FakeTelegramServer

pytestmark = pytest.mark.anyio

NOT_FINAL = ["pending", "open", "partially_filled"]
FAR_QUOTES = {
    "strategy": "fixed-spread",
    "half_spread_ticks": 400.0,  # resting far from the market: these quotes never fill
    "price_tolerance_ticks": 20,  # ... and are not moved with every tick of the mid
    "order_qty": 0.1,
    "step_ms": 100,
    "max_drawdown": 0.5,
}
EXIT_EXPOSED = 3


def events_of(proc: ServeProcess) -> list[dict[str, Any]]:
    store = proc.store()
    try:
        page = store.engine_events(limit=1000)
        return [
            {"kind": e.kind, "level": e.level, "ts_ns": e.ts_ns, **e.detail} for e in page.items
        ]
    finally:
        store.close()


def logged(proc: ServeProcess, event: str) -> list[dict[str, Any]]:
    return [line for line in proc.log_lines() if line.get("event") == event]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_stops_flattens_persists_and_exits_zero(
    tmp_path: Path, sig: signal.Signals
) -> None:
    proc = ServeProcess(
        tmp_path / "data",
        mode="demo",
        env={"GRVTMM_DEMO_SPEED": "5", "GRVTMM_SHUTDOWN_TIMEOUT_S": "30"},
    )
    try:
        await proc.start()

        async def trading() -> bool:
            engine = await proc.engine()
            return engine["mode"] == "running" and bool(engine["open_orders"])

        await wait_for(trading, 30, "the demo engine quoting")
        proc.signal(sig)
        code = await proc.wait_exit(45)
    finally:
        await proc.close()
    assert code == 0, proc.log()
    assert logged(proc, "shutdown.signal")[0]["signal"] == sig.name
    assert logged(proc, "shutdown.done")[0]["exit_code"] == 0
    assert not logged(proc, "shutdown.flatten_incomplete")
    store = proc.store()
    try:
        session = store.latest_session()
        assert session is not None and session.ended_at_ns is not None
        assert store.orders(limit=1, statuses=NOT_FINAL).total == 0
        assert store.orders(limit=1).total > 0
    finally:
        store.close()
    events = events_of(proc)
    stops = [e for e in events if e["kind"] == "mode_change" and e["new"] == "stopped"]
    assert stops and stops[0]["old"] in ("stopping", "flattening")
    done = [e for e in events if e["kind"] == "flatten_done"]
    assert done and (done[0]["position_lots"] == 0 or done[0]["dust"])
    assert any(e["kind"] == "mode_change" and e["reason"] == "shutdown" for e in events)


# ---- live mode against the fake GRVT server: flatten made impossible ----------------------


class RefuseReduceOnly:
    """Wraps the fake exchange's `create`: reduce-only orders are refused (a venue that will
    not let the position be closed), everything else goes through."""

    def __init__(self, server: FakeGrvtServer) -> None:
        self.create = server.exchange.create
        self.refused = 0
        server.exchange.create = self  # type: ignore[method-assign]

    def __call__(self, order: dict[str, Any]) -> Any:
        if order.get("reduce_only"):
            self.refused += 1
            raise ApiError(400, 2082, "Pre-order check failed")
        return self.create(order)


async def open_position(server: FakeGrvtServer) -> int:
    """A position on the fake account, opened by another client."""
    await trade_from_another_client(server)
    lots = server.exchange.matching.position_lots
    assert lots > 0
    return lots


async def quoting_live(proc: ServeProcess, lots: int) -> None:
    response = await proc.client.put("/api/config/strategy", json=FAR_QUOTES, headers=CSRF)
    assert response.status_code == 200, response.text
    await proc.control("start")

    last: dict[str, Any] = {}

    async def quoting() -> bool:
        last.update(await proc.engine())
        return (
            last["mode"] == "running"
            and any(o["status"] == "open" for o in last["open_orders"])
            and round(last["position"] / float(INST.size_step)) == lots
        )

    try:
        await wait_for(quoting, 30, "the live engine quoting with the position")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; engine: {last}") from None


@pytest.fixture
async def fake_grvt() -> AsyncIterator[FakeGrvtServer]:
    async with FakeGrvtServer(INST, params=FAST) as server:
        yield server


async def test_flatten_that_cannot_finish_alerts_stores_what_is_open_and_exits(
    tmp_path: Path, fake_grvt: FakeGrvtServer
) -> None:
    server = fake_grvt
    lots = await open_position(server)
    async with FakeTelegramServer(TOKEN) as telegram:
        env = live_env(server) | {
            "GRVTMM_SHUTDOWN_TIMEOUT_S": "2",
            "GRVTMM_TELEGRAM__BOT_TOKEN": TOKEN,
            "GRVTMM_TELEGRAM__CHAT_ID": CHAT_ID,
            "GRVTMM_TELEGRAM__API_BASE_URL": telegram.base_url,
        }
        proc = ServeProcess(tmp_path / "data", mode="live", env=env)
        try:
            await proc.start()
            await quoting_live(proc, lots)
            refuse = RefuseReduceOnly(server)
            proc.signal(signal.SIGTERM)
            code = await proc.wait_exit(2 + 30)
        finally:
            await proc.close()
        assert refuse.refused >= 1  # the flatten tried and was refused
        alerts = [t for t in telegram.texts() if "not finished within 2 s" in t]
    assert code == EXIT_EXPOSED, proc.log()
    critical = logged(proc, "shutdown.flatten_incomplete")
    assert len(critical) == 1 and critical[0]["level"] == "CRITICAL"
    assert critical[0]["position_lots"] == lots and critical[0]["open_orders"] == 0
    stored = [e for e in events_of(proc) if e.get("code") == "shutdown_incomplete"]
    assert len(stored) == 1 and stored[0]["level"] == "critical"
    assert f"position {INST.size_str(lots)} " in stored[0]["detail"]
    assert "not finished within 2 s" in stored[0]["detail"]
    assert "0 open orders" in stored[0]["detail"]
    assert len(alerts) == 1 and INST.size_str(lots) in alerts[0]
    assert not server.exchange.open_orders()  # the quotes were cancelled before the flatten
    assert server.exchange.matching.position_lots == lots  # ... which could not close it
    store = proc.store()
    try:
        session = store.latest_session()
        assert session is not None and session.ended_at_ns is not None
        assert store.orders(limit=1, statuses=NOT_FINAL).total == 0
    finally:
        store.close()


async def test_second_signal_exits_promptly_after_cancel_all(
    tmp_path: Path, fake_grvt: FakeGrvtServer
) -> None:
    server = fake_grvt
    lots = await open_position(server)
    env = live_env(server) | {"GRVTMM_SHUTDOWN_TIMEOUT_S": "120"}
    proc = ServeProcess(tmp_path / "data", mode="live", env=env)
    try:
        await proc.start()
        await quoting_live(proc, lots)
        refuse = RefuseReduceOnly(server)
        proc.signal(signal.SIGTERM)
        await wait_for(lambda: refuse.refused >= 2, 20, "the flatten being refused (retrying)")
        bulk_cancels = server.requests.count("full/v1/cancel_all_orders")
        proc.signal(signal.SIGTERM)
        code = await proc.wait_exit(15)  # far inside the 120 s bound
    finally:
        await proc.close()
    assert code == EXIT_EXPOSED, proc.log()
    assert logged(proc, "shutdown.forced")
    assert logged(proc, "shutdown.cancel_all")[0]["confirmed"] is True
    assert server.requests.count("full/v1/cancel_all_orders") > bulk_cancels
    assert not server.exchange.open_orders()
    stored = [e for e in events_of(proc) if e.get("code") == "shutdown_incomplete"]
    assert len(stored) == 1 and "second signal" in stored[0]["detail"]
    assert f"position {INST.size_str(lots)} " in stored[0]["detail"]
    store = proc.store()
    try:
        session = store.latest_session()
        assert session is not None and session.ended_at_ns is not None
        assert store.orders(limit=1, statuses=NOT_FINAL).total == 0
    finally:
        store.close()
