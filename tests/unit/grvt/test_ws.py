"""Stream client: sequence rules (pure) and behaviour against the fake GRVT server."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import anyio
import pytest

from fakes import eventually
from fakes.grvt_server import FakeGrvtServer
from grvtmm.core.book import OrderBook
from grvtmm.core.clock import LiveClock
from grvtmm.core.events import BookSnapshot
from grvtmm.core.types import Instrument
from grvtmm.venues.grvt import parse
from grvtmm.venues.grvt.limits import RetryPolicy
from grvtmm.venues.grvt.ws import JsonRpcStream, SequenceTracker, Verdict
from grvtmm.venues.sim.synthetic import SyntheticParams

INST = Instrument(
    symbol="BNB_USDT_Perp",
    tick_size=Decimal("0.01"),
    size_step=Decimal("0.01"),
    min_size=Decimal("0.01"),
    min_notional=Decimal("5"),
    base_decimals=9,
    asset_id="0x030b01",
)
FAST = SyntheticParams(book_update_hz=100.0, trade_rate_per_s=20.0, depth_levels=10)
KEY = ("v1.book.d", "BNB_USDT_Perp")


def test_first_frame_after_ack_then_consecutive() -> None:
    t = SequenceTracker()
    t.expect(KEY)
    assert t.check(KEY, 10, 9) is Verdict.STALE  # before the subscribe is acknowledged
    t.acked(KEY)
    assert t.check(KEY, 11, 10) is Verdict.FIRST
    assert t.check(KEY, 12, 11) is Verdict.NEXT
    assert t.check(KEY, 12, 11) is Verdict.DUPLICATE
    assert t.check(KEY, 13, None) is Verdict.NEXT


def test_jump_or_decrease_is_a_gap_and_zero_restarts() -> None:
    t = SequenceTracker()
    t.expect(KEY)
    t.acked(KEY)
    t.check(KEY, 5, 4)
    assert t.check(KEY, 7, 6) is Verdict.GAP
    assert t.check(KEY, 4, 3) is Verdict.GAP
    assert t.check(KEY, 0, None) is Verdict.FIRST  # snapshot numbering restarts at 0
    assert t.check(KEY, 1, 0) is Verdict.NEXT


class BookClient:
    """A stream plus a book built from its frames, the way the venue does it."""

    def __init__(self, url: str) -> None:
        self.q = parse.Quantizer(INST)
        self.book = OrderBook(INST.symbol)
        self.verdicts: list[Verdict] = []
        self.states: list[bool] = []
        self.stream = JsonRpcStream(
            url,
            name="md",
            clock=LiveClock(),
            rng=random.Random(3),
            on_frame=self.on_frame,
            on_state=lambda up, _d: self.states.append(up),
            backoff=RetryPolicy(base_delay_s=0.01, max_delay_s=0.05),
        )

    def on_frame(self, frame: dict[str, Any], verdict: Verdict, local_ns: int) -> None:
        self.verdicts.append(verdict)
        if verdict is Verdict.GAP:
            self.book.invalidate()
            return
        ev = parse.book_event(
            frame,
            self.q,
            snapshot=verdict is Verdict.FIRST,
            local_ns=local_ns,
            prev_sequence=self.book.sequence,
        )
        if isinstance(ev, BookSnapshot):
            self.book.apply_snapshot(ev)
        else:
            assert self.book.apply_delta(ev).value == "applied"

    def snapshots(self) -> int:
        return self.verdicts.count(Verdict.FIRST)


@contextlib.asynccontextmanager
async def running(server: FakeGrvtServer) -> AsyncIterator[BookClient]:
    client = BookClient(server.ws_url)
    await client.stream.subscribe("v1.book.d", "BNB_USDT_Perp@50")
    task = asyncio.get_running_loop().create_task(client.stream.run())
    try:
        yield client
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def same_top(client: BookClient, server: FakeGrvtServer) -> bool:
    theirs = server.exchange.matching.book
    return client.book.valid and (client.book.best_bid, client.book.best_ask) == (
        theirs.best_bid,
        theirs.best_ask,
    )


pytestmark = pytest.mark.anyio


async def test_snapshot_then_deltas_track_the_exchange_book() -> None:
    with anyio.fail_after(10):
        async with FakeGrvtServer(INST, params=FAST) as server, running(server) as client:
            await eventually(lambda: client.verdicts.count(Verdict.NEXT) >= 20)
            assert client.verdicts[0] is Verdict.FIRST
            assert client.snapshots() == 1
            await eventually(lambda: same_top(client, server))


async def test_sequence_gap_resubscribes_and_recovers() -> None:
    with anyio.fail_after(10):
        async with FakeGrvtServer(INST, params=FAST) as server, running(server) as client:
            await eventually(lambda: client.verdicts.count(Verdict.NEXT) >= 5)
            server.exchange.faults.gap_next_book = 1
            await eventually(lambda: client.stream.stats.gaps == 1)
            await eventually(lambda: client.snapshots() == 2)
            assert client.stream.stats.resubscribes == 1
            await eventually(lambda: client.verdicts[-1] is Verdict.NEXT)
            await eventually(lambda: same_top(client, server))
            assert client.stream.stats.gaps == 1


async def test_duplicates_are_dropped_without_resubscribing() -> None:
    with anyio.fail_after(10):
        async with FakeGrvtServer(INST, params=FAST) as server, running(server) as client:
            await eventually(lambda: client.verdicts.count(Verdict.NEXT) >= 5)
            server.exchange.faults.duplicate_next_book = 3
            await eventually(lambda: client.stream.stats.duplicates == 3)
            await eventually(lambda: client.verdicts.count(Verdict.NEXT) >= 15)
            assert client.stream.stats.gaps == 0
            assert client.snapshots() == 1
            await eventually(lambda: same_top(client, server))


async def test_dropped_connection_reconnects_and_resubscribes() -> None:
    with anyio.fail_after(10):
        async with FakeGrvtServer(INST, params=FAST) as server, running(server) as client:
            await eventually(lambda: client.snapshots() == 1 and len(client.verdicts) > 3)
            await server.drop_streams()
            await eventually(lambda: client.snapshots() == 2)
            assert client.states[:3] == [True, False, True]
            assert client.stream.stats.connects == 2
            await eventually(lambda: same_top(client, server))
