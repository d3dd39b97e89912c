"""Chaos: the exchange refusing our orders — asynchronous post-only rejects, invalid-order codes
(2062/2064/2065/2066) one at a time and as a storm, and a flatten whose close orders are
refused, transiently or until only dust is left."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from chaos.chaos_kit import Row, rig
from fakes import eventually
from fakes.grvt_helpers import FAST, INST, mode, quoting_both_sides, taker, venue_on
from fakes.grvt_server import FakeGrvtServer
from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    BookSnapshot,
    BreakerTripped,
    EngineMode,
    EngineWarning,
    FlattenDone,
    OrderFilled,
    OrderRejected,
    StartRequested,
)
from grvtmm.core.types import Side
from grvtmm.engine.engine import EngineSettings

pytestmark = pytest.mark.anyio


@pytest.mark.chaos(
    "post_only_rejects",
    "6 asynchronous post-only rejects (FAIL_POST_ONLY on the order stream after a PENDING ack)",
    "each becomes an OrderRejected with the reason and counts toward the post-only storm "
    "ratio only; the engine keeps quoting (no halt); no orphan order",
)
async def test_async_post_only_rejects(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(40):
        async with rig(tmp_path) as r:
            await r.start()
            r.watch.start()
            r.exchange.faults.async_post_only_rejects = 6
            await eventually(lambda: r.exchange.faults.async_post_only_rejects == 0, 15)
            chaos_row.recover_s = await r.recover(
                lambda: len(r.recorder.of(OrderRejected)) >= 6 and quoting_both_sides(r.node), 15
            )
            reasons = [x.reason for x in r.recorder.of(OrderRejected)]
            assert len(reasons) >= 6 and set(reasons) == {"FAIL_POST_ONLY"}
            assert not r.recorder.of(BreakerTripped)
            chaos_row.notes["rejects"] = len(reasons)
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "post_only_storm",
    "every post-only order rejected asynchronously (storm breaker set to 10 rejects at 90 %)",
    "the reject-storm breaker halts the engine; orders cancelled, position flat; no orphan",
)
async def test_post_only_storm_halts(tmp_path: Path, chaos_row: Row) -> None:
    settings = EngineSettings(post_only_storm_count=10, post_only_storm_ratio=0.9)
    with anyio.fail_after(40):
        async with rig(tmp_path, settings=settings) as r:
            await r.start()
            r.watch.start()
            r.exchange.faults.async_post_only_rejects = 10_000
            chaos_row.recover_s = await r.recover(
                lambda: mode(r.node) is EngineMode.HALTED and not r.fake_open(), 20
            )
            assert [b.breaker for b in r.recorder.of(BreakerTripped)] == ["reject_storm"]
            assert r.exchange.matching.position_lots == 0
            chaos_row.notes["rejects"] = len(r.recorder.of(OrderRejected))
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "invalid_order_rejects",
    "one quote each refused with 2062 (size < min), 2064 (price tick), 2065 (size step), "
    "2066 (notional < min)",
    "each surfaces as OrderRejected with its code, that side cools down and is quoted again; "
    "no halt; no orphan order",
)
async def test_invalid_order_rejects(tmp_path: Path, chaos_row: Row) -> None:
    codes = [2062, 2064, 2065, 2066]
    with anyio.fail_after(40):
        async with rig(tmp_path) as r:
            await r.start()
            r.watch.start()
            r.exchange.faults.reject_quotes = list(codes)
            chaos_row.recover_s = await r.recover(
                lambda: not r.exchange.faults.reject_quotes and quoting_both_sides(r.node), 15
            )
            got = [x.code for x in r.recorder.of(OrderRejected) if x.code is not None]
            assert got == codes  # (post-only bounces of a fast market carry no code)
            assert not r.recorder.of(BreakerTripped)
            assert mode(r.node) is EngineMode.RUNNING
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "invalid_order_storm",
    "every quote refused with 2064 (invalid price tick)",
    "the reject-storm breaker (20 rejects / 60 s) halts; the flatten still works "
    "(reduce-only orders are not refused); flat; no orphan order",
)
async def test_invalid_order_storm_halts(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(60):
        async with rig(tmp_path) as r:
            await r.start()
            r.watch.start()
            r.exchange.faults.reject_quotes = [2064] * 1000
            chaos_row.recover_s = await r.recover(
                lambda: mode(r.node) is EngineMode.HALTED and not r.fake_open(), 30
            )
            assert [b.breaker for b in r.recorder.of(BreakerTripped)] == ["reject_storm"]
            await eventually(lambda: r.exchange.matching.position_lots == 0, 10)
            chaos_row.notes["rejects"] = len(r.recorder.of(OrderRejected))
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


async def _open_position(server: FakeGrvtServer, lots: int) -> None:
    """Leave a long position of `lots` on the fake: buy 10 lots with an IOC through the book,
    then sell the excess the same way (each order above the min notional)."""
    async with venue_on(server) as (venue, got):
        await eventually(lambda: bool(got.of(BookSnapshot)))
        await venue.execute(taker(venue, server))
        await eventually(lambda: server.exchange.matching.position_lots == 10)
        if lots < 10:
            bid = server.exchange.matching.book.best_bid
            sell = dataclasses.replace(
                taker(venue, server), side=Side.SELL, price_ticks=bid - 5, size_lots=10 - lots
            )
            await venue.execute(sell)
        await eventually(lambda: server.exchange.matching.position_lots == lots)
        await eventually(lambda: len(got.of(OrderFilled)) >= 1 + (lots < 10))


def _closes(r_placed: list[PlaceOrder]) -> list[PlaceOrder]:
    return [p for p in r_placed if p.reduce_only]


@pytest.mark.chaos(
    "flatten_transient_rejects",
    "flatten close orders refused twice with 2080 (insufficient margin), then accepted",
    "the flatten backs off (250 ms, 500 ms) and retries until flat; ends STOPPED, flat",
)
async def test_flatten_transient_rejects(tmp_path: Path, chaos_row: Row) -> None:
    settings = EngineSettings(flatten_on_start=True)
    with anyio.fail_after(60):
        async with FakeGrvtServer(INST, params=FAST) as server:
            await _open_position(server, 10)
            server.exchange.faults.reject_flatten = [2080, 2080]
            async with rig(tmp_path, settings=settings, server=server) as r:
                r.watch.start()
                now = r.node.clock.now_ns()
                await r.node.submit(StartRequested(ts_ns=now, local_ns=now, reason="chaos"))
                chaos_row.recover_s = await r.recover(
                    lambda: bool(r.recorder.of(FlattenDone)) and mode(r.node) is EngineMode.STOPPED,
                    20,
                )
                done = r.recorder.of(FlattenDone)[0]
                assert (done.dust, done.position_lots, done.attempts) == (False, 0, 3)
                assert server.exchange.matching.position_lots == 0
                assert [x.code for x in r.recorder.of(OrderRejected)] == [2080, 2080]
                chaos_row.notes["close_orders"] = len(_closes(r.recorder.of(PlaceOrder)))
                await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "flatten_until_dust",
    "the remaining position (1 lot, notional below the venue's min) is refused with 2067 on "
    "every close",
    "the flatten ends as dust on a 2067 (no retry loop: at most 2 close orders), STOPPED, a "
    "dust FlattenDone naming the lots left; no order resting",
)
async def test_flatten_rejects_until_dust(tmp_path: Path, chaos_row: Row) -> None:
    settings = EngineSettings(flatten_on_start=True)
    inst = dataclasses.replace(INST, min_notional=Decimal(10))  # 1 lot ≈ 6 USDT
    with anyio.fail_after(60):
        async with FakeGrvtServer(inst, params=FAST) as server:
            await _open_position(server, 1)
            server.exchange.faults.min_notional_check = True
            async with rig(tmp_path, settings=settings, server=server) as r:
                r.watch.start()
                now = r.node.clock.now_ns()
                await r.node.submit(StartRequested(ts_ns=now, local_ns=now, reason="chaos"))
                chaos_row.recover_s = await r.recover(
                    lambda: bool(r.recorder.of(FlattenDone)) and mode(r.node) is EngineMode.STOPPED,
                    20,
                )
                done = r.recorder.of(FlattenDone)[0]
                assert (done.dust, done.position_lots) == (True, 1)
                assert done.attempts <= 2
                placed = len(r.recorder.of(PlaceOrder))
                # no loop: nothing more is sent while stopped (a few timer ticks later)
                ticks = r.node.events_processed
                await eventually(lambda: r.node.events_processed > ticks + 20, 10)
                assert len(r.recorder.of(PlaceOrder)) == placed == done.attempts
                assert {x.code for x in r.recorder.of(OrderRejected)} == {2067}
                assert server.exchange.matching.position_lots == 1
                chaos_row.notes.update(dust_lots=done.position_lots, close_orders=placed)
                await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


async def test_first_flatten_close_survives_the_reconcile_sent_with_it(tmp_path: Path) -> None:
    settings = EngineSettings(flatten_on_start=True)
    inst = dataclasses.replace(INST, min_notional=Decimal(10))
    with anyio.fail_after(60):
        async with FakeGrvtServer(inst, params=FAST) as server:
            await _open_position(server, 1)
            server.exchange.faults.min_notional_check = True
            async with rig(tmp_path, settings=settings, server=server, store=False) as r:
                now = r.node.clock.now_ns()
                await r.node.submit(StartRequested(ts_ns=now, local_ns=now, reason="chaos"))
                await eventually(lambda: bool(r.recorder.of(FlattenDone)), 20)
                assert r.recorder.of(FlattenDone)[0].attempts == 1
                assert "illegal_transition" not in {w.code for w in r.recorder.of(EngineWarning)}
