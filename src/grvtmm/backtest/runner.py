"""Backtest runner: recorded market data → the live engine and strategy against the simulated
exchange on one simulated timeline → the shared session summary.

Timeline: the engine is started at the first market event and stopped at the end of the data.
Timers (decisions, breaker checks) fire every interval after the first event, like
hftbacktest's `elapse` loop, so a fixed-step strategy decides at the same instants as it would
there. The headline figures are taken at the end of the data, before the stop's flatten, marked
to the engine's mid (hftbacktest's reference numbers do not flatten either); what the flatten
cost is reported separately under `end_flatten`.

Every figure is deterministic for given inputs and seed; only `loop_seconds`,
`events_per_second` (market events after grouping, e.g. one depth message) and
`rows_per_second` (input rows or lines, hftbacktest's unit) depend on the machine. The
simulation itself draws no random numbers; the seed is recorded with the settings.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from grvtmm.backtest.data import (
    CSV_MODE_LIMITS,
    DataFormatError,
    LoadOptions,
    LoadStats,
    detect_format,
    load_events,
)
from grvtmm.backtest.data_hbt import (
    DEPTH_CLEAR_EVENT,
    iter_chunks,
    load_hbt_columns,
    open_member,
)
from grvtmm.backtest.feed import CoalescedFeed
from grvtmm.backtest.loop import ReplayLoop
from grvtmm.core.clock import NS_PER_MS, NS_PER_S, SimClock, perf_ns
from grvtmm.core.events import EngineMode, Event, StartRequested, StopRequested, Timer
from grvtmm.core.types import FeeSchedule, Instrument
from grvtmm.engine.engine import Engine
from grvtmm.monitor.summary import SessionStats, wear_bps
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.sim.columnar import MarketRows
from grvtmm.venues.sim.exchange import SimExchange
from grvtmm.venues.sim.matching import LogProbQueue, PowerProbQueue, QueueModel, RiskAverseQueue

DEFAULT_TIMER_MS = 100
FLATTEN_GRACE_NS = 30 * NS_PER_S
PROGRESS_EVERY = 1 << 13
MAX_DECIMALS = 9
_SAMPLE_ROWS = 1 << 16
GC_YOUNG_THRESHOLD = 10_000
_DONE_MODES = (EngineMode.STOPPED, EngineMode.HALTED)

EventSink = Callable[[Event], None]
Progress = Callable[[int, int], None]
"""Called now and then with (input rows or lines read so far, simulated time in ns)."""


class BacktestError(ValueError):
    """The backtest cannot run as asked (settings that do not fit the data)."""


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    """One backtest: data, strategy, venue model. Fees are rates (negative = rebate)."""

    paths: tuple[Path, ...]
    strategy: StrategyConfig
    fmt: str = "auto"
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None
    queue: str = "risk-averse"
    latency_ms: float = 25.0
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal(0)
    feed_interval_ms: float = 0.0
    seed: int = 0
    initial_equity: float = 1000.0
    flatten_at_end: bool = True
    load: LoadOptions = field(default_factory=LoadOptions)
    timer_ms: float | None = None
    """Timer (decision) interval; None: the strategy's step, else 100 ms."""
    stale_data_s: float | None = None
    """Stale-data breaker; None: the engine's default (10 s)."""
    coalesce_at_load: bool = True
    """For columnar data (.npz): replay it in compiled chunks and build the engine's feed while
    loading (faster) rather than event by event; the results are the same either way."""

    @property
    def latency_ns(self) -> int:
        """Order entry latency, also the response latency (constant, as in the reference)."""
        return round(self.latency_ms * NS_PER_MS)

    @property
    def feed_interval_ns(self) -> int:
        return round(self.feed_interval_ms * NS_PER_MS)

    @property
    def timer_interval_ns(self) -> int:
        """`timer_ms`, else the strategy's own decision step, else 100 ms."""
        if self.timer_ms is not None:
            return round(self.timer_ms * NS_PER_MS)
        if self.strategy.strategy == "fixed-spread":
            return self.strategy.step_ms * NS_PER_MS
        return DEFAULT_TIMER_MS * NS_PER_MS

    @property
    def fees(self) -> FeeSchedule:
        return FeeSchedule(maker_rate=self.maker_fee, taker_rate=self.taker_fee)

    def as_dict(self, instrument: Instrument, fmt: str) -> dict[str, Any]:
        """The run's settings for the JSON summary (paths as given)."""
        return {
            "mode": "backtest",
            "paths": [str(p) for p in self.paths],
            "format": fmt,
            "symbol": instrument.symbol,
            "tick_size": str(instrument.tick_size),
            "lot_size": str(instrument.size_step),
            "queue": self.queue,
            "latency_ms": self.latency_ms,
            "maker_fee": str(self.maker_fee),
            "taker_fee": str(self.taker_fee),
            "feed_interval_ms": self.feed_interval_ms,
            "timer_interval_ms": self.timer_interval_ns / NS_PER_MS,
            "stale_data_s": self.stale_data_s,
            "seed": self.seed,
            "initial_equity": self.initial_equity,
            "flatten_at_end": self.flatten_at_end,
            "strategy": self.strategy.model_dump(),
        }


class RunLike(Protocol):
    """What the runner needs from a wired simulated run (see `grvtmm.app.build_sim_run`)."""

    engine: Engine
    exchange: SimExchange
    loop: ReplayLoop
    stats: SessionStats
    clock: SimClock


RunBuilder = Callable[[Instrument, StrategyConfig, BacktestSettings, int, EventSink], RunLike]
"""(instrument, strategy config, settings, start ns, extra event observer) → a wired run."""


class Recorder(Protocol):
    """Receives the run's notices and a periodic sample of the market and the account."""

    def on_event(self, event: Event) -> None: ...

    def due_ns(self) -> int: ...

    def sample(self, ts_ns: int, run: RunLike) -> None: ...


def parse_queue(spec: str, instrument: Instrument) -> QueueModel:
    """`risk-averse`, `power-prob:N` (N > 0) or `log-prob` → a queue position model."""
    name, _, arg = spec.strip().lower().partition(":")
    if name == "risk-averse" and not arg:
        return RiskAverseQueue()
    if name == "log-prob" and not arg:
        return LogProbQueue(instrument.step_f)
    if name == "power-prob":
        try:
            n = float(arg or "nan")
        except ValueError:
            n = math.nan
        if math.isfinite(n) and n > 0:
            return PowerProbQueue(n)
        raise BacktestError(
            f"queue {spec!r}: power-prob needs a positive exponent, e.g. power-prob:3"
        )
    raise BacktestError(f"queue {spec!r}: expected risk-averse, power-prob:N or log-prob")


def resolve_format(paths: tuple[Path, ...], fmt: str) -> str:
    """The data format: `fmt`, or the detected one when `fmt` is auto (files must agree)."""
    if not paths:
        raise BacktestError("no data files given")
    for p in paths:
        if not p.is_file():
            raise BacktestError(f"data file not found: {p}")
    if fmt != "auto":
        return fmt
    found = {detect_format(p) for p in paths}
    if len(found) != 1:
        raise DataFormatError(paths[0], None, "files of one format", got=str(sorted(found)))
    return found.pop()


def _decimals(values: np.ndarray[Any, Any]) -> int | None:
    """Fewest decimal places that represent every value (None if more than MAX_DECIMALS)."""
    for d in range(MAX_DECIMALS + 1):
        scaled = values * 10.0**d
        if np.all(np.abs(scaled - np.rint(scaled)) < 1e-6):
            return d
    return None


def infer_npz_grid(path: Path) -> tuple[Decimal, Decimal]:
    """(tick, lot) of an hftbacktest .npz: the finest decimal units of its prices and sizes."""
    for _, rows in iter_chunks(path, _SAMPLE_ROWS):
        kind = rows["ev"] & 0xFF
        use = (kind != DEPTH_CLEAR_EVENT) & (kind < 100) & (rows["px"] > 0)
        px_d = _decimals(rows["px"][use])
        qty_d = _decimals(rows["qty"][use & (rows["qty"] > 0)])
        if px_d is None or qty_d is None:
            break
        return Decimal(1).scaleb(-px_d), Decimal(1).scaleb(-qty_d)
    raise BacktestError(f"cannot infer tick and lot sizes from {path}; pass --tick-size/--lot-size")


def backtest_instrument(settings: BacktestSettings, fmt: str) -> tuple[Instrument, bool]:
    """The traded instrument (minimum size one lot, no minimum notional) and whether its grid
    was inferred from the data."""
    tick, lot = settings.tick_size, settings.lot_size
    inferred = False
    if tick is None or lot is None:
        if fmt != "hbt-npz":
            raise BacktestError(
                f"--tick-size and --lot-size are needed for {fmt} data (only hftbacktest .npz "
                "files carry enough to infer them)"
            )
        tick_i, lot_i = infer_npz_grid(settings.paths[0])
        tick, lot = tick or tick_i, lot or lot_i
        inferred = True
    if tick <= 0 or lot <= 0:
        raise BacktestError("tick and lot sizes must be positive")
    instrument = Instrument(settings.strategy.symbol, tick, lot, lot)
    return instrument, inferred


def total_rows(paths: tuple[Path, ...], fmt: str) -> int | None:
    """Input rows the progress bar counts towards (known up front for .npz only)."""
    if fmt != "hbt-npz":
        return None
    total = 0
    for p in paths:
        zf, fh, _, count = open_member(p)
        fh.close()
        zf.close()
        total += count
    return total


def _watch(
    events: Iterator[Event],
    run: RunLike,
    load_stats: LoadStats,
    progress: Progress | None,
    recorder: Recorder | None,
) -> Iterator[Event]:
    """Pass the market through, reporting progress and sampling the run as simulated time
    passes (only used when someone is watching; the plain stream is faster)."""
    due = recorder.due_ns() if recorder is not None else 1 << 62
    for n, event in enumerate(events, 1):
        ts = event.ts_ns
        if ts >= due and recorder is not None:
            recorder.sample(ts, run)
            due = recorder.due_ns()
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress(load_stats.lines, ts)
        yield event
    if progress is not None:
        progress(load_stats.lines, run.clock.now_ns())


@contextlib.contextmanager
def relaxed_gc(young: int = GC_YOUNG_THRESHOLD) -> Iterator[None]:
    """Raise the collector's youngest-generation threshold while a replay runs.

    A replay allocates hundreds of thousands of short-lived, acyclic objects (events, level
    tuples); at the default threshold (700 allocations) the collector scans them thousands of
    times for nothing. Cycles are still collected, only less often; the previous thresholds are
    restored afterwards.
    """
    before = gc.get_threshold()
    if young > before[0]:
        gc.set_threshold(young, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def run_backtest(
    settings: BacktestSettings,
    build: RunBuilder,
    *,
    progress: Progress | None = None,
    recorder: Recorder | None = None,
) -> dict[str, Any]:
    """Replay the data through the engine; returns the summary (figures at the end of data)."""
    fmt = resolve_format(settings.paths, settings.fmt)
    instrument, inferred = backtest_instrument(settings, fmt)
    if fmt == "hbt-npz" and settings.coalesce_at_load:
        return _run_columnar(settings, build, instrument, inferred, progress, recorder)
    load_stats = LoadStats()
    events = load_events(settings.paths, fmt, instrument, options=settings.load, stats=load_stats)
    first = next(events, None)
    if first is None:
        raise BacktestError(f"no market events in {', '.join(map(str, settings.paths))}")
    head: tuple[Event, ...] = (first,)
    if fmt == "csv":
        second = next(events, None)
        head = (first,) if second is None else (first, second)
        settings = coarse_settings(
            settings, (second.ts_ns if second else first.ts_ns) - first.ts_ns
        )
    start = first.ts_ns
    observe = recorder.on_event if recorder is not None else _ignore
    run = build(instrument, settings.strategy, settings, start, observe)
    run.loop.schedule(StartRequested(ts_ns=start, local_ns=start, reason="backtest start"))
    stream: Iterator[Event] = itertools.chain(head, events)
    if progress is not None or recorder is not None:
        stream = _watch(stream, run, load_stats, progress, recorder)
    began = perf_ns()
    with relaxed_gc():
        run.loop.run(stream)
    return _finish(run, settings, instrument, fmt, inferred, load_stats, began, recorder)


def _run_columnar(
    settings: BacktestSettings,
    build: RunBuilder,
    instrument: Instrument,
    inferred: bool,
    progress: Progress | None,
    recorder: Recorder | None,
) -> dict[str, Any]:
    """`run_backtest` for an .npz: the exchange applies the rows in compiled chunks and the
    engine's feed (coalesced to the feed interval, if any) is built while loading (the same
    results as the event-by-event replay)."""
    load_stats = LoadStats()
    feed = CoalescedFeed(settings.feed_interval_ns, hold_deltas=True, symbol=instrument.symbol)
    chunks = load_hbt_columns(settings.paths, instrument, settings.load, load_stats, feed)
    first = next(chunks, None)
    while first is not None and not len(first):
        first = next(chunks, None)
    if first is None:
        raise BacktestError(f"no market events in {', '.join(map(str, settings.paths))}")
    start = int(first.ts_ns[0])
    observe = recorder.on_event if recorder is not None else _ignore
    run = build(instrument, settings.strategy, settings, start, observe)
    loop_settings = run.loop.settings
    if (
        loop_settings.feed_interval_ns != settings.feed_interval_ns
        or not loop_settings.deltas_wait_for_snapshot
    ):
        raise BacktestError(
            "the run's replay loop must coalesce on the backtest's feed interval and hold "
            "deltas for their snapshot (as build_backtest_run does), or set "
            "coalesce_at_load=False"
        )
    run.loop.schedule(StartRequested(ts_ns=start, local_ns=start, reason="backtest start"))
    stream: Iterator[MarketRows] = itertools.chain((first,), chunks)
    if progress is not None:
        stream = _progress_rows(stream, run, load_stats, progress)
    sample: Callable[[int], int] | None = None
    if recorder is not None:
        watching = recorder

        def sample(ts_ns: int) -> int:
            watching.sample(ts_ns, run)
            return watching.due_ns()

    began = perf_ns()
    with relaxed_gc():
        run.loop.run(columns=stream, feed=feed.queue, sample=sample)
    return _finish(run, settings, instrument, "hbt-npz", inferred, load_stats, began, recorder)


def _progress_rows(
    chunks: Iterator[MarketRows], run: RunLike, load_stats: LoadStats, progress: Progress
) -> Iterator[MarketRows]:
    """Report progress once per chunk of rows (a chunk covers well under a second of a busy
    market)."""
    for rows in chunks:
        if len(rows):
            progress(load_stats.lines, int(rows.ts_ns[0]))
        yield rows
    progress(load_stats.lines, run.clock.now_ns())


def _finish(
    run: RunLike,
    settings: BacktestSettings,
    instrument: Instrument,
    fmt: str,
    inferred: bool,
    load_stats: LoadStats,
    began: int,
    recorder: Recorder | None,
) -> dict[str, Any]:
    loop_seconds = (perf_ns() - began) / NS_PER_S
    end_ns = run.clock.now_ns()
    if recorder is not None:
        recorder.sample(end_ns, run)
    summary = run.stats.summary(run.engine.mark_ticks())
    summary.update(_run_facts(run, run.loop.stats.first_ns, end_ns, loop_seconds))
    summary["rows_per_second"] = load_stats.lines / loop_seconds if loop_seconds > 0 else 0.0
    summary["data"] = _data_facts(load_stats, fmt, inferred)
    if fmt == "csv":
        summary["limits"] = CSV_MODE_LIMITS
    if settings.flatten_at_end:
        summary["end_flatten"] = _stop_and_flatten(run, summary)
    summary["settings"] = settings.as_dict(instrument, fmt)
    return summary


def coarse_settings(settings: BacktestSettings, row_ns: int) -> BacktestSettings:
    """CSV rows are minutes apart: decide once per row (not 600 idle timers per minute) and
    let the stale-data breaker wait ten rows, unless the settings say otherwise."""
    row_ms = max(row_ns, 0) / NS_PER_MS
    timer_ms = settings.timer_ms
    if timer_ms is None:
        timer_ms = max(settings.timer_interval_ns / NS_PER_MS, row_ms)
    stale_s = settings.stale_data_s
    if stale_s is None:
        stale_s = max(10.0, 10 * row_ms / 1_000)
    return replace(settings, timer_ms=timer_ms, stale_data_s=stale_s)


def _ignore(event: Event) -> None:
    """An observer that keeps nothing."""


def _run_facts(run: RunLike, start_ns: int, end_ns: int, loop_seconds: float) -> dict[str, Any]:
    events = run.loop.stats.market_events
    return {
        "events": events,
        "engine_events": run.loop.stats.engine_events,
        "commands": run.loop.stats.commands,
        "loop_seconds": loop_seconds,
        "events_per_second": events / loop_seconds if loop_seconds > 0 else 0.0,
        "start_ns": start_ns,
        "end_ns": end_ns,
        "sim_seconds": (end_ns - start_ns) / NS_PER_S,
        "final_mode": run.engine.mode.value,
    }


def _data_facts(stats: LoadStats, fmt: str, inferred: bool) -> dict[str, Any]:
    return {
        "format": fmt,
        "rows": stats.lines,
        "snapshots": stats.snapshots,
        "deltas": stats.deltas,
        "trades": stats.trades,
        "tickers": stats.tickers,
        "gaps": stats.gaps,
        "skipped": stats.skipped,
        "local_offset_ns": stats.local_offset_ns,
        "grid_inferred": inferred,
    }


def _stop_and_flatten(run: RunLike, before: dict[str, Any]) -> dict[str, Any]:
    """Stop the engine on the last book (cancel all, reduce-only closes) and report the cost.

    No market data follows; a last timer at the end of the grace period keeps the loop's
    timers (which drive the flatten's retries) running until then.
    """
    engine = run.engine
    if engine.mode not in _DONE_MODES:
        now = run.clock.now_ns() + 1
        until = now + FLATTEN_GRACE_NS
        run.loop.schedule(StopRequested(ts_ns=now, local_ns=now, reason="end of data"))
        run.loop.schedule(Timer(ts_ns=until, local_ns=until))
        run.loop.run(until_ns=until, stop_when=lambda: engine.mode in _DONE_MODES)
    after = run.stats.summary(engine.mark_ticks())
    fills = after["fills"] - before["fills"]
    volume = after["volume_notional"] - before["volume_notional"]
    return {
        "fills": fills,
        "taker_fills": after["taker_fills"] - before["taker_fills"],
        "volume_notional": volume,
        "fees": after["fees"] - before["fees"],
        "pnl_net_change": after["pnl_net"] - before["pnl_net"],
        "pnl_net": after["pnl_net"],
        "wear_bps": wear_bps(after["pnl_net"], after["volume_notional"]),
        "end_position": after["end_position"],
        "final_mode": engine.mode.value,
    }
