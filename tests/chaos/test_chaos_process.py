"""Chaos: `kill -9` of the real `grvt-mm serve` process mid-session (live mode against the fake
GRVT server in this process), with the exchange's dead-man switch not firing, so the dead
process's quotes keep resting and fill while nobody runs; then a restart on the same database."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import pytest

from chaos.chaos_kit import Row, Stopwatch
from fakes.grvt_helpers import FAST, INST
from fakes.grvt_server import FakeGrvtServer
from fakes.serve_process import CSRF, ServeProcess, live_env, wait_for

pytestmark = pytest.mark.anyio

RESTING_QUOTES = {
    "strategy": "fixed-spread",
    "half_spread_ticks": 3.0,
    "order_qty": 0.5,
    "step_ms": 50,
    "min_order_age_s": 0.2,
    "max_order_age_s": 30.0,
    "max_drawdown": 0.5,
    "max_inventory_ratio": 5.0,
    "one_sided_enter": 4.0,
    "one_sided_exit": 3.0,
}


def _open(server: FakeGrvtServer) -> set[int]:
    return {int(o["metadata"]["client_order_id"]) for o in server.exchange.open_orders()}


def _stored_trade_ids(proc: ServeProcess) -> list[str]:
    store = proc.store()
    try:
        return [f.trade_id for f in store.fills(limit=1000).items]
    finally:
        store.close()


@pytest.mark.chaos(
    "kill_9",
    "`kill -9` of `grvt-mm serve` while quoting (dead-man switch not firing: the quotes keep "
    "resting and fill while it is down), then a restart on the same database",
    "before any new quote the restart cancels the dead process's orders, takes the position "
    "from the venue and stores the fills made while down exactly once; quoting resumes after "
    "start; nothing lost, nothing resting at the end",
)
async def test_kill_9_mid_run(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(110):
        async with FakeGrvtServer(INST, params=FAST) as server:
            server.exchange.arm_cancel_on_disconnect = lambda _countdown: None  # type: ignore[method-assign]
            data = tmp_path / "data"
            env = live_env(server)
            first = ServeProcess(data, mode="live", env=env)
            try:
                await first.start()
                response = await first.client.put(
                    "/api/config/strategy", json=RESTING_QUOTES, headers=CSRF
                )
                assert response.status_code == 200, response.text
                await first.control("start")
                await wait_for(lambda: len(_stored_trade_ids(first)) >= 1, 40, "a fill stored")
                await wait_for(lambda: len(_open(server)) == 2, 20, "two quotes resting")
                first.kill()
                assert await first.wait_exit(10) == -signal.SIGKILL
            finally:
                await first.close()
            left_resting = len(_open(server))
            fills_at_death = len(server.exchange.fills)
            await wait_for(
                lambda: len(server.exchange.fills) > fills_at_death or not _open(server),
                30,
                "a fill while down",
                0.005,
            )
            created = len(server.exchange.records)
            watch = Stopwatch()
            second = ServeProcess(data, mode="live", env=env)
            try:
                await second.start()
                fake_ids = {f["trade_id"] for f in server.exchange.fills}
                await wait_for(
                    lambda: not _open(server) and fake_ids <= set(_stored_trade_ids(second)),
                    20,
                    "orphans cancelled and missed fills stored",
                )
                chaos_row.recover_s = watch.elapsed_s()
                assert len(server.exchange.records) == created  # nothing quoted before start
                engine = await second.engine()
                lots = round(engine["position"] / float(INST.size_step))
                assert lots == server.exchange.matching.position_lots
                watch.start()
                await second.control("start")

                async def quoting() -> bool:
                    state = await second.engine()
                    return state["mode"] == "running" and bool(state["open_orders"])

                await wait_for(quoting, 20, "quoting after the restart")
                chaos_row.notes["start_to_quoting_s"] = round(watch.elapsed_s(), 2)
                second.signal(signal.SIGTERM)
                assert await second.wait_exit(60) == 0, second.log()
            finally:
                await second.close()
            stored = _stored_trade_ids(second)
            fake = [f["trade_id"] for f in server.exchange.fills]
            chaos_row.lost_fills = len(set(fake) - set(stored))
            chaos_row.orphan_orders = len(_open(server))
            chaos_row.fills = len(fake)
            chaos_row.notes.update(
                orders_left_resting_at_kill=left_resting,
                fills_while_down=len(fake_ids) - fills_at_death,
                duplicate_fills=len(stored) - len(set(stored)),
                final_mode="stopped (SIGTERM, exit 0)",
            )
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0
    assert chaos_row.notes["duplicate_fills"] == 0
