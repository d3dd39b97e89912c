"""Soak: the server's demo composition at max speed for many hours of market time.

The process builds exactly what `grvt-mm serve --mode demo` builds (`Server.setup`: synthetic
market → SimVenue → Node → Engine, with the StoreWriter on a real SQLite file, the Monitor, the
live-stream hub and the Telegram alerts as sinks), starts the alerts and an open dashboard's
per-second stream tick (status + summary, JSON-encoded) as the server does, and runs it all on
an asyncio event loop whose clock is the simulated clock: whenever every task is waiting, the loop jumps to the next
timer instead of sleeping, so a day of market time passes as fast as the CPU allows while every
`asyncio.sleep`, timeout and pacing delay keeps its market-time meaning. The HTTP server itself
is not started (no client would talk to it). Simulated time also waits (in real time) while the
store writer is more than `MAX_WRITER_BACKLOG` items behind: at 1× the writer idles most of the
time, and without the hold the soak would only measure the writer's queue dropping rows.

Every simulated hour it samples the process's resident memory (VmRSS), open file descriptors,
asyncio tasks and threads. At the end it stops the engine (flatten), closes everything the way
the server does, samples once more, and writes a JSON report: the curve, the run's figures and
the database path. Each fill the node published is appended to a JSON-lines log next to the
database, so a checker can compare the database with what actually happened.

    .venv/bin/python bench/soak.py --hours 24 --json soak.json [--data-dir DIR] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import selectors
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from grvtmm.api.deps import Services
from grvtmm.api.routes.system import status_body
from grvtmm.app import DEMO_START_NS
from grvtmm.core.clock import NS_PER_S, SimClock
from grvtmm.core.events import EngineMode, OrderFilled, StartRequested, StopRequested
from grvtmm.core.sinks import Published
from grvtmm.core.types import Instrument
from grvtmm.monitor.metrics import Monitor
from grvtmm.serve import Server
from grvtmm.settings import Settings, TelegramSettings

HOUR_S = 3600
STOP_BOUND_S = 300
_POLL_EVERY = 64
_HOLD_WAIT_S = 0.001
MAX_WRITER_BACKLOG = 2_000
"""Simulated time waits while the writer is further behind (its queue drops beyond 10,000)."""
_DONE = frozenset({EngineMode.IDLE, EngineMode.STOPPED, EngineMode.HALTED})


# ---- an event loop on simulated time ----------------------------------------------------------
class _SimSelector(selectors.BaseSelector):
    """Polls the real selector without blocking; a wait with a timeout advances the clock.

    `hold` (optional) returning True keeps the clock where it is and waits in real time, a
    millisecond at a time: the soak uses it so that simulated time never outruns the store
    writer's thread by more than a bounded backlog.
    """

    def __init__(self, clock: SimClock) -> None:
        self._real = selectors.DefaultSelector()
        self._clock = clock
        self._polls = 0
        self.hold: Callable[[], bool] | None = None
        self.held_s = 0.0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            return self._real.select(None)  # nothing scheduled: wait for real I/O (threads)
        # Poll the real selector only now and then: the loop's only file is its self-pipe, and
        # a thread's call_soon_threadsafe lands in the ready queue by itself (the pipe merely
        # wakes a sleeping loop), so a skipped poll delays nothing that is already due.
        self._polls += 1
        if self._polls % _POLL_EVERY == 0:
            ready = self._real.select(0)
            if ready:
                return ready
        if timeout <= 0:
            return []
        hold = self.hold
        if hold is not None and hold():
            t0 = time.perf_counter()
            ready = []
            while hold() and not ready:
                ready = self._real.select(_HOLD_WAIT_S)
            self.held_s += time.perf_counter() - t0
            if ready:
                return ready
        self._clock.advance(math.ceil(timeout * NS_PER_S))
        return []

    def close(self) -> None:
        self._real.close()

    def get_map(self) -> Any:
        return self._real.get_map()


class SimTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose `time()` is `clock` (seconds since `origin_ns`)."""

    def __init__(self, clock: SimClock) -> None:
        self._sim_clock = clock
        self._origin_ns = clock.now_ns()
        self.sim_selector = _SimSelector(clock)
        super().__init__(self.sim_selector)

    def time(self) -> float:
        return (self._sim_clock.now_ns() - self._origin_ns) / NS_PER_S


# ---- measurement -----------------------------------------------------------------------------
def rss_mb() -> float:
    """Resident set size of this process (VmRSS) in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def open_fds() -> list[str]:
    """What each open descriptor points at: a file's name, or `socket:`, `pipe:`, `anon_inode:…`."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the descriptor listdir itself used, closed by now
        out.append(Path(target).name if target.startswith("/") else target.split("[")[0])
    return sorted(out)


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) each live thread has used so far, by thread name."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[thread.name] = round((int(fields[11]) + int(fields[12])) / tick, 2)
    return out


@dataclass(slots=True)
class Sample:
    """One reading of the process: `phase` is before (setup), running or closed."""

    phase: str
    hour: float
    rss_mb: float
    fds: list[str]
    tasks: int
    threads: list[str]
    wall_s: float
    fills: int
    writer_pending: int

    def row(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "hour": self.hour,
            "rss_mb": round(self.rss_mb, 2),
            "fds": len(self.fds),
            "fd_targets": self.fds,
            "tasks": self.tasks,
            "threads": self.threads,
            "wall_s": round(self.wall_s, 2),
            "fills": self.fills,
            "writer_pending": self.writer_pending,
        }


class FillLog:
    """Sink appending every fill the node publishes to a JSON-lines file (the run's record)."""

    name = "soak.fills"

    def __init__(self, path: Path, instrument: Instrument) -> None:
        self._file: IO[str] = path.open("w", encoding="utf-8")
        self._instrument = instrument
        self.fills = 0
        self.volume = Decimal(0)

    @property
    def dropped(self) -> int:
        return 0

    def publish(self, item: Published) -> None:
        if not isinstance(item, OrderFilled):
            return
        inst = self._instrument
        price = inst.ticks_to_price(item.price_ticks)
        size = inst.lots_to_size(item.size_lots)
        self.fills += 1
        self.volume += price * size
        row = {
            "trade_id": item.trade_id,
            "client_order_id": item.client_order_id,
            "side": "buy" if int(item.side) > 0 else "sell",
            "price": str(price),
            "size": str(size),
            "fee": str(item.fee),
            "ts_ns": item.ts_ns,
        }
        self._file.write(json.dumps(row) + "\n")

    def close(self) -> None:
        self._file.close()


class Soak:
    """One soak run: `await run()` on a `SimTimeLoop` built over `clock`."""

    def __init__(
        self,
        hours: float,
        data_dir: Path,
        seed: int,
        clock: SimClock,
        selector: _SimSelector,
        *,
        trace_top: int = 0,
    ) -> None:
        self.hours = hours
        self.data_dir = data_dir
        self.seed = seed
        self.clock = clock
        self.selector = selector
        self.trace_top = trace_top
        self.samples: list[Sample] = []
        self.report: dict[str, Any] = {}
        self.memory_growth: list[str] = []
        self.dashboard_bytes = 0
        self._wall0 = time.perf_counter()
        self._fills: FillLog | None = None
        self._pending: Callable[[], int] = lambda: 0

    def sample(self, phase: str, hour: float) -> None:
        s = Sample(
            phase=phase,
            hour=hour,
            rss_mb=rss_mb(),
            fds=open_fds(),
            tasks=len(asyncio.all_tasks()),
            threads=sorted(t.name for t in threading.enumerate()),
            wall_s=time.perf_counter() - self._wall0,
            fills=self._fills.fills if self._fills is not None else 0,
            writer_pending=self._pending(),
        )
        self.samples.append(s)
        print(json.dumps(s.row()), file=sys.stderr, flush=True)

    async def _dashboard(self, services: Services) -> None:
        """An open dashboard: every second, the live stream's tick message (status + summary)."""
        while True:
            await asyncio.sleep(1.0)
            tick = {"status": status_body(services), "summary": services.monitor.summary()}
            self.dashboard_bytes = len(json.dumps({"type": "tick", "data": tick}, default=str))

    async def run(self) -> None:
        clock = self.clock
        self.sample("before", 0)
        # explicit values win over GRVTMM_* variables: the soak's own SQLite file, no Telegram
        settings = Settings(
            data_dir=self.data_dir,
            mode="demo",
            demo_seed=self.seed,
            demo_speed=1.0,
            database_url=None,
            telegram=TelegramSettings(),
        )
        server = Server(settings, clock)
        await server.setup()
        node, writer, store = server.node, server.writer, server.store
        assert node is not None and writer is not None and store is not None
        monitor = next(s for s in node.sinks if isinstance(s, Monitor))
        fills = self._fills = FillLog(self.data_dir / "fills.jsonl", node.engine.instrument)
        node.add_sink(fills)
        self._pending = lambda: writer.pending
        self.selector.hold = lambda: writer.pending > MAX_WRITER_BACKLOG
        services = server.services
        assert services is not None
        start_ns = clock.now_ns()
        node_task = asyncio.create_task(node.run(), name="node")
        dashboard = asyncio.create_task(self._dashboard(services), name="soak.dashboard")
        if server.alerts is not None:
            server.alerts.start()
        await node.submit(StartRequested(ts_ns=start_ns, local_ns=start_ns, reason="soak start"))
        trace_from: tracemalloc.Snapshot | None = None
        for hour in range(1, math.floor(self.hours) + 1):
            await asyncio.sleep((start_ns + hour * HOUR_S * NS_PER_S - clock.now_ns()) / NS_PER_S)
            self.sample("running", hour)
            if self.trace_top and hour == 2:
                trace_from = tracemalloc.take_snapshot()
        rest_ns = start_ns + round(self.hours * HOUR_S * NS_PER_S) - clock.now_ns()
        if rest_ns > 0:
            await asyncio.sleep(rest_ns / NS_PER_S)
        if trace_from is not None:
            growth = tracemalloc.take_snapshot().compare_to(trace_from, "lineno")
            self.memory_growth = [str(stat) for stat in growth[: self.trace_top]]
        end_ns = clock.now_ns()
        # the server's shutdown: stop (flatten) within a bound, close the node, then the sinks
        await node.submit(StopRequested(ts_ns=end_ns, local_ns=end_ns, reason="soak end"))
        deadline = end_ns + STOP_BOUND_S * NS_PER_S
        while node.engine.mode not in _DONE and clock.now_ns() < deadline:
            await asyncio.sleep(0.05)
        final_mode = node.engine.mode.value
        position_lots = node.engine.position_lots
        cpu_by_thread = thread_cpu_s()
        summary = monitor.summary()
        dashboard.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dashboard
        await node.close()
        await node_task
        if server.alerts is not None:
            await server.alerts.close()
        if server.jobs is not None:
            server.jobs.close()
        self.selector.hold = None
        writer_clean = writer.close(60.0)
        store.close()
        fills.close()
        events, engine_errors = node.events_processed, node.engine_errors
        sink_dropped = {sink.name: sink.dropped for sink in node.sinks}
        del server, node, store
        gc.collect()
        self.sample("closed", self.hours)
        self.report = {
            "hours": self.hours,
            "seed": self.seed,
            "db": str(self.data_dir / "grvtmm.db"),
            "fills_log": str(self.data_dir / "fills.jsonl"),
            "final_mode": final_mode,
            "position_lots": position_lots,
            "start_ns": start_ns,
            "market_end_ns": end_ns,
            "end_ns": clock.now_ns(),
            "fills": fills.fills,
            "volume": str(fills.volume),
            "held_s": round(self.selector.held_s, 2),
            "dashboard_tick_bytes": self.dashboard_bytes,
            "cpu_by_thread_s": cpu_by_thread,
            "node": {
                "events": events,
                "engine_errors": engine_errors,
                "sink_dropped": sink_dropped,
            },
            "monitor": {
                "fills": monitor.totals.fills,
                "volume_notional": monitor.totals.volume_notional,
                "errors": monitor.errors,
                "session": summary,
            },
            "writer": {
                "clean_close": writer_clean,
                "written": writer.written,
                "failures": writer.failures,
                "poisoned": writer.poisoned,
                "dropped": writer.dropped,
                "dropped_by_type": dict(writer.dropped_by_type),
                "unsaved_fills": len(writer.unsaved_fills),
                "max_pending_fills": writer.max_pending_fills,
                "last_error": writer.last_error,
                "counts": writer.counts,
            },
        }


def markdown_table(report: dict[str, Any]) -> str:
    """The curve as a Markdown table: hour → RSS, descriptors, tasks, threads, wall time."""
    lines = [
        "| phase | hour | RSS MB | fds | asyncio tasks | threads | fills so far | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["curve"]:
        lines.append(
            f"| {r['phase']} | {r['hour']:g} | {r['rss_mb']:.1f} | {r['fds']} | {r['tasks']} "
            f"| {len(r['threads'])} | {r['fills']:,} | {r['wall_s']:.0f} |"
        )
    return "\n".join(lines)


def run_soak(hours: float, data_dir: Path, seed: int, *, trace_top: int = 0) -> dict[str, Any]:
    """Run the soak in a fresh simulated-time event loop; returns the report."""
    if trace_top:
        tracemalloc.start()
    clock = SimClock(DEMO_START_NS)
    loop = SimTimeLoop(clock)
    soak = Soak(hours, data_dir, seed, clock, loop.sim_selector, trace_top=trace_top)
    wall0 = time.perf_counter()
    try:
        loop.run_until_complete(soak.run())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    report = soak.report
    report["wall_s"] = round(time.perf_counter() - wall0, 2)
    report["cpu_s"] = round(time.process_time(), 2)
    report["curve"] = [s.row() for s in soak.samples]
    if trace_top:
        report["memory_growth"] = soak.memory_growth
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="market time to simulate")
    parser.add_argument("--json", type=Path, help="write the report here (default: stdout)")
    parser.add_argument("--data-dir", type=Path, help="database directory (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=7, help="synthetic market seed")
    parser.add_argument(
        "--trace-top",
        type=int,
        default=0,
        help="with tracemalloc (slow): report the N source lines whose memory grew most "
        "from hour 2 to the end",
    )
    parser.add_argument(
        "--table", type=Path, metavar="REPORT", help="print REPORT's curve as Markdown and exit"
    )
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table(json.loads(args.table.read_text(encoding="utf-8"))))
        return 0
    if args.hours < 2:
        parser.error("--hours must be at least 2 (hour 2 is the warmed-up reference)")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="grvtmm-soak-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    report = run_soak(args.hours, data_dir, args.seed, trace_top=args.trace_top)
    text = json.dumps(report, indent=2, default=str)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
