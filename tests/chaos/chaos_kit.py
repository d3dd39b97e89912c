"""The chaos harness: the real node (engine + GrvtVenue + StoreWriter on a temp SQLite file)
against the fake GRVT server, with the measurements every scenario reports — fills the fake
made that the engine or the store never saw, orders resting on the fake that the engine does
not know, and the time from a fault to recovery."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from fakes import eventually
from fakes.grvt_helpers import FAST, INST, QUICK, Recorder, grvt_config, mode, quoting_both_sides
from fakes.grvt_server import FakeGrvtServer
from grvtmm.core.clock import NS_PER_S, LiveClock, perf_ns
from grvtmm.core.events import (
    EngineMode,
    EngineWarning,
    OrderFilled,
    StartRequested,
    StopRequested,
)
from grvtmm.core.sinks import Sink
from grvtmm.engine.engine import Engine, EngineSettings
from grvtmm.node import Node
from grvtmm.store.repository import Store
from grvtmm.store.writer import StoreWriter, WriterSettings
from grvtmm.strategy.factory import build_strategy
from grvtmm.venues.grvt.venue import GrvtVenue

RUNNING_OR_STOPPED = (EngineMode.RUNNING, EngineMode.STOPPED, EngineMode.HALTED)


@dataclass
class Row:
    """One scenario's line in the reliability table."""

    id: str
    fault: str
    criterion: str
    outcome: str = "not run"
    lost_fills: int | None = None
    orphan_orders: int | None = None
    recover_s: float | None = None
    fills: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fault": self.fault,
            "criterion": self.criterion,
            "outcome": self.outcome,
            "lost_fills": self.lost_fills,
            "orphan_orders": self.orphan_orders,
            "recover_s": None if self.recover_s is None else round(self.recover_s, 3),
            "fills": self.fills,
            "notes": self.notes,
        }


class Stopwatch:
    """Seconds since `start()` on the monotonic performance counter."""

    def __init__(self) -> None:
        self._t0 = perf_ns()

    def start(self) -> None:
        self._t0 = perf_ns()

    def elapsed_s(self) -> float:
        return (perf_ns() - self._t0) / NS_PER_S


class Rig:
    """A running node against a fake GRVT server, with the measurements."""

    def __init__(
        self,
        server: FakeGrvtServer,
        node: Node,
        venue: GrvtVenue,
        recorder: Recorder,
        writer: StoreWriter | None,
        db_path: Path | None,
    ) -> None:
        self.server = server
        self.node = node
        self.venue = venue
        self.recorder = recorder
        self.writer = writer
        self.db_path = db_path
        self.watch = Stopwatch()
        self.fills_before = len(server.exchange.fills)
        """Fills the fake made before this node existed (not the node's to see)."""

    @property
    def exchange(self) -> Any:
        return self.server.exchange

    # ---- control --------------------------------------------------------------------------
    async def start(self, timeout_s: float = 10.0) -> None:
        now = self.node.clock.now_ns()
        await self.node.submit(StartRequested(ts_ns=now, local_ns=now, reason="chaos"))
        await eventually(lambda: quoting_both_sides(self.node), timeout_s)

    async def stop(self, timeout_s: float = 15.0) -> None:
        """Stop (cancel all, flatten) and wait for a final mode and an empty book on the fake."""
        now = self.node.clock.now_ns()
        if mode(self.node) not in (EngineMode.STOPPED, EngineMode.HALTED, EngineMode.IDLE):
            await self.node.submit(StopRequested(ts_ns=now, local_ns=now, reason="chaos end"))
        await eventually(
            lambda: mode(self.node) in (EngineMode.STOPPED, EngineMode.HALTED), timeout_s
        )
        await eventually(lambda: not self.fake_open(), timeout_s)

    async def recover(self, predicate: Callable[[], bool], timeout_s: float) -> float:
        """Wait for `predicate`; seconds since the fault (`watch.start()`)."""
        await eventually(predicate, timeout_s)
        return self.watch.elapsed_s()

    async def fills_happen(self, count: int = 1, timeout_s: float = 15.0) -> None:
        before = len(self.exchange.fills)
        await eventually(lambda: len(self.exchange.fills) >= before + count, timeout_s)

    # ---- measurements ---------------------------------------------------------------------
    def fake_trade_ids(self) -> list[str]:
        return [f["trade_id"] for f in self.exchange.fills[self.fills_before :]]

    def engine_trade_ids(self) -> list[str]:
        return [f.trade_id for f in self.recorder.of(OrderFilled)]

    def store_trade_ids(self) -> list[str]:
        if self.db_path is None:
            return []
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=5.0)) as db:
            return [r[0] for r in db.execute("SELECT trade_id FROM fills")]

    def fake_open(self) -> set[int]:
        return {int(o["metadata"]["client_order_id"]) for o in self.exchange.open_orders()}

    def engine_live(self) -> set[int]:
        return {o.client_order_id for o in self.node.engine.orders.live()}

    def orphans_now(self) -> set[int]:
        """Orders resting on the fake that the engine does not track."""
        return self.fake_open() - self.engine_live()

    async def settle_orphans(self, timeout_s: float = 8.0) -> int:
        """Orders resting on the fake unknown to the engine once things had `timeout_s` to
        settle (orders in flight are known to the engine before they rest, so 0 is exact)."""
        with contextlib.suppress(TimeoutError):
            await eventually(lambda: not self.orphans_now(), timeout_s)
        return len(self.orphans_now())

    async def lost_fills(self, timeout_s: float = 8.0) -> int:
        """Fills the fake made that the engine (and the store, when there is one) never got,
        after waiting up to `timeout_s` for stragglers; duplicates count as lost integrity too
        and are reported separately by `duplicate_fills`."""

        def missing() -> set[str]:
            fake = set(self.fake_trade_ids())
            seen = set(self.engine_trade_ids())
            if self.writer is not None:
                self.writer.flush(0.0)
                seen &= set(self.store_trade_ids())
            return fake - seen

        if self.writer is not None:
            await asyncio.to_thread(self.writer.flush, timeout_s)
        with contextlib.suppress(TimeoutError):
            await eventually(lambda: not missing(), timeout_s)
        return len(missing())

    async def position_agrees(self, timeout_s: float = 5.0) -> bool:
        """Whether the engine's position equals the exchange's at some moment within
        `timeout_s` (both move with every fill, so they are compared until they meet)."""

        def same() -> bool:
            return bool(self.node.engine.position_lots == self.exchange.matching.position_lots)

        with contextlib.suppress(TimeoutError):
            await eventually(same, timeout_s)
        return same()

    def duplicate_fills(self) -> int:
        engine = self.engine_trade_ids()
        stored = self.store_trade_ids()
        return (len(engine) - len(set(engine))) + (len(stored) - len(set(stored)))

    async def finish(self, row: Row, *, stop: bool = True) -> None:
        """Stop, then fill the row's lost fills, orphans and fill count (and whether the
        engine's position agreed with the exchange's before the stop)."""
        if stop:
            agrees = await self.position_agrees()
            row.notes.setdefault("position_agrees", agrees)
            assert agrees, "the engine's position never met the exchange's"
            await self.stop()
        row.orphan_orders = len(self.fake_open()) if stop else await self.settle_orphans()
        row.lost_fills = await self.lost_fills()
        row.fills = len(self.exchange.fills) - self.fills_before
        row.notes.setdefault("duplicate_fills", self.duplicate_fills())
        row.notes.setdefault("final_mode", mode(self.node).value)
        warnings = Counter(w.code for w in self.recorder.of(EngineWarning))
        if warnings:
            row.notes.setdefault("engine_warnings", dict(sorted(warnings.items())))


@contextlib.asynccontextmanager
async def rig(
    tmp_path: Path,
    *,
    settings: EngineSettings | None = None,
    store: bool = True,
    busy_timeout_ms: int = 5_000,
    writer_settings: WriterSettings | None = None,
    on_store_failure: Callable[[str], None] | None = None,
    extra_sinks: Sequence[Sink] = (),
    server: FakeGrvtServer | None = None,
    **venue_overrides: Any,
) -> AsyncIterator[Rig]:
    """Fake server (unless given) + GrvtVenue + engine + node (+ store writer) on loopback."""
    async with contextlib.AsyncExitStack() as stack:
        if server is None:
            server = await stack.enter_async_context(FakeGrvtServer(INST, params=FAST))
        clock = LiveClock()
        budget = {"order_rate_per_s": 50.0, "order_burst": 20.0}
        venue = GrvtVenue(grvt_config(server, **{**budget, **venue_overrides}), INST.symbol, clock)
        inst = await venue.prepare()
        fees = venue.fees
        engine = Engine(
            instrument=inst,
            config=QUICK,
            strategy_factory=lambda cfg: build_strategy(cfg, inst, fees),
            fees=fees,
            settings=settings or EngineSettings(),
            start_ns=clock.now_ns(),
        )
        recorder = Recorder()
        writer: StoreWriter | None = None
        db_path: Path | None = None
        sinks: list[Sink] = [recorder]
        if store:
            db_path = tmp_path / "chaos.sqlite"
            repo = Store(f"sqlite:///{db_path}", busy_timeout_ms=busy_timeout_ms)
            stack.callback(repo.close)
            writer = StoreWriter(
                repo, inst, mode="live", settings=writer_settings, on_failure=on_store_failure
            )
            stack.callback(writer.close, 10.0)
            sinks.append(writer)
        sinks.extend(extra_sinks)
        node = Node(engine, venue, clock, sinks=sinks, timer_interval_ns=50_000_000)
        task = asyncio.get_running_loop().create_task(node.run())
        try:
            yield Rig(server, node, venue, recorder, writer, db_path)
        finally:
            await node.close()
            with anyio.fail_after(10):
                await task
