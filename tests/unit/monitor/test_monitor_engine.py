"""The monitor fed the way the node feeds it (event, then notices, then commands) from the real
engine on the simulated exchange agrees with the engine's own figures."""

from __future__ import annotations

import pytest

from grvtmm.app import DEMO_START_NS, SimRunSettings
from grvtmm.backtest.loop import LoopSettings, ReplayLoop
from grvtmm.core.clock import NS_PER_S, SimClock
from grvtmm.core.commands import Command
from grvtmm.core.events import EngineMode, Event, StartRequested, StopRequested
from grvtmm.engine.engine import Engine
from grvtmm.monitor.metrics import Monitor, engine_view
from grvtmm.monitor.summary import SessionStats
from grvtmm.strategy.factory import build_strategy
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.sim.exchange import SimExchange
from grvtmm.venues.sim.synthetic import SyntheticMarket, SyntheticParams, default_instrument


class Tap:
    """An engine wrapper that publishes to sinks in the node's order."""

    def __init__(self, engine: Engine, monitor: Monitor) -> None:
        self.engine = engine
        self.monitor = monitor

    @property
    def mode(self) -> EngineMode:
        return self.engine.mode

    def on_event(self, event: Event) -> list[Command]:
        commands = self.engine.on_event(event)
        self.monitor.publish(event)
        return commands

    def take_notices(self) -> list[Event]:
        notices = self.engine.take_notices()
        for notice in notices:
            self.monitor.publish(notice)
        return notices


def _run(duration_s: int) -> tuple[Engine, Monitor, SessionStats, ReplayLoop]:
    instrument = default_instrument()
    config = StrategyConfig(symbol=instrument.symbol)
    settings = SimRunSettings()
    clock = SimClock(DEMO_START_NS)
    engine = Engine(
        instrument=instrument,
        config=config,
        strategy_factory=lambda cfg: build_strategy(cfg, instrument, settings.fees),
        fees=settings.fees,
        start_ns=DEMO_START_NS,
    )
    exchange = SimExchange(
        instrument,
        settings.fees,
        queue=settings.queue,
        entry_latency_ns=settings.entry_latency_ns,
        response_latency_ns=settings.response_latency_ns,
        initial_equity=settings.initial_equity,
        leverage=config.effective_leverage,
    )
    monitor = Monitor(instrument, clock)
    stats = SessionStats(instrument)

    def on_command(command: Command) -> None:
        monitor.publish(command)
        stats.observe_command(command)

    loop = ReplayLoop(
        Tap(engine, monitor),
        exchange,
        clock,
        LoopSettings(feed_interval_ns=settings.feed_interval_ns),
        on_event=stats.observe,
        on_command=on_command,
    )
    market = iter(SyntheticMarket(SyntheticParams(), instrument, seed=7, start_ns=DEMO_START_NS))
    t = DEMO_START_NS + 1
    loop.schedule(StartRequested(ts_ns=t, local_ns=t))
    loop.run(market, until_ns=DEMO_START_NS + duration_s * NS_PER_S)
    return engine, monitor, stats, loop


def test_monitor_agrees_with_the_engine_on_a_simulated_run() -> None:
    engine, monitor, stats, loop = _run(300)
    s = monitor.summary()
    assert monitor.errors == 0, monitor.last_error
    ref = stats.summary(engine.mark_ticks())
    assert s["fills"] == ref["fills"] > 0
    assert s["session_volume"] == pytest.approx(ref["volume_notional"])
    assert s["rebates"] == pytest.approx(ref["rebates"])
    assert s["pnl_total"] == pytest.approx(engine.session_pnl(), abs=1e-9)
    assert s["equity"] == pytest.approx(engine.equity(), abs=1e-9)
    assert s["position_lots"] == engine.position_lots
    assert s["mode"] == engine.mode.value == "running"
    assert s["runtime_s"] == pytest.approx(300.0, abs=1.0)
    assert s["resting_ms"]["count"] > 0
    assert s["place_reasons"]["missing"] > 0
    assert s["funds_source"] == "sim"
    assert s["effective_liquidity_k"] is not None
    monitor.snapshot_provider = lambda: engine_view(engine.snapshot())
    with_view = monitor.summary()
    assert with_view["equity"] == pytest.approx(s["equity"], abs=1e-9)
    assert set(with_view["breakers"]) == set(s["breakers"])
    series = monitor.series.query()
    assert 295 <= len(series["ts_ns"]) <= 301
    assert series["volume"][-1] <= s["session_volume"]

    now = loop.clock.now_ns() + 1
    loop.schedule(StopRequested(ts_ns=now, local_ns=now))
    loop.run(until_ns=now + 120 * NS_PER_S, stop_when=lambda: engine.mode is EngineMode.STOPPED)
    done = monitor.summary()
    assert done["mode"] == "stopped"
    assert done["flatten"]["active"] is False
    assert done["flatten"]["last_done"] is not None
    assert done["position_lots"] == engine.position_lots
    assert done["session"]["end_ns"] is not None
