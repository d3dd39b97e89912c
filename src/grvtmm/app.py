"""Composition root: the only place where engine, venues, loops and sinks are wired together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from grvtmm.backtest.loop import LoopSettings, ReplayLoop
from grvtmm.backtest.runner import BacktestSettings, parse_queue
from grvtmm.core.clock import NS_PER_MS, NS_PER_S, SimClock, perf_ns, wait_ns
from grvtmm.core.commands import Command
from grvtmm.core.events import EngineMode, Event, StartRequested, StopRequested
from grvtmm.core.types import FeeSchedule, Instrument
from grvtmm.engine.engine import Engine, EngineSettings
from grvtmm.monitor.summary import SessionStats
from grvtmm.strategy.factory import build_strategy
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.sim.exchange import SimExchange
from grvtmm.venues.sim.matching import PowerProbQueue, QueueModel
from grvtmm.venues.sim.synthetic import SyntheticMarket, SyntheticParams, default_instrument

DEMO_START_NS = 1_767_225_600 * NS_PER_S  # 2026-01-01T00:00:00Z: a fixed origin for sim time
DEMO_FEES = FeeSchedule(maker_rate=Decimal("-0.0001"), taker_rate=Decimal("0.00045"))
FLATTEN_GRACE_NS = 300 * NS_PER_S


@dataclass(frozen=True, slots=True)
class SimRunSettings:
    """A simulated run: capital, latency, queue model and how the engine sees the feed."""

    initial_equity: float = 200.0
    entry_latency_ns: int = 25 * NS_PER_MS
    response_latency_ns: int = 25 * NS_PER_MS
    feed_interval_ns: int = 50 * NS_PER_MS
    timer_interval_ns: int = 100 * NS_PER_MS
    fees: FeeSchedule = DEMO_FEES
    queue: QueueModel = field(default_factory=lambda: PowerProbQueue(3.0))
    engine: EngineSettings = field(default_factory=EngineSettings)
    venue_instrument: Instrument | None = None
    """The venue's true constraints when they differ from what the engine was told."""
    timers_from_first_event: bool = False
    """Timers every interval after the first market event (backtests) or on its multiples."""
    deltas_wait_for_snapshot: bool = False
    """Book deltas reach the engine no earlier than the snapshot they follow (recorded data)."""


@dataclass(slots=True)
class SimRun:
    """An engine, a simulated exchange and a replay loop, wired with a session summary."""

    instrument: Instrument
    engine: Engine
    exchange: SimExchange
    loop: ReplayLoop
    stats: SessionStats
    clock: SimClock
    notices: list[Event]


def build_sim_run(
    instrument: Instrument,
    config: StrategyConfig,
    settings: SimRunSettings,
    start_ns: int,
    *,
    pace: Callable[[int], None] | None = None,
    keep_notices: bool = True,
    observe: Callable[[Event], None] | None = None,
) -> SimRun:
    clock = SimClock(start_ns)
    fees = settings.fees
    engine = Engine(
        instrument=instrument,
        config=config,
        strategy_factory=lambda cfg: build_strategy(cfg, instrument, fees),
        fees=fees,
        settings=settings.engine,
        start_ns=start_ns,
    )
    exchange = SimExchange(
        instrument,
        fees,
        queue=settings.queue,
        entry_latency_ns=settings.entry_latency_ns,
        response_latency_ns=settings.response_latency_ns,
        initial_equity=settings.initial_equity,
        leverage=config.effective_leverage,
        venue_instrument=settings.venue_instrument,
    )
    stats = SessionStats(instrument)
    notices: list[Event] = []

    def on_event(event: Event) -> None:
        stats.observe(event)
        if keep_notices:
            notices.append(event)
        if observe is not None:
            observe(event)

    def on_command(command: Command) -> None:
        stats.observe_command(command)

    loop = ReplayLoop(
        engine,
        exchange,
        clock,
        LoopSettings(
            timer_interval_ns=settings.timer_interval_ns,
            feed_interval_ns=settings.feed_interval_ns,
            timers_from_first_event=settings.timers_from_first_event,
            deltas_wait_for_snapshot=settings.deltas_wait_for_snapshot,
        ),
        on_event=on_event,
        on_command=on_command,
        pace=pace,
    )
    return SimRun(instrument, engine, exchange, loop, stats, clock, notices)


def build_backtest_run(
    instrument: Instrument,
    config: StrategyConfig,
    backtest: BacktestSettings,
    start_ns: int,
    observe: Callable[[Event], None],
) -> SimRun:
    """A simulated run for `grvtmm.backtest.runner.run_backtest` (the backtest's venue model)."""
    settings = SimRunSettings(
        initial_equity=backtest.initial_equity,
        entry_latency_ns=backtest.latency_ns,
        response_latency_ns=backtest.latency_ns,
        feed_interval_ns=backtest.feed_interval_ns,
        timer_interval_ns=backtest.timer_interval_ns,
        fees=backtest.fees,
        queue=parse_queue(backtest.queue, instrument),
        timers_from_first_event=True,
        deltas_wait_for_snapshot=True,
    )
    if backtest.stale_data_s is not None:
        stale_ns = round(backtest.stale_data_s * NS_PER_S)
        settings = replace(settings, engine=replace(settings.engine, stale_data_ns=stale_ns))
    return build_sim_run(
        instrument, config, settings, start_ns, keep_notices=False, observe=observe
    )


def realtime_pacer(speed: float, start_ns: int) -> Callable[[int], None]:
    """Pace simulated time at `speed`× wall-clock time."""
    wall0 = perf_ns()

    def pace(sim_ns: int) -> None:
        due = wall0 + int((sim_ns - start_ns) / speed)
        wait_ns(due - perf_ns())

    return pace


def run_demo(
    *,
    duration_s: float,
    speed: float | None,
    seed: int,
    config: StrategyConfig | None = None,
    market: SyntheticParams | None = None,
    settings: SimRunSettings | None = None,
) -> dict[str, Any]:
    """Run the avellaneda strategy on the synthetic market; stop (flatten) at the end.

    `speed` None runs as fast as possible on the simulated clock.
    """
    instrument = default_instrument()
    config = config or StrategyConfig(symbol=instrument.symbol)
    settings = settings or SimRunSettings()
    start = DEMO_START_NS
    pace = realtime_pacer(speed, start) if speed else None
    # the summary comes from run.stats: keeping every event would grow ~17 MB per simulated hour
    run = build_sim_run(instrument, config, settings, start, pace=pace, keep_notices=False)
    source = SyntheticMarket(market or SyntheticParams(), instrument, seed=seed, start_ns=start)
    stream = iter(source)
    run.loop.schedule(StartRequested(ts_ns=start + 1, local_ns=start + 1, reason="demo start"))
    end = start + int(duration_s * NS_PER_S)
    started = perf_ns()
    run.loop.run(stream, until_ns=end)
    if run.engine.mode not in (EngineMode.STOPPED, EngineMode.HALTED):
        now = max(run.clock.now_ns(), end) + 1
        run.loop.schedule(StopRequested(ts_ns=now, local_ns=now, reason="demo end"))
        run.loop.run(
            stream,
            until_ns=now + FLATTEN_GRACE_NS,
            stop_when=lambda: run.engine.mode in (EngineMode.STOPPED, EngineMode.HALTED),
        )
    loop_seconds = (perf_ns() - started) / NS_PER_S
    summary = run.stats.summary(run.engine.mark_ticks())
    events = run.loop.stats.market_events
    summary.update(
        events=events,
        engine_events=run.loop.stats.engine_events,
        loop_seconds=loop_seconds,
        events_per_second=events / loop_seconds if loop_seconds > 0 else 0.0,
        final_mode=run.engine.mode.value,
        sim_seconds=(run.clock.now_ns() - start) / NS_PER_S,
        settings={
            "mode": "demo",
            "symbol": instrument.symbol,
            "duration_s": duration_s,
            "speed": "max" if speed is None else speed,
            "seed": seed,
            "initial_equity": settings.initial_equity,
            "maker_fee": str(settings.fees.maker_rate),
            "taker_fee": str(settings.fees.taker_rate),
            "entry_latency_ms": settings.entry_latency_ns / NS_PER_MS,
            "feed_interval_ms": settings.feed_interval_ns / NS_PER_MS,
            "strategy": config.model_dump(),
        },
    )
    return summary
